"""The Megatron MMIDIDX writer against our reader and a byte-level parse."""
import struct

import numpy as np
import pytest

from manifests.shard_format import MAGIC, IndexedShard, encode_index, token_dtype


@pytest.mark.parametrize("dtype", [np.uint16, np.int32])
def test_index_round_trip(tmp_path, dtype):
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 60000, size=n).astype(dtype) for n in (5, 1, 300, 17)]
    prefix = tmp_path / "shard-00000"
    prefix.with_suffix(".bin").write_bytes(b"".join(d.tobytes() for d in docs))
    prefix.with_suffix(".idx").write_bytes(encode_index(np.array([len(d) for d in docs]), np.dtype(dtype)))
    shard = IndexedShard(prefix)
    assert len(shard) == 4 and shard.dtype == np.dtype(dtype)
    for i, d in enumerate(docs):
        np.testing.assert_array_equal(shard[i], d)
    assert list(shard.document_index) == [0, 1, 2, 3, 4]
    assert shard.index_bytes_used == shard.index_bytes_total


def test_index_bytes_follow_megatron_layout():
    raw = encode_index(np.array([3, 2]), np.dtype(np.uint16))
    assert raw[:9] == MAGIC == b"MMIDIDX\x00\x00"
    version, code, seqs, docs = struct.unpack("<QBQQ", raw[9:34])
    assert (version, code, seqs, docs) == (1, 8, 2, 3)          # 8 = uint16 in Megatron's DType
    lengths = np.frombuffer(raw, np.int32, 2, 34)
    pointers = np.frombuffer(raw, np.int64, 2, 42)
    doc_index = np.frombuffer(raw, np.int64, 3, 58)
    assert list(lengths) == [3, 2] and list(pointers) == [0, 6] and list(doc_index) == [0, 1, 2]
    assert len(raw) == 58 + 24
    assert struct.unpack("<B", encode_index(np.array([1]), np.dtype(np.int32))[17:18]) == (4,)


def test_token_dtype_matches_megatron_best_fitting_dtype():
    assert token_dtype(32768) == np.uint16
    assert token_dtype(65499) == np.uint16
    assert token_dtype(65500) == np.int32
    assert token_dtype(100_277) == np.int32


def test_reader_rejects_a_foreign_index(tmp_path):
    (tmp_path / "x.idx").write_bytes(b"NOTANIDX" + bytes(40))
    (tmp_path / "x.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="MMIDIDX"):
        IndexedShard(tmp_path / "x")
