"""JSONL / JSONL.zst (Dolma) and chat JSONL readers, on files the tests write."""
import gzip
import json

import zstandard

from sources.document import DeadLetter, Document, Rejected
from sources.jsonl import read_chat, read_jsonl, render_chat
from sources.files import ReadContext

ROWS = [{"id": "d1", "text": "first document", "source": "c4", "metadata": {"url": "https://x/1"}},
        {"id": "d2", "text": "second document", "source": "c4", "url": "https://x/2"}]


def lines(*objs):
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objs)


def read(reader, path, **options):
    with open(path, "rb") as f:
        return list(reader(f, ReadContext("s", "text", str(path), path.name, options=options)))


def test_plain_gz_and_multi_frame_zst_read_the_same(tmp_path):
    data = lines(*ROWS)
    (tmp_path / "a.jsonl").write_bytes(data)
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(data))
    cctx = zstandard.ZstdCompressor()
    (tmp_path / "a.jsonl.zst").write_bytes(cctx.compress(lines(ROWS[0])) + cctx.compress(lines(ROWS[1])))
    results = [read(read_jsonl, tmp_path / n) for n in ("a.jsonl", "a.jsonl.gz", "a.jsonl.zst")]
    texts = [[d.text for d in r] for r in results]
    assert texts == [["first document", "second document"]] * 3
    doc = results[2][0]
    assert doc.id == "s/a.jsonl.zst@0" and doc.url == "https://x/1" and doc.meta["source_id"] == "d1"
    assert doc.meta["source"] == "c4" and results[2][1].url == "https://x/2"


def test_bad_lines_are_dead_lettered_and_reading_goes_on(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_bytes(lines(ROWS[0], b"{not json", {"id": "x"}, {"text": "   "}, b"", ROWS[1]))
    records = read(read_jsonl, path)
    assert [type(r).__name__ for r in records] == ["Document", "DeadLetter", "DeadLetter", "Rejected", "Document"]
    assert [r.reason for r in records if not isinstance(r, Document)] == \
        ["read/invalid_json", "read/no_text", "read/empty"]
    assert records[1].location.endswith("b.jsonl@1") and records[-1].id == "s/b.jsonl@5"


def test_corrupt_zstd_frame_keeps_earlier_frames(tmp_path):
    cctx = zstandard.ZstdCompressor()
    good = cctx.compress(lines(ROWS[0]))
    bad = bytearray(cctx.compress(lines(*ROWS * 50)))
    bad[len(bad) // 2:len(bad) // 2 + 8] = b"\xff" * 8
    path = tmp_path / "c.jsonl.zst"
    path.write_bytes(good + bytes(bad))
    records = read(read_jsonl, path)
    assert isinstance(records[0], Document) and records[0].text == "first document"
    assert isinstance(records[-1], DeadLetter) and records[-1].reason == "read/corrupt_compression"
    truncated = tmp_path / "d.jsonl.zst"
    truncated.write_bytes(good + cctx.compress(lines(*ROWS * 50))[:-20])
    assert read(read_jsonl, truncated)[-1].reason == "read/corrupt_compression"


def test_chat_records_render_with_documented_templates(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_bytes(lines({"prompt": "What is 2+2?", "response": "4.", "system": "Be brief."},
                           {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
                           {"messages": "nope"}, {"prompt": " ", "response": " "}))
    records = read(read_chat, path)
    assert records[0].text == "System: Be brief.\n\nUser: What is 2+2?\n\nAssistant: 4."
    assert records[1].text == "User: Hi\n\nAssistant: Hello!" and records[1].meta["turns"] == 2
    assert isinstance(records[2], DeadLetter) and records[2].reason == "read/bad_chat"
    assert isinstance(records[3], Rejected)
    chatml = read(read_chat, path, template="chatml")[1].text
    assert chatml == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>"
    assert render_chat([("user", " a ")]) == "User: a"
