"""Each document encoded once in the corpus job (pipeline/transforms/token_files.py): the
counting pass keeps every part's tokens, the writing pass reads them instead of encoding
again, and a missing, partial or stale token file only costs an encoding."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam import pvalue

from pipeline.rules.epochs import StreamLayout
from pipeline.rules.fim import FimSpec
from pipeline.transforms.materialize import CLEAN_SCHEMA, to_row
from pipeline.transforms.token_files import (EncodeParts, ReuseTokens, TokenFileWriter, read_token_file,
                                             token_file)
from pipeline.transforms.tokenize import TokenizedDoc, save_tokenizer
from sources.document import Document
from tokenizer.bpe import train_bpe

LAYOUT, FIM = StreamLayout(7, {"docs": 2, "code": 4}), FimSpec(0.5, 0.5)


@pytest.fixture()
def part(tmp_path, sample_documents):
    """One clean part of real sample documents (text and code), its plan element and a tokenizer."""
    docs = [d for d in sample_documents if d.kind == "text"][:20] + \
        [d for d in sample_documents if d.kind == "code"][:20]
    path = tmp_path / "part-00000.parquet"
    pq.write_table(pa.Table.from_pylist([to_row(d) for d in docs], schema=CLEAN_SCHEMA), path)
    trained = train_bpe([d.text for d in docs], vocab_size=800, min_frequency=1)
    info = save_tokenizer((trained, float("inf")), str(tmp_path))
    element = ("ref", {"part": [str(path)], "drops": [("drop", docs[3].id)], "unit": []})
    return element, info, tmp_path / "tokens", [d for i, d in enumerate(docs) if i != 3]


def first_pass(element, info, folder):
    encode = EncodeParts(LAYOUT, FIM, str(folder), ())
    encode.setup()
    encode.start_bundle()
    out = list(encode.process(element, info))
    return [o for o in out if isinstance(o, TokenizedDoc)], \
        [o.value for o in out if isinstance(o, pvalue.TaggedOutput)]


def second_pass(element, info, folder, encoder_allowed: bool):
    reuse = ReuseTokens(LAYOUT, FIM, str(folder), (), rows=True)
    reuse.setup()
    if not encoder_allowed:
        def refuse(doc, info):
            raise AssertionError(f"{doc.id} encoded again")
        reuse.encoder.encode = refuse
    return list(reuse.process(element, info))


def same(a: list, b: list) -> bool:
    return [(t.id, t.tokens.tolist(), t.bytes, t.language) for t in a] == \
        [(t.id, t.tokens.tolist(), t.bytes, t.language) for t in b]


def test_the_writing_pass_reads_the_counting_pass_tokens_without_encoding(part):
    element, info, folder, kept = part
    counted, documents = first_pass(element, info, folder)
    assert [d.id for d in documents] == [t.id for t in counted] == [d.id for d in kept]   # the drop is skipped
    assert any(t.tokens[0] == info.special_ids["<|fim_prefix|>"] for t in counted)       # FIM documents too
    assert [p.name for p in folder.iterdir()] == [token_file(str(folder), element, info.sha256, FIM, 7).split("/")[-1]]
    reused = second_pass(element, info, folder, encoder_allowed=False)
    assert same(reused, counted)
    assert all(t.row is not None and t.row["tokens"] == len(t.tokens) for t in reused)
    assert all(t.tokens.dtype == np.dtype(info.dtype) and t.tokens.flags.writeable for t in reused)


def test_a_missing_or_stale_token_file_costs_an_encoding_not_the_tokens(part):
    element, info, folder, _ = part
    counted, _ = first_pass(element, info, folder)
    path = token_file(str(folder), element, info.sha256, FIM, 7)
    data = open(path, "rb").read()
    for broken in (data[:-3], data[:len(data) // 2], b""):   # cut short: refused, encoded again
        open(path, "wb").write(broken)
        assert read_token_file(path, info.dtype) is None
        assert same(second_pass(element, info, folder, encoder_allowed=True), counted)
    open(path, "wb").write(data)
    assert read_token_file(path, "uint32" if info.dtype == "uint16" else "uint16") is None
    # another plan (one more drop) is another file: this one is not used for it
    other = (element[0], {**element[1], "drops": [*element[1]["drops"], ("drop", counted[0].id)]})
    assert token_file(str(folder), other, info.sha256, FIM, 7) != path
    assert same(second_pass(other, info, folder, encoder_allowed=True), counted[1:])
    # a file whose ids do not follow the part's documents is encoded around, document by document
    writer = TokenFileWriter(path, info.dtype)
    for t in counted[::-1]:
        writer.add(t.id, t.tokens)
    writer.commit()
    assert same(second_pass(element, info, folder, encoder_allowed=True), counted)


def test_a_failed_counting_bundle_leaves_no_token_file_and_its_retry_writes_the_same_bytes(part):
    element, info, folder, _ = part
    encode = EncodeParts(LAYOUT, FIM, str(folder), ())
    encode.setup()
    encode.start_bundle()
    outputs = encode.process(element, info)
    next(outputs)
    outputs.close()   # the bundle fails after its first document
    assert list(folder.iterdir()) == []   # no temporary file, no partial token file
    first_pass(element, info, folder)
    path = token_file(str(folder), element, info.sha256, FIM, 7)
    once = open(path, "rb").read()
    first_pass(element, info, folder)
    assert open(path, "rb").read() == once and len(list(folder.iterdir())) == 1


def test_token_file_round_trip(tmp_path):
    path = str(tmp_path / "t.tok")
    writer = TokenFileWriter(path, "uint16")
    arrays = [np.array([5, 6, 0], np.uint16), np.array([0], np.uint16), np.arange(1000, dtype=np.uint16)]
    for i, a in enumerate(arrays):
        writer.add(f"doc\n{i}", a)   # any id, a newline too
    writer.commit()
    stored = read_token_file(path, "uint16")
    assert stored.ids == ["doc\n0", "doc\n1", "doc\n2"]
    assert [stored.tokens_of(i).tolist() for i in range(3)] == [a.tolist() for a in arrays]
    assert read_token_file(str(tmp_path / "none.tok"), "uint16") is None
    abandoned = TokenFileWriter(str(tmp_path / "gone.tok"), "uint16")
    abandoned.add("x", arrays[0])
    abandoned.abandon()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.tok"]


def test_documents_are_what_the_part_holds(part):
    element, info, folder, kept = part
    _, documents = first_pass(element, info, folder)
    assert all(isinstance(d, Document) for d in documents)
    assert [(d.id, d.text) for d in documents] == [(d.id, d.text) for d in kept]
