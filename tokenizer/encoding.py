"""Fast encoders with HF's ids for a trained HF byte-level BPE tokenizer.json.

HF tokenizers encodes about 10x slower per core than tiktoken on the same BPE, so
the build encodes with one of two exact encoders (`ordinary_encoder`):

- fastokens (Rust; reads the tokenizer.json itself), where its wheel exists (x86-64,
  macOS): on bench.versus's 49 MB of code and reST, 0.46 CPU-s for its lists of ids
  and 0.30 for its flat buffer (`array_encoder`), against tiktoken's 2.39;
- else a tiktoken `Encoding` built from the tokenizer.json (`tiktoken_encoding`).
  Its ids equal HF's when (a) all 256 bytes are in the vocabulary, (b) ids of merged
  tokens follow merge order, (c) tiktoken's pattern is exactly the pre-tokenizer's
  regex and (d) there is no normalizer; this module checks (a), (c) and (d) and
  refuses tokenizers that break them.

Either way a build's tokens are the same: the test suite compares both encoders'
ids against HF on real documents.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import numpy as np

ENCODERS = ("fastokens", "tiktoken")


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte <-> printable-character table used by HF's ByteLevel."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, chars)))


class IncompatibleTokenizer(ValueError):
    """The tokenizer.json cannot be reproduced exactly by tiktoken."""


def split_pattern(spec: dict) -> str:
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    splits = [s for s in steps if s.get("type") == "Split"]
    levels = [s for s in steps if s.get("type") == "ByteLevel"]
    if len(splits) != 1 or len(levels) != 1 or levels[0].get("use_regex") or levels[0].get("add_prefix_space"):
        raise IncompatibleTokenizer("pre-tokenizer must be Split(regex) then ByteLevel(use_regex=False)")
    return splits[0]["pattern"]["Regex"]


def tiktoken_encoding(tokenizer_json: str, name: str = "corpusmill"):
    import tiktoken
    spec = json.loads(tokenizer_json)
    model = spec["model"]
    if model.get("type") != "BPE" or spec.get("normalizer"):
        raise IncompatibleTokenizer("need a byte-level BPE model with no normalizer")
    decode = {c: b for b, c in bytes_to_unicode().items()}
    ranks = {bytes(decode[c] for c in token): rank for token, rank in model["vocab"].items()}
    if any(bytes([b]) not in ranks for b in range(256)):
        raise IncompatibleTokenizer("not all 256 bytes are in the vocabulary")
    specials = {t["content"]: t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
    return tiktoken.Encoding(name, pat_str=split_pattern(spec), mergeable_ranks=ranks,
                             special_tokens=specials)


def ordinary_encoder(tokenizer_json: str, engine: str | None = None) -> Callable[[str], list[int]]:
    """text -> its ids, special-token text encoded as ordinary text (tiktoken's
    `encode_ordinary`); `engine`: one of ENCODERS, else the first installed. The tokenizer
    must be one tiktoken reproduces (checked either way, so no encoder takes what the
    other refuses)."""
    if _engine(engine) == "tiktoken":
        return tiktoken_encoding(tokenizer_json).encode_ordinary
    fast = _fastokens(tokenizer_json)
    return lambda text: fast.encode_ordinary(text).ids


def array_encoder(tokenizer_json: str, engine: str | None = None) -> Callable[[str], "np.ndarray"]:
    """`ordinary_encoder`'s ids as a uint32 array: fastokens hands them over as one buffer,
    with no Python int per token (its `split_special_tokens` is the ordinary encoding:
    special tokens' text is split as text)."""
    import numpy as np
    if _engine(engine) == "tiktoken":
        encode = tiktoken_encoding(tokenizer_json).encode_ordinary
        return lambda text: np.asarray(encode(text), dtype=np.uint32)
    fast = _fastokens(tokenizer_json)
    return lambda text: np.frombuffer(fast.encode_batch_flat([text], split_special_tokens=True)[0], dtype=np.uint32)


def _fastokens(tokenizer_json: str):
    """fastokens' tokenizer, for a tokenizer tiktoken also reproduces (checked here too)."""
    tiktoken_encoding(tokenizer_json)
    import fastokens
    return fastokens.Tokenizer.from_json_str(tokenizer_json)


def _engine(engine: str | None) -> str:
    if engine is None:
        try:
            import fastokens  # noqa: F401
            return "fastokens"
        except ImportError:
            return "tiktoken"
    if engine not in ENCODERS:
        raise ValueError(f"unknown encoder {engine!r}; known: {list(ENCODERS)}")
    return engine


def vocab_size(tokenizer_json: str) -> int:
    spec = json.loads(tokenizer_json)
    ids = list(spec["model"]["vocab"].values()) + [t["id"] for t in spec.get("added_tokens", [])]
    return max(ids) + 1


def added_token_ids(tokenizer_json: str) -> dict[str, int]:
    """Every added token's content -> id."""
    return {t["content"]: t["id"] for t in json.loads(tokenizer_json).get("added_tokens", [])}


def special_token_id(tokenizer_json: str, token: str) -> int:
    ids = added_token_ids(tokenizer_json)
    if token not in ids:
        raise KeyError(f"special token {token!r} is not in the tokenizer")
    return ids[token]
