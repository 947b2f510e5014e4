"""The split rule: which documents a corpus holds out for validation, and its hash.

A document is held out by a hash of its id alone, so a verifier recomputes the
split from the lineage maps with nothing but this module, and builds with
different seeds (a different stream order) hold out the same documents.
`uniform_hash` is also the pipeline's source of every other per-document draw
(epoch positions, samples, FIM cuts), with its own salt each.
"""
from __future__ import annotations

import hashlib

TRAIN, VALIDATION = "train", "validation"
SPLITS = (TRAIN, VALIDATION)


def uniform_hash(seed: int, doc_id: str, salt: str) -> float:
    """A uniform float in [0, 1) from (seed, doc_id, salt); 53 bits, exact in a double."""
    digest = hashlib.blake2b(f"{seed}\x1f{doc_id}\x1f{salt}".encode("utf-8"), digest_size=8).digest()
    return (int.from_bytes(digest, "little") >> 11) / float(1 << 53)


def in_validation(doc_id: str, fraction: float) -> bool:
    """Whether a document is held out for validation: a hash of its id alone, as TFDS's C4
    splits by a hash of the URL. The recipe seed is left out on purpose, so builds with
    different seeds (a different stream order) keep the same validation documents and
    their losses stay comparable."""
    return fraction > 0 and uniform_hash(0, doc_id, VALIDATION) < fraction
