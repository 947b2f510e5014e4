"""WET, WAT and WARC edge cases: Common Crawl's own whirlwind files, and WARCs the
tests write (with the sample generator's record writer) to hold each bad case."""
import pytest

from sources.document import Document, Rejected
from sources.files import ReadContext
from sources.samples.make_samples import crawl, http_response, warc_record
from sources.warc import decode_html, read_warc, read_wet, wat_path

URL = "https://an.wikipedia.org/wiki/Escopete"
PAGE = ("<html><body><article><p>" + "A real paragraph of text about the river and the town. " * 20
        + "</p></article></body></html>").encode()


def read(reader, path, **options):
    with open(path, "rb") as f:
        return list(reader(f, ReadContext("s", "text", str(path), path.name, options=options)))


def test_wet_reader_on_common_crawl(commoncrawl):
    (doc,) = read(read_wet, commoncrawl / "whirlwind.warc.wet.gz")
    # CC's WET says ISO 639-3 `spa`; the corpus speaks ISO 639-1, as CLD2 and lid.176 do
    assert doc.url == URL and doc.meta["language"] == "es" and doc.meta["format"] == "text"
    assert doc.text.startswith("Escopete - Biquipedia") and len(doc.text) > 4000


def test_warc_reader_attaches_cld2_language_and_wat_metadata(commoncrawl):
    (plain,) = read(read_warc, commoncrawl / "whirlwind.warc.gz")
    assert plain.meta["language"] == "es" and plain.meta["languages_cld2"][0]["name"] == "SPANISH"
    assert "wat" not in plain.meta
    assert wat_path(str(commoncrawl / "whirlwind.warc.gz")) == str(commoncrawl / "whirlwind.warc.wat.gz")
    (enriched,) = read(read_warc, commoncrawl / "whirlwind.warc.gz", wat=True)
    assert enriched.meta["wat"] == {"ip": "208.80.154.224"}


def test_the_crawl_is_read_from_warcinfo_or_the_path(commoncrawl):
    """The documents dataset's `dump`: the warcinfo record's isPartOf, for WARC and WET alike."""
    from sources.warc import crawl_of
    (page,) = read(read_warc, commoncrawl / "whirlwind.warc.gz")
    (text,) = read(read_wet, commoncrawl / "whirlwind.warc.wet.gz")
    assert page.meta["dump"] == text.meta["dump"] == "CC-MAIN-2024-22"
    assert crawl_of("s3://commoncrawl/crawl-data/CC-MAIN-2023-50/segments/1/warc/x.warc.gz") == "CC-MAIN-2023-50"
    assert crawl_of("local/x.warc.gz", b"software: x\r\nisPartOf: MY-CRAWL\r\n") == "MY-CRAWL"
    assert crawl_of("local/x.warc.gz") == ""


def test_wat_path_follows_common_crawl_layout():
    assert wat_path("s3://commoncrawl/crawl-data/CC-MAIN-2024-22/segments/1/warc/CC-X-00000.warc.gz") == \
        "s3://commoncrawl/crawl-data/CC-MAIN-2024-22/segments/1/wat/CC-X-00000.warc.wat.gz"


def write_warc(path, *blocks):
    path.write_bytes(b"".join(blocks))
    return path


def test_bad_records_in_the_middle_do_not_stop_the_good_ones(tmp_path):
    latin = "<html><body><p>" + "Café crème brûlée à la façon de grand-mère. " * 20 + "</p></body></html>"
    path = write_warc(
        tmp_path / "mixed.warc.gz",
        crawl("https://a.example/1", PAGE),
        crawl("https://a.example/binary", b"\x00\x01\x02PNG\x00" * 200),           # binary labelled html
        crawl("https://a.example/empty", b""),                                    # zero-length body
        crawl("https://a.example/latin", latin.encode("latin-1")),                # says utf-8, is latin-1
        crawl("https://a.example/2", PAGE),
    )
    records = read(read_warc, path)
    assert [type(r).__name__ for r in records] == ["Document", "Rejected", "Rejected", "Document", "Document"]
    assert [r.reason for r in records if isinstance(r, Rejected)] == ["read/binary_body", "read/empty"]
    repaired = records[3]
    assert repaired.meta["charset_repaired"] and "Café crème brûlée" in repaired.text


