"""`manifests report OUT`: the corpus as one self-contained HTML page with plots.

Plots: document length in tokens and in bytes per source (histograms), the
source mixture along the training stream, each source's epochs along the stream
(DESIGN.md's epoch rule made visible: epoch e of a source with E epochs fills
[e/E, (e+1)/E)), and the filter funnel per source. The stream plots and the
histograms come from the shards' lineage maps, read one shard at a time into
fixed bins, so the report's memory does not grow with the corpus. No network,
no plotting library: inline SVG (manifests/plots.py) and a few lines of script
that mark, once the browser has laid the page out, how many plots rendered.
"""
from __future__ import annotations

import math
from collections import defaultdict
from html import escape

import numpy as np

from manifests import plots
from manifests.files import open_file
from manifests.io import read_manifest, split_shards
from manifests.lineage import read_lineage

LENGTH_EDGES = [2 ** (i / 2) for i in range(0, 61)]   # 1 to 2**30, half-octave bins
STREAM_BINS = 60
REPORT_FILE = "report.html"

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 960px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 3px 10px; text-align: right; }
th { border-bottom: 1px solid #999; } td:first-child, th:first-child { text-align: left; }
figure { margin: 12px 0; } figcaption { color: #555; font-size: 13px; max-width: 720px; }
.plot .title { font-size: 13px; font-weight: 600; } .plot .tick, .plot .legend { font-size: 11px; }
.plot .label { font-size: 12px; fill: #444; } .plot .axis { stroke: #888; }
"""

# Marks, after layout, how many figures hold a drawn plot: what the browser test reads.
SCRIPT = """
const figures = [...document.querySelectorAll('figure')];
const drawn = figures.filter(f => {
  const svg = f.querySelector('svg');
  if (!svg) return false;
  const box = svg.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && svg.querySelectorAll('rect, polyline').length > 0;
});
document.body.dataset.plots = figures.length;
document.body.dataset.plotsRendered = drawn.length;
"""


def gather(output: str, manifest: dict) -> dict:
    """Histograms and stream bins from the lineage maps, shard by shard."""
    sources = list(manifest["sources"])
    tokens_hist = {s: np.zeros(len(LENGTH_EDGES) - 1, np.int64) for s in sources}
    bytes_hist = {s: np.zeros(len(LENGTH_EDGES) - 1, np.int64) for s in sources}
    mixture = defaultdict(lambda: np.zeros(STREAM_BINS, np.int64))        # source -> tokens per bin
    epochs = defaultdict(lambda: np.zeros((1, STREAM_BINS), np.int64))    # source -> [epoch, bin] tokens
    total = max(manifest["stats"]["stream_tokens"], 1)
    position = 0
    columns = ["source", "epoch", "token_offset", "tokens", "bytes"]
    for split, shard in split_shards(manifest):
        if split not in ("train", "validation"):
            continue   # a continuation phase's copies: its length mix is the phases figure's
        in_stream = split == "train"
        if "lineage" not in shard:
            return {}
        table = read_lineage(f"{output}/{shard['lineage']['path']}", columns)
        source = np.asarray(table.column("source").to_pylist(), dtype=object)
        epoch, offset, length, size = (table.column(c).to_numpy() for c in columns[1:])
        first = epoch == 0 if in_stream else np.ones(len(epoch), bool)   # each document once
        bins = np.minimum(((position + offset + length / 2) / total * STREAM_BINS).astype(int), STREAM_BINS - 1)
        for name in set(source.tolist()):
            mine = source == name
            tokens_hist[name] += np.histogram(length[mine & first], LENGTH_EDGES)[0]
            bytes_hist[name] += np.histogram(size[mine & first], LENGTH_EDGES)[0]
            if in_stream:
                mixture[name] += np.bincount(bins[mine], weights=length[mine], minlength=STREAM_BINS).astype(np.int64)
                for e in np.unique(epoch[mine]).tolist():
                    if e >= len(epochs[name]):
                        epochs[name] = np.vstack([epochs[name], np.zeros((e + 1 - len(epochs[name]), STREAM_BINS),
                                                                         np.int64)])
                    sel = mine & (epoch == e)
                    epochs[name][e] += np.bincount(bins[sel], weights=length[sel], minlength=STREAM_BINS).astype(np.int64)
        position += shard["tokens"] if in_stream else 0

    def columns_of(table):   # {category: per-bin array} -> per bin {category: tokens}
        return [{k: int(v[b]) for k, v in table.items()} for b in range(STREAM_BINS)]

    return {"tokens_hist": tokens_hist, "bytes_hist": bytes_hist, "mixture": columns_of(mixture),
            "epochs": {name: columns_of(dict(enumerate(rows))) for name, rows in epochs.items()}}


def _trim(hists: dict) -> tuple[list[float], dict]:
    """Drops empty bins at both ends, so the axis spans the data."""
    used = np.nonzero(sum(hists.values()))[0]
    lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 1)
    return LENGTH_EDGES[lo:hi + 1], {k: v[lo:hi].tolist() for k, v in hists.items()}


def figures(manifest: dict, data: dict) -> list[tuple[str, str, str]]:
    """(id, svg, caption) per plot."""
    out = []
    if data:
        edges, series = _trim(data["tokens_hist"])
        out.append(("tokens-per-document", plots.step_histogram(
            "Document length in tokens, per source", edges, series, "tokens per document (EOS included), log scale"),
            "Each document once (its first epoch, or its validation copy)."))
        edges, series = _trim(data["bytes_hist"])
        out.append(("bytes-per-document", plots.step_histogram(
            "Document length in bytes, per source", edges, series, "UTF-8 bytes per document, log scale"),
            "The same documents, measured in bytes of text."))
        out.append(("source-mixture", plots.stacked_shares(
            "Source mixture along the training stream", data["mixture"], list(manifest["sources"]),
            "position in the stream (shard order = training order)"),
            f"Tokens per source in {STREAM_BINS} equal slices of the stream; even bars mean every "
            "stretch of training sees the same mixture."))
        for name, bins in sorted(data["epochs"].items()):
            n = math.ceil(manifest["sources"][name]["epochs"])
            out.append((f"epochs-{name}", plots.stacked_shares(
                f"Epochs of {name} along the stream", bins, list(range(n)), "position in the stream", height=180),
                f"{name}: epoch e of {manifest['sources'][name]['epochs']:g} fills its own stretch of the stream."))
    if manifest.get("phases"):
        from manifests.phases import length_buckets
        phases = manifest["phases"]
        out.append(("phase-lengths", plots.grouped_bars(
            "Stream tokens by document length, per phase", length_buckets(),
            {f"{p['name']} ({p['seq_len'] // 1024}k)": p["lengths"] for p in phases},
            "document length in tokens (EOS included)"),
            "Each phase's stream tokens by the length of the document they belong to: a continuation "
            "phase draws long documents more often, each source keeping its pretraining share."))
    for name, f in manifest["funnel"].items():
        rows = [("read", f["read"], 0), ("kept", f["kept"], 2)]
        rows += [(reason, n, 3) for reason, n in sorted(f["dropped"].items(), key=lambda kv: -kv[1])]
        rows += [(f"error: {reason}", n, 1) for reason, n in sorted(f["errors"].items(), key=lambda kv: -kv[1])]
        out.append((f"funnel-{name}", plots.horizontal_bars(f"Filter funnel: {name}", rows),
                    f"{name}: documents read, kept, and dropped per stage and reason."))
    return out


def source_table(manifest: dict) -> str:
    head = ("source", "kind", "epochs", "documents", "tokens", "stream share", "bytes/token", "bits/word",
            "validation docs", "languages")
    rows = []
    for name, s in manifest["sources"].items():
        langs = ", ".join(f"{k} {v['documents']:,}" for k, v in list(s.get("languages", {}).items())[:4])
        cells = (name, s["kind"], f"{s['epochs']:g}", f"{s['documents']:,}", f"{s['tokens']:,}", f"{s['share']:.1%}",
                 s.get("bytes_per_token") or "-", s.get("words", {}).get("bits_per_word", "-"),
                 f"{s.get('validation', {}).get('documents', 0):,}", langs)
        rows.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>")


def render_report(output: str, manifest: dict) -> str:
    data = gather(output.rstrip("/"), manifest)
    stats, tok = manifest["stats"], manifest["tokenizer"]
    words = stats.get("words", {})
    facts = [f"{stats['documents']:,} documents, {stats['tokens']:,} tokens; {stats['stream_tokens']:,} tokens in "
             f"the training stream over {stats['shards']} shards",
             f"tokenizer: vocabulary {tok['vocab_size']:,}, {tok['dtype']}, sha256 {tok['sha256'][:12]}",
             f"bytes per token: {stats.get('bytes_per_token', '-')}; unigram entropy: "
             f"{words.get('bits_per_word', '-')} bits/word over {words.get('words', 0):,} words",
             f"validation split: {manifest.get('validation', {}).get('documents', 0):,} documents, "
             f"{manifest.get('validation', {}).get('tokens', 0):,} tokens"]
    body = [f"<h1>Corpus {escape(manifest['name'])}</h1>",
            "<ul>" + "".join(f"<li>{escape(f)}</li>" for f in facts) + "</ul>",
            "<h2>Sources</h2>", source_table(manifest)]
    if not data:
        body.append("<p>This corpus has no lineage maps (schema version 1): no length or stream plots.</p>")
    for fid, svg, caption in figures(manifest, data):
        body.append(f'<figure id="{escape(fid)}">{svg}<figcaption>{escape(caption)}</figcaption></figure>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>corpus {escape(manifest['name'])}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + f"\n<script>{SCRIPT}</script>\n</body></html>\n")


def write_report(output: str, path: str | None = None) -> str:
    path = path or f"{output.rstrip('/')}/{REPORT_FILE}"
    html = render_report(output, read_manifest(output))
    with open_file(path, "wb") as f:
        f.write(html.encode("utf-8"))
    return path
