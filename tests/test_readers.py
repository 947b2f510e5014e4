"""Readers on real files: Common Crawl's own whirlwind WARC/WET/WAT, the bundled
samples, and broken inputs that must be dead-lettered, not lost or fatal."""
import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
from fastwarc.warc import ArchiveIterator, WarcRecordType

from pipeline.rules.extract import extract_document
from pipeline.rules.normalize import normalize_document
from sources.document import DeadLetter, Document, Rejected
from sources.files import expand_paths, fixed_prefix
from sources.parquet import read_parquet
from sources.files import ReadContext
from sources.warc import read_warc
from tests.conftest import SAMPLES

URL = "https://an.wikipedia.org/wiki/Escopete"


def read_all(reader, path, **ctx):
    with open(path, "rb") as f:
        return list(reader(f, ReadContext(source="s", kind="text", path=str(path), relpath=path.name, **ctx)))


def test_real_common_crawl_warc_matches_its_wet_and_wat(commoncrawl):
    records = read_all(read_warc, commoncrawl / "whirlwind.warc.gz")
    assert len(records) == 1   # one response; request/metadata/warcinfo are not documents
    doc = records[0]
    assert isinstance(doc, Document) and doc.url == URL and doc.meta["charset"] == "utf-8"
    assert doc.id == "s/whirlwind.warc.gz@1023" and "<html" in doc.text.lower()

    # Our extraction must agree with Common Crawl's own (the WET): main content only,
    # so nearly all our words are in the WET, and the WET has more (navigation).
    text = normalize_document(extract_document(doc)).text
    wet = [(r.headers.get("WARC-Target-URI"), r.reader.read().decode("utf-8"))  # read while current
           for r in ArchiveIterator(str(commoncrawl / "whirlwind.warc.wet.gz"),
                                    record_types=WarcRecordType.conversion)]
    assert [uri for uri, _ in wet] == [URL]
    wet_words = set(wet[0][1].split())
    ours = text.split()
    assert len(ours) >= 100
    assert sum(w in wet_words for w in ours) / len(ours) >= 0.95
    assert len(wet_words) > len(set(ours))
    assert "Escopete" in text and "Castiella-La Mancha" in text

    wat = [r for r in ArchiveIterator(str(commoncrawl / "whirlwind.warc.wat.gz"),
                                      record_types=WarcRecordType.metadata)]
    assert {r.headers.get("WARC-Target-URI") for r in wat} == {URL}


def test_wet_and_wat_hold_no_http_responses_for_the_warc_reader(commoncrawl):
    for name in ("whirlwind.warc.wet.gz", "whirlwind.warc.wat.gz"):
        assert read_all(read_warc, commoncrawl / name) == []


def test_sample_warc_rejects_non_html_and_errors_with_reasons():
    records = [r for p in sorted((SAMPLES / "cc").glob("*.warc.gz")) for r in read_all(read_warc, p)]
    reasons = sorted(r.reason for r in records if isinstance(r, Rejected))
    assert reasons == ["read/http_status", "read/non_html"]
    docs = [r for r in records if isinstance(r, Document)]
    assert len(docs) == 160 and len({d.id for d in docs}) == 160
    assert all(d.url.startswith("https://") and d.meta["format"] == "html" for d in docs)


def test_truncated_warc_keeps_what_it_read_and_dead_letters_the_rest(commoncrawl, tmp_path):
    data = (SAMPLES / "cc" / "CC-SAMPLE-00000.warc.gz").read_bytes()
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(data[: len(data) // 2] + b"\x1f\x8b\x08\x00garbage-not-deflate")
    records = read_all(read_warc, broken)
    docs = [r for r in records if isinstance(r, Document)]
    dead = [r for r in records if isinstance(r, DeadLetter)]
    assert docs, "records before the damage must still be read"
    assert len(dead) == 1 and dead[0].reason == "read/corrupt_warc"
    assert dead[0].location.startswith(str(broken) + "@")


def test_warc_cut_inside_a_gzip_member_is_not_silently_short(tmp_path):
    data = (SAMPLES / "cc" / "CC-SAMPLE-00000.warc.gz").read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) // 2])      # a partial download: no error from the parser itself
    records = read_all(read_warc, cut)
    assert sum(isinstance(r, Document) for r in records) > 10
    assert isinstance(records[-1], DeadLetter) and records[-1].reason == "read/truncated_warc"
    whole = read_all(read_warc, SAMPLES / "cc" / "CC-SAMPLE-00000.warc.gz")
    assert not any(isinstance(r, DeadLetter) for r in whole)


def test_gzip_integrity_check_on_its_own():
    import gzip
    import io

    from sources.integrity import GzipIntegrity
    members = gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 5000)
    for blob, clean in ((members, True), (members[:-5], False), (b"plain text, not gzip", True),
                        (members[:20] + b"\x00" * 40, False)):
        s = GzipIntegrity(io.BytesIO(blob))
        while s.read(7):
            pass
        assert s.ended_cleanly() is clean


