"""TrainTokenizer and Tokenize.

TrainTokenizer takes a bottom-k sample of the clean, deduplicated training
documents (the k smallest weighted keys of (seed, id), weights the source's
epochs: the same sample on any runner, unlike a reservoir, whose contents depend
on arrival order, and mixed as the stream is; the validation split is never in
it), trains a byte-level BPE on it, saves
tokenizer.json in the output, and hands the tokenizer on as a side input.
A recipe may name an existing tokenizer.json instead.

Tokenize encodes with the fastest exact encoder installed (tokenizer/encoding.py: ids equal
to HF tokenizers', about 50x faster with fastokens, 7x with tiktoken) and appends EOS to every document. It also measures
the tokenizer: bytes per token on the documents left out of its training sample
(all of them for a given tokenizer; validation documents always), per kind, and the share of the vocabulary
the corpus uses.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from manifests.documents import document_row
from manifests.shard_format import token_dtype
from pipeline.recipe import TokenizerSpec
from manifests.splits import TRAIN
from pipeline.rules.epochs import StreamLayout, cluster_size
from pipeline.rules.stats import document_language
from pipeline.rules.fim import FimSpec, fim_cut, fim_ids
from pipeline.transforms import faults
from pipeline.transforms.common import Counters, in_global_window
from tokenizer.bpe import EOS, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, SPECIAL_TOKENS, train_bpe, transformers_files
from tokenizer.encoding import (added_token_ids, array_encoder, ordinary_encoder, special_token_id, tiktoken_encoding,
                                vocab_size)

TOKENIZER_FILE = "tokenizer.json"
QUALITY = "quality"


class TokenizedDoc(NamedTuple):
    id: str
    source: str
    kind: str
    tokens: np.ndarray   # ends with EOS
    url: str = ""        # or the path, for code
    language: str = "und"
    bytes: int = 0       # of the UTF-8 text
    row: dict | None = None   # its documents-dataset row (manifests/documents.py), when asked for
    cluster: int = 1     # its duplicate cluster (rules/epochs.cluster_size), when its dedup groups were read
    repository: bool = False   # a repository-level document (rules/repos.py), not a file the build read


@dataclass(frozen=True)
class TokenizerInfo:
    """The corpus's tokenizer as the stages after TrainTokenizer see it (one side input):
    the json to build the encoding from, and what the shards and the manifest record."""
    json: str
    sha256: str
    vocab_size: int
    eos_id: int
    special_ids: Mapping[str, int]   # the project's special tokens present, and their ids
    dtype: str                       # the shards' token dtype (manifests/shard_format.token_dtype)
    held_out_above: float = -1.0     # sample keys above this were not trained on (-1: all held out)
    path: str = TOKENIZER_FILE       # in the output
    files: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)   # the transformers files: bytes, sha256

    @classmethod
    def of(cls, tokenizer_json: str, held_out_above: float = -1.0) -> "TokenizerInfo":
        vocab = vocab_size(tokenizer_json)
        return cls(json=tokenizer_json, sha256=hashlib.sha256(tokenizer_json.encode("utf-8")).hexdigest(),
                   vocab_size=vocab, eos_id=special_token_id(tokenizer_json, EOS),
                   special_ids={t: i for t, i in added_token_ids(tokenizer_json).items() if t in SPECIAL_TOKENS},
                   dtype=token_dtype(vocab).name, held_out_above=held_out_above)

    def manifest_record(self) -> dict:
        """The manifest's `tokenizer` section, less the quality figures."""
        return {"path": self.path, "sha256": self.sha256, "vocab_size": self.vocab_size, "eos_id": self.eos_id,
                "dtype": self.dtype, "special_tokens": dict(self.special_ids),
                "files": {name: dict(record) for name, record in sorted(self.files.items())}}


def save_tokenizer(trained: tuple[str, float], output: str) -> TokenizerInfo:
    """tokenizer.json, and the two files `transformers` loads with it. `trained` is the
    json and the sample key above which documents were held out of training."""
    tokenizer_json, held_out_above = trained
    beside = {name: text.encode("utf-8") for name, text in transformers_files(tokenizer_json).items()}
    for name, data in {TOKENIZER_FILE: tokenizer_json.encode("utf-8"), **beside}.items():
        with FileSystems.create(f"{output}/{name}") as f:
            f.write(data)
    hashed = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in beside.items()}
    return dataclasses.replace(TokenizerInfo.of(tokenizer_json, held_out_above), files=hashed)


