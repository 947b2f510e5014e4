"""Importing spaCy without PyTorch.

spaCy's thinc imports torch whenever it is installed (it is, with the `[torch]`
and test extras, for the loader): 1.7 s and about 200 MB in every process that
tokenizes words, for a tokenizer that never touches it. `import_spacy` hides
torch while spaCy and thinc load (thinc then records that torch is absent), then
unhides it, so anything that does want torch later still imports it.
"""
from __future__ import annotations

import sys


def import_spacy():
    if "spacy" not in sys.modules and "torch" not in sys.modules:
        sys.modules["torch"] = None   # `import torch` raises ImportError while this is set
        try:
            import spacy
        finally:
            del sys.modules["torch"]
    import spacy
    return spacy
