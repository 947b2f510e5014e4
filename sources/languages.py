"""One language-code system: ISO 639-1 where the language has a two-letter code.

Common Crawl's WET records name languages in ISO 639-3 (`spa`, from CLD2 by way
of CC's conversion), CLD2 in CC's WARC metadata and fastText's lid.176 in ISO
639-1 (`es`); side by side they made two rows of one language in the manifest's
language table. Every code a reader takes from its input goes through
`iso639_1`: a two- or three-letter code (ISO 639-1, 639-2/B or 639-3, or a
BCP 47 tag such as `zh-Hant`) becomes the ISO 639-1 code CLDR's language aliases
give it (babel's copy of CLDR, installed with the pipeline), else stays as it is,
lower-cased (languages without a two-letter code keep their three letters).
"""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    from babel.core import get_global
    return {k: v for k, v in get_global("language_aliases").items() if len(k) == 3 and len(v) == 2}


def iso639_1(code: str) -> str:
    """`spa` -> `es`, `ES` -> `es`, `zh-Hant` -> `zh`, `ceb` -> `ceb`, `` -> ``."""
    base = code.strip().replace("_", "-").split("-")[0].lower()
    return _aliases().get(base, base) if len(base) == 3 else base
