"""Builds the bundled sample shards from real material installed on the machine.

    python -m sources.samples.make_samples      # or: make samples

Inputs (all installable, nothing fetched from the web):
- the CPython 3.11 HTML documentation and its reStructuredText sources, from
  Debian's `python3.11-doc` package (/usr/share/doc/python3.11/html);
- the Python standard library's own source, from the running interpreter.

Outputs, a few MB in all, under sources/samples/:
- cc/CC-SAMPLE-0000{0,1}.warc.gz: Common Crawl-style WARCs (one gzip member per
  record; warcinfo, request, response and metadata records) of the HTML pages;
- refinedweb/part-0000{0,1}.parquet: RefinedWeb-schema rows of the reST sources;
- code/part-0000{0,1}.parquet: Stack-schema rows of standard-library modules.

Planted on purpose, so every stage has real work: exact duplicates (the same page
at a second URL, the same row twice, a vendored copy of a module), near duplicates
(a paragraph edited or appended), a non-HTML response (an image) and a 404, which
the pipeline must drop with their reasons. Selection and every byte written are
deterministic, so re-running this script reproduces the committed files.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import pathlib
import sysconfig
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

HERE = pathlib.Path(__file__).parent
DOC_ROOT = pathlib.Path("/usr/share/doc/python3.11/html")
BASE_URL = "https://docs.python.org/3.11/"
CRAWL_DATE = dt.datetime(2024, 3, 1, 12, 0, 0)
N_PAGES, N_RST, N_CODE = 150, 300, 420


def stable_rank(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def pick(paths: list[pathlib.Path], root: pathlib.Path, n: int, lo: int, hi: int) -> list[pathlib.Path]:
    """n files with size in [lo, hi], chosen by a hash of their path: stable and spread out."""
    ok = [p for p in paths if lo <= p.stat().st_size <= hi]
    return sorted(sorted(ok, key=lambda p: stable_rank(str(p.relative_to(root))))[:n])


def near_duplicate(text: str, salt: str) -> str:
    """An edited copy: one paragraph rewritten and a sentence appended."""
    paras = text.split("\n\n")
    i = len(paras) // 2
    paras[i] = paras[i].replace(" the ", " this ", 3) + f" (revised {salt})"
    return "\n\n".join(paras) + f"\n\nThis page was mirrored for reference ({salt}).\n"


# ----------------------------------------------------------------------------- WARC
def warc_record(rtype: str, uri: str | None, block: bytes, extra: dict[str, str] | None = None,
                content_type: str = "application/http; msgtype=response") -> bytes:
    rid = uuid.uuid5(uuid.NAMESPACE_URL, f"{rtype}:{uri}:{hashlib.sha1(block).hexdigest()}")
    headers = {"WARC-Type": rtype, "WARC-Date": CRAWL_DATE.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "WARC-Record-ID": f"<urn:uuid:{rid}>"}
    if uri:
        headers["WARC-Target-URI"] = uri
    headers.update(extra or {})
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(block))
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    raw = head.encode() + block + b"\r\n\r\n"
    out = io.BytesIO()  # one gzip member per record, as Common Crawl ships them; mtime=0 for determinism
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw)
    return out.getvalue()


def http_response(body: bytes, mime: str, status: str = "200 OK") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {len(body)}\r\n"
            f"Server: nginx\r\n\r\n").encode() + body


def crawl(uri: str, body: bytes, mime: str = "text/html; charset=utf-8", status: str = "200 OK") -> bytes:
    host = uri.split("/")[2]
    req = f"GET /{uri.split('/', 3)[3]} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: CCBot/2.0\r\n\r\n".encode()
    meta = "fetchTimeMs: 87\r\ncharset-detected: UTF-8\r\n".encode()
    return (warc_record("request", uri, req, content_type="application/http; msgtype=request")
            + warc_record("response", uri, http_response(body, mime, status))
            + warc_record("metadata", uri, meta, content_type="application/warc-fields"))


def make_warcs() -> None:
    pages = [p for p in DOC_ROOT.rglob("*.html") if "_static" not in p.parts]
    chosen = pick(pages, DOC_ROOT, N_PAGES, 8_000, 120_000)
    entries: list[bytes] = []
    for i, page in enumerate(chosen):
        rel = page.relative_to(DOC_ROOT).as_posix()
        body = page.read_bytes()
        entries.append(crawl(BASE_URL + rel, body))
        if i % 30 == 0:   # exact duplicate: the same page under the version-less URL
            entries.append(crawl("https://docs.python.org/3/" + rel, body))
        if i % 30 == 15:  # near duplicate: an edited mirror
            text = near_duplicate(body.decode("utf-8"), f"mirror {i}")
            entries.append(crawl(f"https://mirror.example.org/python/{rel}", text.encode()))
    image = next(iter(sorted((DOC_ROOT / "_images").glob("*.png"))))
    entries.insert(7, crawl(BASE_URL + "_images/" + image.name, image.read_bytes(), "image/png"))
    entries.insert(40, crawl(BASE_URL + "no-such-page.html", b"<html><body>Not Found</body></html>",
                             status="404 Not Found"))
    out = HERE / "cc"
    out.mkdir(exist_ok=True)
    half = len(entries) // 2
    for n, part in enumerate((entries[:half], entries[half:])):
        name = f"CC-SAMPLE-{n:05d}.warc.gz"
        info = "software: corpusmill make_samples\r\nformat: WARC File Format 1.0\r\nisPartOf: CC-SAMPLE\r\n"
        data = warc_record("warcinfo", None, info.encode(), {"WARC-Filename": name},
                           content_type="application/warc-fields") + b"".join(part)
        (out / name).write_bytes(data)


# ----------------------------------------------------------------------------- parquet
def write_parts(rows: list[dict], schema: pa.Schema, folder: str) -> None:
    out = HERE / folder
    out.mkdir(exist_ok=True)
    half = len(rows) // 2
    for n, part in enumerate((rows[:half], rows[half:])):
        table = pa.Table.from_pylist(part, schema=schema)
        pq.write_table(table, out / f"part-{n:05d}.parquet", compression="zstd", row_group_size=128)


def make_refinedweb() -> None:
    root = DOC_ROOT / "_sources"
    chosen = pick(list(root.rglob("*.txt")), root, N_RST, 2_000, 60_000)
    rows = []
    for i, path in enumerate(chosen):
        rel = path.relative_to(root).as_posix().removesuffix(".rst.txt").removesuffix(".txt")
        text = path.read_text("utf-8")
        row = {"content": text, "url": f"{BASE_URL}_sources/{rel}.rst.txt",
               "timestamp": CRAWL_DATE + dt.timedelta(minutes=i), "dump": "CC-MAIN-2024-10",
               "segment": f"1709000000000.{i % 7}", "image_urls": []}
        rows.append(row)
        if i % 40 == 0:
            rows.append({**row, "url": row["url"].replace("/3.11/", "/3/")})
        if i % 40 == 20:
            rows.append({**row, "content": near_duplicate(text, f"fork {i}"),
                         "url": f"https://mirror.example.org/rst/{rel}"})
    schema = pa.schema([("content", pa.string()), ("url", pa.string()), ("timestamp", pa.timestamp("s")),
                        ("dump", pa.string()), ("segment", pa.string()), ("image_urls", pa.list_(pa.string()))])
    write_parts(rows, schema, "refinedweb")


def make_code() -> None:
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in root.rglob("*.py")
             if not {"site-packages", "test", "tests", "idle_test", "__pycache__"} & set(p.parts)]
    chosen = pick(files, root, N_CODE, 500, 50_000)
    rows = []
    for i, path in enumerate(chosen):
        rel = path.relative_to(root).as_posix()
        row = {"content": path.read_text("utf-8"), "max_stars_repo_path": f"Lib/{rel}",
               "max_stars_repo_name": "python/cpython", "max_stars_count": 60000,
               "lang": "Python", "license": "PSF-2.0"}
        rows.append(row)
        if i % 50 == 0:  # a vendored copy in another repository
            rows.append({**row, "max_stars_repo_path": f"vendor/cpython/{rel}",
                         "max_stars_repo_name": "example/vendored", "max_stars_count": 3})
    schema = pa.schema([("content", pa.string()), ("max_stars_repo_path", pa.string()),
                        ("max_stars_repo_name", pa.string()), ("max_stars_count", pa.int64()),
                        ("lang", pa.string()), ("license", pa.string())])
    write_parts(rows, schema, "code")


def main() -> None:
    if not DOC_ROOT.is_dir():
        raise SystemExit(f"{DOC_ROOT} is missing: apt-get install python3.11-doc")
    make_warcs()
    make_refinedweb()
    make_code()
    for f in sorted(HERE.rglob("*.*")):
        if f.suffix in (".gz", ".parquet"):
            print(f"{f.relative_to(HERE)}  {f.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