def test_corrupt_record_in_the_middle_keeps_the_records_before_and_after_it(tmp_path):
    good = crawl("https://a.example/1", PAGE)
    intact = warc_record("response", "https://a.example/bad", http_response(PAGE, "text/html"))
    broken = intact[:10] + bytes(b ^ 0x5A for b in intact[10:60]) + intact[60:]   # damage the deflate data
    rest = (crawl("https://a.example/3", PAGE), crawl("https://a.example/4", PAGE))
    path = write_warc(tmp_path / "corrupt.warc.gz", good, broken, *rest)
    records = read(read_warc, path)
    assert [type(r).__name__ for r in records] == ["Document", "DeadLetter", "Document", "Document"]
    assert [r.url for r in records if isinstance(r, Document)] == [f"https://a.example/{i}" for i in (1, 3, 4)]
    dead = records[1]
    assert dead.reason == "read/corrupt_warc" and dead.location == f"{path}@{len(good)}"
    # ids are file offsets: the same as in the undamaged file, resumption or not
    clean = read(read_warc, write_warc(tmp_path / "corrupt.warc.gz", good, intact, *rest))
    assert [r.id for r in records if isinstance(r, Document)] == [clean[i].id for i in (0, 2, 3)]


def test_plain_uncompressed_warc_and_empty_file(tmp_path):
    import gzip
    plain = tmp_path / "plain.warc"
    plain.write_bytes(gzip.decompress(crawl("https://a.example/1", PAGE)))
    (doc,) = read(read_warc, plain)
    assert doc.url == "https://a.example/1"
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    assert read(read_warc, empty) == []


def test_wet_invalid_utf8_is_dead_lettered_and_the_next_record_read(tmp_path):
    def conversion(uri, text):
        return warc_record("conversion", uri, text, {"WARC-Identified-Content-Language": "eng"},
                           content_type="text/plain")
    path = write_warc(tmp_path / "x.warc.wet.gz", conversion("https://a/1", b"caf\xe9 au lait " * 20),
                      conversion("https://a/2", "fine text ".encode() * 20), conversion("https://a/3", b"   "))
    records = read(read_wet, path)
    assert [type(r).__name__ for r in records] == ["DeadLetter", "Document", "Rejected"]
    assert records[0].reason == "read/invalid_utf8" and records[1].meta["language"] == "en"


@pytest.mark.parametrize("declared, expected_repaired", [("utf-8", False), ("", False), ("no-such-charset", True)])
def test_decode_html_charsets(declared, expected_repaired):
    text, charset, repaired = decode_html("naïve".encode("utf-8"), declared)
    assert text == "naïve" and repaired is expected_repaired and charset


def test_junk_between_members_is_skipped_to_the_next_record(tmp_path):
    first, second = crawl("https://a.example/1", PAGE), crawl("https://a.example/2", PAGE)
    path = write_warc(tmp_path / "junk.warc.gz", first, b"\x1f\x8b\x08 not really gzip " * 50, second)
    records = read(read_warc, path)
    assert [type(r).__name__ for r in records] == ["Document", "DeadLetter", "Document"]
    assert records[1].location == f"{path}@{len(first)}" and records[2].url == "https://a.example/2"


def test_read_counters_name_stage_and_reason(tmp_path):
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.recipe import SourceSpec
    from pipeline.runners import with_local_runner
    from pipeline.transforms.read import ReadSources
    latin = ("<html><body><p>" + "Crème brûlée à la façon de grand-mère. " * 20 + "</p></body></html>").encode("latin-1")
    write_warc(tmp_path / "m.warc.gz", crawl("https://a/1", PAGE), crawl("https://a/2", b"\x00" * 100),
               crawl("https://a/3", latin))
    p = beam.Pipeline(options=with_local_runner(PipelineOptions([])))
    _ = p | ReadSources((SourceSpec("cc", "warc", (str(tmp_path / "m.warc.gz"),), "text", 2.0),))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(MetricsFilter())["counters"]}
    assert counters == {"read/cc": 3, "dropped/read/binary_body": 1, "read/charset_repaired": 1,
                        "read/documents": 3, "read/input_bytes": (tmp_path / "m.warc.gz").stat().st_size}


