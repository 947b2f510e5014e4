"""GroupByKey for many small records: packed per bundle into partitions, grouped by partition.

Dedup shuffles tens of small records per document (14 LSH band keys, a content
hash, a URL, the MinHash sketch). A plain GroupByKey costs one shuffle element
each and, on the DirectRunner, several Python objects per element held in the
runner's memory (about 1 kB per band key measured here, bench/README.md).
PackedGroupByKey instead buffers the (key, value) records of a bundle by
partition (the key's scope and the first PARTITION_BITS bits of its digest),
encoded as they arrive, emits each partition's records as one blob, groups the blobs by
partition and regroups the records by full key on the other side. The groups
are those of GroupByKey, with values in a fixed order for a given set of
blobs (callers must not depend on it: every dedup rule sorts its group).

Keys are tuples whose last item is a uniformly distributed digest (bytes), so
2**16 partitions per scope spread evenly: at 10 billion documents a band
partition holds about 2 million records (tens of MB), and at the sample's size
a partition holds one. Groups smaller than `min_size` are dropped where they
are regrouped: a group of one has no duplicate, and most groups are singletons.
"""
from __future__ import annotations

import io
import itertools
import pickle
from collections import defaultdict

import apache_beam as beam

from pipeline.transforms.common import Counters, in_global_window

PARTITION_BITS = 16
# Bytes a bundle buffers before it flushes early: bounds a worker's buffer while keeping
# blobs large (about 1 kB a partition at 2**16 partitions), since each shuffle element
# costs a few hundred bytes of its own on the DirectRunner.
FLUSH_BYTES = 64 << 20


def partition_of(key: tuple) -> tuple:
    """(*scope, the digest's first PARTITION_BITS bits) of a (*scope, digest) key."""
    *scope, digest = key
    return (*scope, int.from_bytes(digest[:4], "big") >> (32 - PARTITION_BITS))


def encode_record(digest: bytes, value) -> bytes:
    """One record: the digest's length and bytes, then the value. A bytes value under 128
    bytes is stored raw after its length; anything else is pickled on its own (protocol 3,
    which starts with 0x80; no memo), NamedTuples as plain tuples, without their class path."""
    head = bytes((len(digest),)) + digest
    if type(value) is bytes and len(value) < 0x80:
        return head + bytes((len(value),)) + value
    buffer = io.BytesIO(head)
    buffer.seek(len(head))
    pickler = pickle.Pickler(buffer, protocol=3)
    pickler.fast = True
    pickler.dump(tuple(value) if isinstance(value, tuple) else value)
    return buffer.getvalue()


def decode_records(blob: bytes, value_type=None):
    """The (digest, value) records of a blob, in order; tuple values become `value_type`."""
    buffer, end = io.BytesIO(blob), len(blob)
    while buffer.tell() < end:
        digest = buffer.read(buffer.read(1)[0])
        first = buffer.read(1)[0]
        if first < 0x80:
            yield digest, buffer.read(first)
            continue
        buffer.seek(-1, io.SEEK_CUR)
        value = pickle.load(buffer)
        yield digest, value_type._make(value) if value_type and isinstance(value, tuple) else value


class PackPartitions(beam.DoFn):
    """((*scope, digest), value) -> (partition, its records encoded back to back) per bundle.
    Records are encoded as they arrive: a band record buffers as 18 bytes, not 120 of objects."""

    def __init__(self, counter: str):
        super().__init__()
        self.counter = counter

    def setup(self):
        self.counters = Counters()

    def start_bundle(self):
        self.buffer, self.size = defaultdict(bytearray), 0

    def process(self, element):
        key, value = element
        record = encode_record(key[-1], value)
        self.buffer[partition_of(key)] += record
        self.size += len(record)
        if self.size >= FLUSH_BYTES:
            yield from self.flush()

    def finish_bundle(self):
        for partition, blob in self.flush():
            yield in_global_window((partition, blob))

    def flush(self):
        self.counters.inc(self.counter, self.size)
        for partition in sorted(self.buffer):
            yield partition, bytes(self.buffer[partition])
        self.buffer, self.size = defaultdict(bytearray), 0


def unpack_groups(partition_blobs, min_size: int = 1, value_type=None):
    """(partition, blobs) -> ((*scope, digest), [values]) for each key with at least min_size values."""
    partition, blobs = partition_blobs
    records = [record for blob in blobs for record in decode_records(blob, value_type)]
    records.sort(key=lambda r: r[0])
    scope = partition[:-1]
    for digest, group in itertools.groupby(records, key=lambda r: r[0]):
        values = [value for _, value in group]
        if len(values) >= min_size:
            yield (*scope, digest), values


class PackedGroupByKey(beam.PTransform):
    """GroupByKey for ((*scope, digest), small value) records; `counter` counts the packed
    bytes. Tuple values come out as `value_type` (a NamedTuple class) when given.

    Given several PCollections, it groups them together (a join), packing each where it is
    made: flattening first would leave one input's records unpacked in the runner's buffer
    until the other input is ready."""

    def __init__(self, counter: str, min_size: int = 1, value_type=None):
        super().__init__()
        self.counter, self.min_size, self.value_type = counter, min_size, value_type

    def expand(self, records):
        inputs = records if isinstance(records, (tuple, list)) else (records,)
        packed = [pcoll | f"PackPartitions{i or ''}" >> beam.ParDo(PackPartitions(self.counter))
                  for i, pcoll in enumerate(inputs)]
        if len(packed) > 1:
            packed = [packed | "FlattenPacked" >> beam.Flatten()]
        return (packed[0]
                | "GroupPartitions" >> beam.GroupByKey()
                | "UnpackGroups" >> beam.FlatMap(unpack_groups, self.min_size, self.value_type))