def test_parquet_reader_maps_columns_and_accounts_for_bad_rows(tmp_path):
    table = pa.table({"content": ["hello world", None, "   ", "second doc"],
                      "url": ["https://a/1", "https://a/2", "https://a/3", None],
                      "timestamp": pa.array([1709294400] * 4, pa.timestamp("s")),
                      "dump": ["CC-MAIN-2024-10"] * 4})
    path = tmp_path / "part.parquet"
    pq.write_table(table, path)
    records = read_all(read_parquet, path, columns={"text": "content"})
    kinds = [type(r).__name__ for r in records]
    assert kinds == ["Document", "DeadLetter", "Rejected", "Document"]
    first = records[0]
    assert first.id == "s/part.parquet@0" and first.url == "https://a/1"
    assert first.meta["timestamp"] == "2024-03-01T12:00:00" and first.meta["dump"] == "CC-MAIN-2024-10"
    assert records[1].reason == "read/no_text" and records[2].reason == "read/empty"
    assert records[3].id == "s/part.parquet@3"


def test_parquet_reader_dead_letters_unreadable_files(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    (dead,) = read_all(read_parquet, bad)
    assert isinstance(dead, DeadLetter) and dead.reason == "read/corrupt_parquet"
    ok = tmp_path / "nocol.parquet"
    pq.write_table(pa.table({"body": ["x"]}), ok)
    (dead,) = read_all(read_parquet, ok, columns={"text": "content"})
    assert dead.reason == "read/missing_column"


def test_code_parquet_sample_carries_path_and_language():
    records = read_all(read_parquet, SAMPLES / "code" / "part-00000.parquet",
                       columns={"text": "content", "path": "max_stars_repo_path", "lang": "lang"})
    assert all(isinstance(r, Document) for r in records)
    assert all(r.url.startswith(("Lib/", "vendor/")) and r.meta["lang"] == "Python" for r in records)
    assert all(r.meta["path"] == r.url for r in records)


def test_globs_expand_sorted_with_stable_relative_paths(tmp_path):
    for name in ("b.parquet", "a.parquet", "sub/c.parquet"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    files = expand_paths([f"{tmp_path}/*.parquet", f"{tmp_path}/a.parquet"])
    assert [f.relpath for f in files] == ["a.parquet", "b.parquet"]
    assert fixed_prefix("gs://bucket/cc/*/x.gz") == "gs://bucket/cc/"
    import pytest
    with pytest.raises(FileNotFoundError):
        expand_paths([f"{tmp_path}/*.warc.gz"])


def test_gzip_member_per_record_in_samples():
    # Common Crawl's layout: each record is its own gzip member.
    data = (SAMPLES / "cc" / "CC-SAMPLE-00001.warc.gz").read_bytes()
    members = data.count(b"\x1f\x8b\x08")
    assert members >= 3 * 80
    with gzip.open(io.BytesIO(data)) as f:
        assert f.read(8) == b"WARC/1.0"


def test_unreadable_file_becomes_one_dead_letter(tmp_path):
    from sources.readers import file_records
    ctx = ReadContext(source="s", kind="text", path=str(tmp_path / "gone.warc.gz"), relpath="gone.warc.gz")
    (dead,) = list(file_records("warc", ctx))
    assert isinstance(dead, DeadLetter) and dead.reason == "read/io_error"


def test_fineweb_schema_and_row_group_splits_read_the_same_rows(tmp_path):
    from sources.parquet import parquet_splits
    n = 1000
    table = pa.table({"text": [f"fineweb document number {i} " * 20 for i in range(n)],
                      "id": [f"<urn:uuid:{i:08d}>" for i in range(n)], "dump": ["CC-MAIN-2024-18"] * n,
                      "url": [f"https://site/{i}" for i in range(n)], "date": ["2024-04-20T10:00:00Z"] * n,
                      "language": ["en"] * n, "language_score": [0.93] * n, "token_count": [120] * n})
    path = tmp_path / "fineweb.parquet"
    pq.write_table(table, path, row_group_size=100)
    with open(path, "rb") as f:
        splits = parquet_splits(f, {"split_bytes": 50_000})
    assert len(splits) > 2 and splits[0] == {"row_groups": [0, splits[0]["row_groups"][1]], "first_row": 0}
    assert [s["row_groups"][0] for s in splits[1:]] == [s["row_groups"][1] for s in splits[:-1]]
    whole = read_all(read_parquet, path)
    parts = []
    for split in splits:
        with open(path, "rb") as f:
            parts += list(read_parquet(f, ReadContext("s", "text", str(path), path.name, split=split)))
    assert [(d.id, d.text) for d in parts] == [(d.id, d.text) for d in whole]
    assert len(whole) == n and whole[5].id == "s/fineweb.parquet@5" and whole[5].url == "https://site/5"
    assert whole[5].meta["id"] == "<urn:uuid:00000005>" and whole[5].meta["language_score"] == 0.93