def train_on_sample(sample: list, spec: TokenizerSpec) -> tuple[str, float]:
    """(tokenizer.json, the largest sample key when the sample is full, else infinity:
    every document was trained on and none is held out)."""
    ranked = sorted(sample)
    cutoff = ranked[-1][0] if len(ranked) >= spec.sample_docs else math.inf
    return train_bpe([text for _, _, text in ranked], spec.vocab_size, spec.min_frequency), cutoff


class TrainTokenizer(beam.PTransform):
    """Trains the BPE on a sample of the deduplicated training documents drawn with weights
    by source epochs (rules/epochs.sample_key), or loads the recipe's tokenizer.json."""

    def __init__(self, spec: TokenizerSpec, layout: StreamLayout, output: str):
        super().__init__()
        self.spec, self.layout, self.output = spec, layout, output

    def expand(self, docs):
        spec, layout, output = self.spec, self.layout, self.output
        if spec.path:
            with FileSystems.open(spec.path) as f:
                given = f.read().decode("utf-8")
            tiktoken_encoding(given)  # refuse an incompatible tokenizer now, not on the workers
            added = added_token_ids(given)
            missing = [t for t in (FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX) if spec.fim.rate and t not in added]
            if missing:
                raise ValueError(f"tokenizer.fim needs {missing} in {spec.path}")
            trained = docs.pipeline | "LoadTokenizer" >> beam.Create([(given, -1.0)])   # all held out
        else:
            trained = (docs
                       | "DropValidation" >> beam.Filter(lambda d: layout.split(d.id, d.source) == TRAIN)
                       | "KeyBySampleWeight" >> beam.Map(
                           lambda d: (layout.sample_key(d.id, d.source), d.id, d.text))
                       | "SampleDocuments" >> beam.combiners.Top.Smallest(spec.sample_docs)
                       | "TrainBpe" >> beam.Map(train_on_sample, spec))
        return faults.after(trained | "SaveTokenizer" >> beam.Map(save_tokenizer, output), "SaveTokenizer")


class EncodeDocuments(beam.DoFn):
    """Document -> TokenizedDoc (ids, then EOS); on the QUALITY output, once per bundle, the
    held-out documents' bytes and tokens per kind and the token ids used (packed bits)."""

    def __init__(self, layout: StreamLayout, fim: FimSpec = FimSpec(), measure: bool = True, rows: bool = False):
        super().__init__()
        self.layout, self.fim, self.measure, self.rows = layout, fim, measure, rows

    def setup(self):
        self._sha, self._encode, self._encode_array = None, None, None
        self.counters = Counters()

    def encode(self, doc, info: TokenizerInfo) -> tuple[np.ndarray, bool]:
        """The document's ids then EOS, in the shards' dtype, and whether they are
        fill-in-the-middle (for a code document FIM picks) rather than the plain encoding."""
        if info.sha256 != self._sha:   # build the encoder once per worker (FIM's, for lists, when first met)
            self._encode, self._encode_array, self._sha = None, array_encoder(info.json), info.sha256
        cut = fim_cut(self.layout.seed, doc.id, doc.text, self.fim) if doc.kind == "code" else None
        if cut is None:
            ids = self._encode_array(doc.text)
            tokens = np.empty(len(ids) + 1, dtype=info.dtype)
            tokens[:-1], tokens[-1] = ids, info.eos_id
            return tokens, False
        if self.measure:
            self.counters.inc(f"tokenize/fim_{cut.mode}")
        specials = info.special_ids
        if self._encode is None:
            self._encode = ordinary_encoder(info.json)
        ids = fim_ids(cut, self._encode, specials[FIM_PREFIX], specials[FIM_MIDDLE], specials[FIM_SUFFIX])
        return np.asarray(ids + [info.eos_id], dtype=info.dtype), True

    def start_bundle(self):
        self.held_out, self.used = {}, None

    def process(self, doc, info: TokenizerInfo):
        tokens, fim = self.encode(doc, info)
        yield self.tokenized(doc, tokens, info, fim)

    def tokenized(self, doc, tokens: np.ndarray, info: TokenizerInfo, fim: bool = False) -> TokenizedDoc:
        """The document with its tokens (EOS included), counted, and tallied when measuring."""
        n_bytes = len(doc.text.encode("utf-8"))
        repository = bool(doc.meta.get("repo_document"))   # made by the build, not read: counted apart
        self.counters.inc("tokenize/repo_documents" if repository else "tokenize/documents")
        self.counters.inc("tokenize/repo_tokens" if repository else "tokenize/tokens", len(tokens))
        if self.measure and not repository:   # the tokenizer's figures: documents read
            self.tally(doc, tokens, n_bytes, fim, info)
        row = document_row(doc.id, doc.text, doc.source, doc.kind, doc.url, doc.meta, len(tokens), 0) \
            if self.rows else None
        return TokenizedDoc(doc.id, doc.source, doc.kind, tokens, doc.url, document_language(doc), n_bytes, row,
                           cluster_size(doc.meta.get("dedup")), repository)

    def tally(self, doc, tokens: np.ndarray, n_bytes: int, fim: bool, info: TokenizerInfo) -> None:
        """Marks the ids used; counts bytes and tokens (EOS aside) of a held-out, plainly
        encoded document."""
        if self.used is None:
            self.used = np.zeros(info.vocab_size, dtype=bool)
        self.used[tokens[:-1]] = True
        if not fim and self.layout.held_out(doc.id, doc.source, info.held_out_above):
            row = self.held_out.setdefault(doc.kind, [0, 0, 0])
            row[0], row[1], row[2] = row[0] + 1, row[1] + n_bytes, row[2] + len(tokens) - 1

    def finish_bundle(self):
        if self.used is not None:
            partial = {"held_out": self.held_out, "used": np.packbits(self.used).tobytes()}
            yield beam.pvalue.TaggedOutput(QUALITY, in_global_window(partial))