def test_gzip_warc_cut_inside_the_last_body_is_an_error_not_a_document(tmp_path):
    """The bug: the partial body of the cut record was kept as a document and also counted
    as an error. Now the record the file stops inside is only the error, at its offset."""
    whole = crawl("https://a.example/1", PAGE) + crawl("https://a.example/2", PAGE)
    last = whole.rfind(warc_record("response", "https://a.example/2", http_response(PAGE, "text/html; charset=utf-8")))
    assert last > 0
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(whole[:last] + warc_record("response", "https://a.example/2",
                                               http_response(PAGE, "text/html; charset=utf-8"))[:-25])
    records = read(read_warc, cut)
    assert [type(r).__name__ for r in records] == ["Document", "DeadLetter"]
    assert records[0].url == "https://a.example/1"
    assert records[1].reason == "read/truncated_warc" and records[1].location == f"{cut}@{last}"


def plain(*blocks: bytes) -> bytes:
    import gzip
    return b"".join(gzip.decompress(b) for b in blocks)


def test_plain_warc_cut_inside_a_record_is_an_error_not_a_partial_document(tmp_path):
    """The bug: a plain .warc cut inside a record gave a silent partial document."""
    first, second = plain(crawl("https://a.example/1", PAGE)), plain(crawl("https://a.example/2", PAGE))
    response_at = len(first) + second.find(b"WARC/1.0", 1)      # the second page's response record
    for cut_at in (response_at + 400, response_at + 40):         # inside its body; inside its header
        path = tmp_path / "cut.warc"
        path.write_bytes(first + second[:cut_at - len(first)])
        records = read(read_warc, path)
        assert [type(r).__name__ for r in records] == ["Document", "DeadLetter"], cut_at
        assert records[0].url == "https://a.example/1" and records[1].reason == "read/truncated_warc"
        assert records[1].location == f"{path}@{response_at}"
    path.write_bytes(first + second)
    assert [r.url for r in read(read_warc, path)] == ["https://a.example/1", "https://a.example/2"]


def test_lf_only_http_headers_and_html_resource_records_are_pages(tmp_path):
    """Old crawls end HTTP header lines with a bare LF (read as `non_html` before), and
    single-page archives store the page as a `resource` record (read as nothing before)."""
    lf_only = (b"HTTP/1.0 200 OK\nContent-Type: text/html; charset=utf-8\n\n" + PAGE)
    path = write_warc(tmp_path / "old.warc.gz",
                      warc_record("response", "https://old.example/1", lf_only),
                      warc_record("resource", "https://page.example/2", PAGE, content_type="text/html; charset=utf-8"),
                      warc_record("resource", "https://page.example/3.png", b"\x89PNG" * 50, content_type="image/png"))
    records = read(read_warc, path)
    assert [type(r).__name__ for r in records] == ["Document", "Document", "Rejected"]
    assert [r.url for r in records[:2]] == ["https://old.example/1", "https://page.example/2"]
    assert all(r.text == PAGE.decode() for r in records[:2]) and records[2].reason == "read/non_html"


def test_an_arc_file_is_counted_under_its_own_reason(tmp_path):
    """The bug: ARC files (pre-WARC Internet Archive crawls) read as `corrupt_warc` or nothing."""
    import gzip
    arc = (b"filedesc://IA-001.arc 0.0.0.0 20050614070159 text/plain 76\n1 0 InternetArchive\n"
           b"URL IP-address Archive-date Content-type Archive-length\n\n"
           b"http://a.example/ 1.2.3.4 20050614070159 text/html 30\n<html>An old page here</html>\n")
    for name, data in (("x.arc", arc), ("x.arc.gz", gzip.compress(arc, mtime=0))):
        (dead,) = read(read_warc, write_warc(tmp_path / name, data))
        assert dead.reason == "read/arc_format" and dead.location.endswith("@0")


def test_one_language_code_system_whatever_the_reader(commoncrawl):
    """The bug: WET sources reported ISO 639-3 (`spa`) beside CLD2's and lid.176's ISO
    639-1 (`es`), two rows of one language in the manifest's table."""
    from sources.languages import iso639_1
    (wet,) = read(read_wet, commoncrawl / "whirlwind.warc.wet.gz")
    (warc,) = read(read_warc, commoncrawl / "whirlwind.warc.gz")
    assert wet.meta["language"] == warc.meta["language"] == "es"
    assert [iso639_1(c) for c in ("eng", "deu", "ger", "zh-Hant", "ES", "ceb", "und", "")] == \
        ["en", "de", "de", "zh", "es", "ceb", "und", ""]
