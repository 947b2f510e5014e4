"""Common Crawl path listings (`type: cc-listing`): `warc.paths.gz`, `wet.paths.gz`.

A listing names one file per line, relative to the crawl's root. With `base_url`
(`https://data.commoncrawl.org/`, `s3://commoncrawl/`, or a local mirror) each
line becomes one input, so the files of a crawl are read in parallel; `limit: N`
takes the first N lines, to try one segment before the whole crawl. Listed files
are read by the WARC or WET reader according to their name; HTTP(S) inputs are
streamed with retries and range resumption (sources/http.py).
"""
from __future__ import annotations

import gzip
from typing import BinaryIO, Iterator, Mapping

from sources.document import DeadLetter
from sources.files import InputFile, ReadContext, expand_paths, open_input
from sources.http import is_url
from sources.warc import read_warc, read_wet


def listing_lines(path: str, options: Mapping) -> list[str]:
    with open_input(path, options) as stream:
        data = stream.read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    return [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]


def listing_inputs(patterns: list[str], options: Mapping) -> tuple[list[InputFile], list[InputFile]]:
    """One input per listed line (none ignored)."""
    local = [p for p in patterns if not is_url(p)]
    listings = [p for p in patterns if is_url(p)] + ([f.path for f in expand_paths(local)] if local else [])
    base = str(options.get("base_url", "")).rstrip("/")
    lines = [line for listing in listings for line in listing_lines(listing, options)]
    if options.get("limit"):
        lines = lines[: int(options["limit"])]
    return [InputFile(path=f"{base}/{line}" if base else line, relpath=line, size=0) for line in lines], []


def read_listed(stream: BinaryIO, ctx: ReadContext) -> Iterator:
    if ctx.path.endswith((".warc.wet.gz", ".warc.wet")):
        yield from read_wet(stream, ctx)
    elif ctx.path.endswith((".warc.gz", ".warc")):
        yield from read_warc(stream, ctx)
    else:
        yield DeadLetter(ctx.source, f"{ctx.path}@0", "read/unsupported_listing_entry",
                         "listed file is neither a WARC nor a WET file")