class MergeQuality(beam.CombineFn):
    """Per-bundle figures -> bytes per token per kind on held-out documents, and how many
    token ids the corpus uses; accumulators stay one vocabulary's bits in size."""

    def create_accumulator(self):
        return {"held_out": {}, "used": None}

    def add_input(self, acc, partial):
        for kind, row in partial["held_out"].items():
            acc["held_out"][kind] = [a + b for a, b in zip(acc["held_out"].get(kind, [0, 0, 0]), row)]
        bits = np.frombuffer(partial["used"], dtype=np.uint8)
        acc["used"] = bits.copy() if acc["used"] is None else acc["used"] | bits
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for acc in accs:
            if acc["used"] is not None:
                self.add_input(out, {"held_out": acc["held_out"], "used": acc["used"].tobytes()})
        return out

    def extract_output(self, acc):
        return {"held_out": {kind: {"documents": d, "bytes": b, "tokens": t,
                                    "bytes_per_token": round(b / t, 4) if t else None}
                             for kind, (d, b, t) in sorted(acc["held_out"].items())},
                "tokens_used": int(np.unpackbits(acc["used"]).sum()) if acc["used"] is not None else 0}


class TokenizeOutput(NamedTuple):
    docs: beam.PCollection      # TokenizedDoc
    quality: beam.PCollection   # one MergeQuality dict


class Tokenize(beam.PTransform):
    """Documents -> TokenizedDocs, and the tokenizer's quality figures (`measure=False`
    skips them, and the FIM counters, for a second pass over the same documents;
    `rows=True` attaches each document's documents-dataset row)."""

    def __init__(self, tokenizer: beam.PCollection, layout: StreamLayout = StreamLayout(0, {}),
                 fim: FimSpec = FimSpec(), measure: bool = True, rows: bool = False):
        super().__init__()
        self.tokenizer, self.layout, self.fim, self.measure = tokenizer, layout, fim, measure
        self.rows = rows

    def expand(self, docs):
        out = docs | "EncodeDocuments" >> beam.ParDo(
            EncodeDocuments(self.layout, self.fim, self.measure, self.rows), info=beam.pvalue.AsSingleton(self.tokenizer)).with_outputs(
            QUALITY, main="docs")
        quality = out[QUALITY] | "MergeQuality" >> beam.CombineGlobally(MergeQuality())
        return TokenizeOutput(out.docs, quality)
