"""TokenizeParts: the corpus job encodes each document once, not once per pass.

The corpus job reads the clean parts twice after the tokenizer exists: to count the
stream (the shard and phase plans need every document's length) and to write the
shards. Both passes used to encode every document; the second encoding was 9% of a
400 MB build's CPU (bench/README.md). Now the counting pass writes, beside each part
it reads, a token file with every document's ids in the order the part yields them,
and the writing pass reads the part and its token file together. The text still
streams through each pass as before: only the small plan elements wait for the
side inputs, and no pass holds more than one part's tokens.

A token file (`<folder>/<key>.tok`): the documents' ids (EOS included) back to back
in the tokenizer's dtype, then a JSON trailer (dtype, the documents' ids and token
counts), its length (8 bytes, little-endian) and the magic `CMTOK001`. Its name is a
digest of everything that decides the tokens: the part, its plan element (drops,
boilerplate edits), the tokenizer, the FIM settings and the seed. It is written under
a temporary name and renamed once complete, so a retried bundle rewrites the same
bytes and a reader never sees half a file. A pass that finds no file, or a file whose
ids do not follow the part's documents, encodes (counted as
`tokenize/encoded_again`): the tokens are the same either way.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from typing import NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from pipeline.rules.epochs import StreamLayout
from pipeline.rules.fim import FimSpec
from pipeline.transforms import faults
from pipeline.transforms.materialize import ReadPartWithout
from pipeline.transforms.tokenize import QUALITY, EncodeDocuments, MergeQuality

MAGIC = b"CMTOK001"
DOCUMENTS = "documents"


def token_file(folder: str, element, tokenizer_sha: str, fim: FimSpec, seed: int) -> str:
    """The token file of one plan element (ReadPartWithout's input) under this tokenizer."""
    _, grouped = element
    decided = json.dumps({"part": sorted(grouped["part"]), "drops": sorted(map(repr, grouped["drops"])),
                          "unit": list(grouped.get("unit") or []), "tokenizer": tokenizer_sha,
                          "fim": repr(fim), "seed": seed}, sort_keys=True)
    return f"{folder}/{hashlib.sha256(decided.encode('utf-8')).hexdigest()[:32]}.tok"


class TokenFileWriter:
    """Writes one token file, document by document; `commit` renames it into place."""

    def __init__(self, path: str, dtype: np.dtype):
        self.path, self.dtype = path, np.dtype(dtype)
        self.temp = f"{path}.{uuid.uuid4().hex}.tmp"
        self.file = FileSystems.create(self.temp)
        self.ids, self.lengths = [], []

    def add(self, doc_id: str, tokens: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes())
        self.ids.append(doc_id)
        self.lengths.append(len(tokens))

    def commit(self) -> None:
        trailer = json.dumps({"dtype": self.dtype.name, "ids": self.ids, "lengths": self.lengths}).encode("utf-8")
        self.file.write(trailer + len(trailer).to_bytes(8, "little") + MAGIC)
        self.file.close()
        FileSystems.rename([self.temp], [self.path])

    def abandon(self) -> None:
        self.file.close()
        FileSystems.delete([self.temp])


class TokenFile(NamedTuple):
    ids: list[str]
    offsets: np.ndarray   # len(ids) + 1 offsets into tokens
    tokens: np.ndarray

    def tokens_of(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]:self.offsets[i + 1]].copy()


def read_token_file(path: str, dtype: np.dtype) -> TokenFile | None:
    """The file's documents, or None where it is missing, incomplete or of another dtype."""
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        data = f.read()
    if len(data) < 16 or data[-8:] != MAGIC:
        return None
    size = int.from_bytes(data[-16:-8], "little")
    body = len(data) - 16 - size
    if body < 0:
        return None
    try:
        trailer = json.loads(data[body:len(data) - 16])
    except ValueError:
        return None
    if trailer["dtype"] != np.dtype(dtype).name or len(trailer["ids"]) != len(trailer["lengths"]):
        return None
    offsets = np.concatenate(([0], np.cumsum(trailer["lengths"], dtype=np.int64)))
    if offsets[-1] * np.dtype(dtype).itemsize != body:
        return None
    return TokenFile(trailer["ids"], offsets, np.frombuffer(data, dtype=dtype, count=int(offsets[-1])))


