"""PackedGroupByKey gives GroupByKey's groups, whatever the bundles and flushes."""
import hashlib
import random

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.rules.minhash import NearCandidate
from pipeline.transforms import packed
from pipeline.transforms.packed import PackedGroupByKey, decode_records, encode_record, partition_of


def records(n: int, seed: int = 0) -> list:
    """Keys with one to five values, some sharing a digest across two scopes."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        digest = hashlib.blake2b(str(i).encode(), digest_size=8).digest()
        for scope in (("text",), ("code", "vendor"))[: 1 + i % 2]:
            for j in range(1 + rng.randrange(5)):
                out.append(((*scope, digest), (i, f"doc-{i}-{j}", rng.randbytes(3))))
    rng.shuffle(out)
    return out


def grouped(data, min_size):
    groups = {}
    for key, value in data:
        groups.setdefault(key, []).append(value)
    return sorted((k, sorted(v)) for k, v in groups.items() if len(v) >= min_size)


def test_record_codec_round_trips_values_of_any_kind():
    values = [b"\x00" * 8, b"\x80" * 127, b"x" * 128, b"", 7, "ü" * 300, NearCandidate(10, "a@1", "web", bytes(112))]
    blob = b"".join(encode_record(bytes([i]) * (8 + i), v) for i, v in enumerate(values))
    decoded = list(decode_records(blob, NearCandidate))
    assert decoded == [(bytes([i]) * (8 + i), v) for i, v in enumerate(values)]
    assert type(decoded[-1][1]) is NearCandidate
    assert len(encode_record(bytes(8), bytes(8))) == 18, "a band record: two lengths and two digests"


def test_partitions_follow_the_digest_and_keep_the_scope():
    assert partition_of(("text", b"\xff\xff" + bytes(6))) == ("text", 2 ** packed.PARTITION_BITS - 1)
    assert partition_of((b"\x00\x01" + bytes(6),)) == (1 >> (16 - packed.PARTITION_BITS),)


@pytest.mark.parametrize("flush_bytes", [packed.FLUSH_BYTES, 200])
def test_same_groups_as_group_by_key(monkeypatch, flush_bytes):
    monkeypatch.setattr(packed, "FLUSH_BYTES", flush_bytes)   # 200: flushes every few records
    data = records(300)
    for min_size in (1, 2):
        with BeamTestPipeline() as p:
            out = (p | beam.Create(data) | PackedGroupByKey("test/bytes", min_size)
                   | beam.MapTuple(lambda k, v: (k, sorted(v))))
            assert_that(out, equal_to(grouped(data, min_size)))
        with BeamTestPipeline() as p:   # two inputs, grouped together
            halves = p | "A" >> beam.Create(data[::2]), p | "B" >> beam.Create(data[1::2])
            out = (halves | PackedGroupByKey("test/bytes", min_size)
                   | beam.MapTuple(lambda k, v: (k, sorted(v))))
            assert_that(out, equal_to(grouped(data, min_size)))
