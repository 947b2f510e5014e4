"""JSON Lines readers: Dolma-style documents and chat/fine-tuning data.

Files may be plain, `.gz` or `.zst`/`.zstd` (zstandard; concatenated frames and
members are read in sequence); decompression streams in 64 KB chunks, so a file
is never held in memory whole. A
line that is not JSON, or lacks its text, is dead-lettered with its line number;
a corrupt or truncated compressed stream dead-letters the rest of the file.

`jsonl`: `{"id", "text", "source", "metadata"}` (Dolma); `columns` maps `text`,
`id` and `url` to other keys. The record's own id is kept as meta `source_id`.

`chat-jsonl`: internal fine-tuning data, one conversation per line, either
`{"prompt": ..., "response": ...}` or `{"messages": [{"role", "content"}, ...]}`,
rendered to text by a template (`template:` in the recipe):

    plain   (default)  "User: ...\\n\\nAssistant: ..."   roles System/User/Assistant
    chatml             "<|im_start|>user\\n...<|im_end|>\\n<|im_start|>assistant\\n...<|im_end|>"

The ChatML markers are ordinary text to our tokenizer (they are not special tokens).
"""
from __future__ import annotations

import json
import zlib
from typing import Any, BinaryIO, Iterator

import zstandard

from sources.document import DeadLetter, Document, Rejected, document_id
from sources.integrity import FrameDecoder, new_gzip_decoder
from sources.files import ReadContext

Record = Document | Rejected | DeadLetter
CHAT_TEMPLATES = ("plain", "chatml")


CHUNK = 1 << 16


class TruncatedStream(ValueError):
    """The compressed stream ended inside a frame or member."""


def _frames(stream: BinaryIO, new_decoder) -> Iterator[bytes]:
    """Decompressed chunks of a stream of concatenated frames (zstd) or members (gzip).

    Decoding chunk by chunk, rather than through a buffered reader, yields every
    frame before a corrupt one: a buffered reader reads ahead into the damage and
    fails before handing over the good lines."""
    frames = FrameDecoder(new_decoder)
    while data := stream.read(CHUNK):
        yield from frames.feed(data)
    if frames.in_frame:
        raise TruncatedStream("compressed stream ends inside a frame")


def decompressed_chunks(stream: BinaryIO, path: str) -> Iterator[bytes]:
    if path.endswith((".zst", ".zstd")):
        dctx = zstandard.ZstdDecompressor()
        return _frames(stream, dctx.decompressobj)
    if path.endswith(".gz"):
        return _frames(stream, new_gzip_decoder)
    return iter(lambda: stream.read(CHUNK), b"")


def split_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def json_lines(stream: BinaryIO, ctx: ReadContext) -> Iterator[tuple[int, Any] | DeadLetter]:
    """(line number, parsed object) per non-blank line, or DeadLetters."""
    lines = split_lines(decompressed_chunks(stream, ctx.path))
    line_no = -1
    try:
        for line_no, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield DeadLetter(ctx.source, f"{ctx.path}@{line_no}", "read/invalid_json", str(exc)[:200])
    except (zstandard.ZstdError, zlib.error, TruncatedStream) as exc:
        yield DeadLetter(ctx.source, f"{ctx.path}@{line_no + 1}", "read/corrupt_compression", repr(exc))


def dolma_record(ctx: ReadContext, line_no: int, obj: Any) -> Record:
    text_key, id_key = ctx.columns.get("text", "text"), ctx.columns.get("id", "id")
    url_key = ctx.columns.get("url", "url")
    text = obj.get(text_key) if isinstance(obj, dict) else None
    if not isinstance(text, str):
        return DeadLetter(ctx.source, f"{ctx.path}@{line_no}", "read/no_text", f"no string {text_key!r}")
    doc_id = document_id(ctx.source, ctx.relpath, line_no)
    if not text.strip():
        return Rejected(ctx.source, doc_id, "read/empty")
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    url = obj.get(url_key) or metadata.get("url") or ""
    meta = {"format": "text", "source_id": str(obj.get(id_key, "")),
            **{k: v for k, v in obj.items() if k not in (text_key, id_key, url_key)}}
    return Document(id=doc_id, text=text, kind=ctx.kind, source=ctx.source, url=str(url), meta=meta)


def chat_record(ctx: ReadContext, line_no: int, obj: Any) -> Record:
    template = ctx.options.get("template", "plain")
    try:
        messages = chat_messages(obj if isinstance(obj, dict) else {})
    except ValueError as exc:
        return DeadLetter(ctx.source, f"{ctx.path}@{line_no}", "read/bad_chat", str(exc))
    doc_id = document_id(ctx.source, ctx.relpath, line_no)
    if not any(c.strip() for _, c in messages):
        return Rejected(ctx.source, doc_id, "read/empty")
    return Document(id=doc_id, text=render_chat(messages, template), kind=ctx.kind, source=ctx.source,
                    meta={"format": "text", "template": template, "turns": len(messages)})


def read_jsonl(stream: BinaryIO, ctx: ReadContext) -> Iterator[Record]:
    for item in json_lines(stream, ctx):
        yield item if isinstance(item, DeadLetter) else dolma_record(ctx, *item)


def read_chat(stream: BinaryIO, ctx: ReadContext) -> Iterator[Record]:
    for item in json_lines(stream, ctx):
        yield item if isinstance(item, DeadLetter) else chat_record(ctx, *item)


def chat_messages(obj: dict) -> list[tuple[str, str]]:
    """[(role, content)] from either record shape; ValueError if neither fits."""
    if isinstance(obj.get("messages"), list):
        messages = [(str(m.get("role", "")).lower(), m.get("content")) for m in obj["messages"] if isinstance(m, dict)]
    elif "prompt" in obj and "response" in obj:
        messages = [("system", obj["system"])] if obj.get("system") else []
        messages += [("user", obj["prompt"]), ("assistant", obj["response"])]
    else:
        raise ValueError("expected 'messages' or 'prompt' and 'response'")
    if not messages or not all(isinstance(c, str) and role for role, c in messages):
        raise ValueError("every message needs a role and string content")
    return messages


def render_chat(messages: list[tuple[str, str]], template: str = "plain") -> str:
    if template == "plain":
        return "\n\n".join(f"{role.capitalize()}: {content.strip()}" for role, content in messages)
    if template == "chatml":
        return "\n".join(f"<|im_start|>{role}\n{content.strip()}<|im_end|>" for role, content in messages)
    raise ValueError(f"unknown chat template {template!r}; choose one of {CHAT_TEMPLATES}")