class EncodeParts(beam.DoFn):
    """Plan element -> its documents' TokenizedDocs (main), the Documents themselves (the
    DOCUMENTS output, for the passes that read the text) and the tokenizer's figures
    (QUALITY); writes the part's token file."""

    def __init__(self, layout: StreamLayout, fim: FimSpec, folder: str, methods: tuple[str, ...]):
        super().__init__()
        self.layout, self.fim, self.folder = layout, fim, folder
        self.encoder, self.reader = EncodeDocuments(layout, fim), ReadPartWithout(methods)

    def setup(self):
        self.encoder.setup()

    def start_bundle(self):
        self.encoder.start_bundle()

    def process(self, element, info):
        writer = TokenFileWriter(token_file(self.folder, element, info.sha256, self.fim, self.layout.seed),
                                 info.dtype)
        complete = False
        try:
            for doc in self.reader.process(element):
                for tokenized in self.encoder.process(doc, info):
                    writer.add(tokenized.id, tokenized.tokens)
                    yield tokenized
                yield beam.pvalue.TaggedOutput(DOCUMENTS, doc)
            complete = True
        finally:   # a failure, or a consumer that stopped early: no file rather than half of one
            writer.commit() if complete else writer.abandon()

    def finish_bundle(self):
        yield from self.encoder.finish_bundle()


class ReuseTokens(beam.DoFn):
    """Plan element -> its documents' TokenizedDocs, the tokens from the part's token file
    (encoded again where the file does not follow the part: the same tokens)."""

    def __init__(self, layout: StreamLayout, fim: FimSpec, folder: str, methods: tuple[str, ...], rows: bool):
        super().__init__()
        self.layout, self.fim, self.folder = layout, fim, folder
        self.encoder = EncodeDocuments(layout, fim, measure=False, rows=rows)
        self.reader = ReadPartWithout(methods)

    def setup(self):
        self.encoder.setup()

    def process(self, element, info):
        stored = read_token_file(token_file(self.folder, element, info.sha256, self.fim, self.layout.seed),
                                 info.dtype)
        for i, doc in enumerate(self.reader.process(element)):
            if stored is not None and i < len(stored.ids) and stored.ids[i] == doc.id:
                yield self.encoder.tokenized(doc, stored.tokens_of(i), info)
            else:
                self.encoder.counters.inc("tokenize/encoded_again")
                yield from self.encoder.process(doc, info)


class PartsTokenized(NamedTuple):
    docs: beam.PCollection        # TokenizedDoc
    quality: beam.PCollection     # one MergeQuality dict
    documents: beam.PCollection   # the Documents read


class TokenizeParts(beam.PTransform):
    """Plan elements -> every document read and encoded once, its tokens kept in `folder`
    for ReadTokenizedParts."""

    def __init__(self, tokenizer: beam.PCollection, layout: StreamLayout, fim: FimSpec, folder: str,
                 groups: tuple[str, ...] = ()):
        super().__init__()
        self.tokenizer, self.layout, self.fim, self.folder, self.groups = tokenizer, layout, fim, folder, groups

    def expand(self, plan):
        out = plan | "ReadAndEncodeParts" >> beam.ParDo(
            EncodeParts(self.layout, self.fim, self.folder, self.groups),
            info=beam.pvalue.AsSingleton(self.tokenizer)).with_outputs(QUALITY, DOCUMENTS, main="docs")
        quality = out[QUALITY] | "MergeQuality" >> beam.CombineGlobally(MergeQuality())
        return PartsTokenized(faults.after(out.docs, "WriteTokenFiles", key=lambda tokenized: tokenized.id),
                              quality, out[DOCUMENTS])


class ReadTokenizedParts(beam.PTransform):
    """Plan elements -> TokenizedDocs from the parts and TokenizeParts' token files, read
    once `after` exists (the shard plans: read earlier, they would wait in the runner)."""

    def __init__(self, tokenizer: beam.PCollection, layout: StreamLayout, fim: FimSpec, folder: str,
                 after: beam.PCollection, groups: tuple[str, ...] = (), rows: bool = False):
        super().__init__()
        self.tokenizer, self.layout, self.fim, self.folder = tokenizer, layout, fim, folder
        self.after, self.groups, self.rows = after, groups, rows

    def expand(self, plan):
        return (plan
                | "WaitForSideInput" >> beam.Map(lambda part, _: part, beam.pvalue.AsSingleton(self.after))
                | "ReadPartsWithTokens" >> beam.ParDo(
                    ReuseTokens(self.layout, self.fim, self.folder, self.groups, self.rows),
                    info=beam.pvalue.AsSingleton(self.tokenizer)))
