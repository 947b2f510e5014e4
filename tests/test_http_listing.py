"""Common Crawl listings pulled over HTTP from a server the test runs on loopback,
which fails requests on purpose: 503s, bodies cut off mid-way, missing files."""
import gzip
import http.server
import shutil
import threading

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.recipe import SourceSpec
from pipeline.transforms.read import ReadSources
from sources.document import Document
from sources.http import HttpReadError, HttpStream
from sources.listing import listing_inputs
from tests.conftest import SAMPLES

CRAWL = "crawl-data/CC-MAIN-2024-22/segments/1715971057216.39"


class FlakyHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with Range support; fails some requests the way real servers do."""
    fail_first = set()      # paths whose first request gets a 503
    cut_first = set()       # paths whose first response body stops half way
    seen: dict = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.lstrip("/")
        self.seen[path] = self.seen.get(path, 0) + 1
        file = self.server.root / path
        if not file.is_file():
            return self.send_error(404)
        if path in self.fail_first and self.seen[path] == 1:
            return self.send_error(503)
        data = file.read_bytes()
        start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        body = data[start:]
        if path in self.cut_first and self.seen[path] == 1:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)   # connection drops mid-body
            return
        self.wfile.write(body)


@pytest.fixture()
def server(tmp_path, commoncrawl):
    root = tmp_path / "www"
    names = []
    for i, src in enumerate(sorted((SAMPLES / "cc").glob("*.warc.gz"))):
        names.append(f"{CRAWL}/warc/CC-MAIN-{i:05d}.warc.gz")
        (root / names[-1]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / names[-1])
    names.append(f"{CRAWL}/wet/CC-MAIN-whirlwind.warc.wet.gz")
    (root / names[-1]).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(commoncrawl / "whirlwind.warc.wet.gz", root / names[-1])
    names.append(f"{CRAWL}/warc/CC-MAIN-missing.warc.gz")          # listed but not served
    listing = root / "crawl-data/CC-MAIN-2024-22/warc.paths.gz"
    listing.write_bytes(gzip.compress("\n".join(names).encode() + b"\n"))
    FlakyHandler.fail_first = {names[0], "crawl-data/CC-MAIN-2024-22/warc.paths.gz"}
    FlakyHandler.cut_first = {names[1]}
    FlakyHandler.seen = {}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
    httpd.root = root
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root, names
    httpd.shutdown()


def test_stream_retries_and_resumes_with_ranges(server):
    base, root, names = server
    for name in names[:2]:
        stream = HttpStream(f"{base}/{name}", backoff_s=0.01)
        assert stream.read() == (root / name).read_bytes()
        assert stream.attempts == 2          # one failure (503, or cut body), then one retry
    assert FlakyHandler.seen[names[1]] == 2
    with pytest.raises(HttpReadError, match="HTTP 404"):
        HttpStream(f"{base}/{names[-1]}", backoff_s=0.01).read()


def test_listing_limit_and_base_url(server):
    base, _, names = server
    listing = f"{base}/crawl-data/CC-MAIN-2024-22/warc.paths.gz"
    inputs, ignored = listing_inputs([listing], {"base_url": base + "/", "limit": 2, "backoff_s": 0.01})
    assert ignored == []
    assert [i.relpath for i in inputs] == names[:2]
    assert inputs[0].path == f"{base}/{names[0]}"


def test_pipeline_reads_a_crawl_over_flaky_http(server):
    base, _, names = server
    spec = SourceSpec("cc", "cc-listing", (f"{base}/crawl-data/CC-MAIN-2024-22/warc.paths.gz",), "text", 2.0,
                      options={"base_url": base, "backoff_s": 0.01, "retries": 3})
    with BeamTestPipeline() as p:
        out = p | ReadSources((spec,))
        # 160 sample pages + the whirlwind WET page; the image and the 404 page are rejected
        assert_that(out.documents | beam.combiners.Count.Globally(), equal_to([161]), label="Docs")
        assert_that(out.dropped | beam.Map(lambda e: e[1]), equal_to(["read/http_status", "read/non_html"]),
                    label="Drops")
        assert_that(out.dead_letters | beam.Map(lambda r: (r["reason"], r["location"].split("@")[0])),
                    equal_to([("read/io_error", f"{base}/{names[-1]}")]), label="Missing")
        assert_that(out.documents | beam.Filter(lambda d: d.meta.get("language") == "es")
                    | beam.Map(lambda d: d.url), equal_to(["https://an.wikipedia.org/wiki/Escopete"]), label="Wet")


def test_companion_wat_over_http_and_a_missing_one_counted(server, commoncrawl):
    """The bug: with `wat: true` over HTTP(S) the companion WAT was opened through Beam's
    FileSystems, which has no http scheme, and the whole job failed."""
    from sources.files import ReadContext, open_input
    from sources.listing import read_listed
    base, root, _ = server
    warc = f"{CRAWL}/warc/whirlwind.warc.gz"
    (root / warc).write_bytes((commoncrawl / "whirlwind.warc.gz").read_bytes())
    (root / CRAWL / "wat").mkdir(exist_ok=True)
    (root / CRAWL / "wat" / "whirlwind.warc.wat.gz").write_bytes((commoncrawl / "whirlwind.warc.wat.gz").read_bytes())
    options = {"wat": True, "backoff_s": 0.01, "retries": 1}
    with open_input(f"{base}/{warc}", options) as stream:
        (doc,) = read_listed(stream, ReadContext("cc", "text", f"{base}/{warc}", warc, options=options))
    assert doc.meta["wat"] == {"ip": "208.80.154.224"}
    lonely = f"{CRAWL}/warc/CC-MAIN-00000.warc.gz"          # served, its WAT is not
    with open_input(f"{base}/{lonely}", options) as stream:
        records = list(read_listed(stream, ReadContext("cc", "text", f"{base}/{lonely}", lonely, options=options)))
    assert records[0].reason == "read/wat_missing" and "HTTP 404" in records[0].error
    assert records[0].location == f"{base}/{CRAWL}/wat/CC-MAIN-00000.warc.wat.gz@0"
    assert sum(isinstance(r, Document) for r in records) > 50


def test_parquet_over_http_reads_row_groups_by_range(server, tmp_path):
    """The bug: a parquet source over HTTP(S) (a FineWeb shard on the Hugging Face hub)
    failed, because the HTTP stream could not seek and parquet reads its footer first.
    Now it is read footer first and row group by row group, by range requests, even when
    the first response breaks off; its documents are those of the same file read locally."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    base, root, _ = server
    texts = [f"Document {i}: " + " ".join(f"word{i * 7 + j}" for j in range(40)) for i in range(300)]
    table = pa.table({"text": texts, "url": [f"https://example.com/{i}" for i in range(300)]})
    pq.write_table(table, root / "shard.parquet", row_group_size=50)
    pq.write_table(table, tmp_path / "shard.parquet", row_group_size=50)
    FlakyHandler.cut_first = {"shard.parquet"}
    from sources.files import ReadContext
    from sources.parquet import read_parquet
    with open(tmp_path / "shard.parquet", "rb") as f:
        local = [(d.id, d.text, d.url) for d in read_parquet(f, ReadContext("web", "text", "x", "shard.parquet"))]
    assert len(local) == 300
    remote = SourceSpec("web", "parquet", (f"{base}/shard.parquet",), "text", 2.0,
                        options={"backoff_s": 0.01, "split_bytes": 1})
    with BeamTestPipeline() as p:
        out = p | ReadSources((remote,))
        assert_that(out.documents | beam.Map(lambda d: (d.id, d.text, d.url)), equal_to(local))
    assert FlakyHandler.seen["shard.parquet"] > 6       # footer, then each split's row groups by range
    with pytest.raises(FileNotFoundError, match="HTTP 404"):
        from sources.files import expand_paths
        expand_paths([f"{base}/missing.parquet"])
