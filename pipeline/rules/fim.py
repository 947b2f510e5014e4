"""Fill-in-the-middle for code documents (pure): which documents, where to cut, which order.

As in StarCoder and Code Llama training: a fraction `rate` of the code documents
is cut at two character positions into prefix, middle and suffix and encoded as

    PSM: <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> middle
    SPM: <|fim_prefix|> <|fim_suffix|> suffix <|fim_middle|> prefix middle

(SPM in the Code Llama form, a `spm_rate` share of the transformed documents),
then EOS as for every document. Each choice is a hash of (seed, document id), so
the same recipe gives the same tokens on any runner and in every pass over the
documents; an epoch copy repeats its document's transform.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

from manifests.splits import uniform_hash


@dataclass(frozen=True)
class FimSpec:
    rate: float = 0.0        # share of code documents transformed; 0 turns FIM off
    spm_rate: float = 0.0    # share of the transformed ones in SPM order, the rest PSM


class FimCut(NamedTuple):
    mode: str        # "psm" or "spm"
    prefix: str
    middle: str
    suffix: str


def fim_cut(seed: int, doc_id: str, text: str, spec: FimSpec) -> FimCut | None:
    """The document's cut, or None when it is left whole."""
    if spec.rate <= 0 or uniform_hash(seed, doc_id, "fim") >= spec.rate:
        return None
    a, b = sorted(int(uniform_hash(seed, doc_id, f"fim-cut{i}") * (len(text) + 1)) for i in (0, 1))
    mode = "spm" if uniform_hash(seed, doc_id, "fim-mode") < spec.spm_rate else "psm"
    return FimCut(mode, text[:a], text[a:b], text[b:])


def fim_ids(cut: FimCut, encode: Callable[[str], list[int]], prefix_id: int, middle_id: int,
            suffix_id: int) -> list[int]:
    if cut.mode == "spm":
        return [prefix_id, suffix_id, *encode(cut.suffix), middle_id, *encode(cut.prefix), *encode(cut.middle)]
    return [prefix_id, *encode(cut.prefix), suffix_id, *encode(cut.suffix), middle_id, *encode(cut.middle)]
