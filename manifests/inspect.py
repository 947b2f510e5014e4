"""`manifests inspect`: the manifest as a human summary (or --json for machines)."""
from __future__ import annotations

import os


def _n(x: int) -> str:
    return f"{x:,}"


def summary(manifest: dict, where: str = "", shards: int = 8, root: str | None = None) -> str:
    """The manifest as text; `shards`: how many shards to list (the first and last half);
    `root`: the corpus folder, when local, to measure the phases' samples from the indexes."""
    tok, stats = manifest["tokenizer"], manifest["stats"]
    w = max([len(name) for name in manifest["sources"]] + [10]) + 2
    lines = [f"corpus {manifest['name']!r}" + (f"  ({where})" if where else ""),
             f"tokenizer: {tok['path']}  vocab {_n(tok['vocab_size'])}  eos {tok['eos_id']}  "
             f"{tok['dtype']}  sha256 {tok['sha256'][:12]}",
             *quality_line(tok.get("quality")),
             "",
             f"{'source':<{w}}{'kind':<6}{'epochs':>7}{'documents':>11}{'tokens':>13}{'in stream':>13}{'share':>8}"
             f"{'B/token':>9}{'bits/word':>10}{'val docs':>10}"]
    for name, s in manifest["sources"].items():
        lines.append(f"{name:<{w}}{s['kind']:<6}{s['epochs']:>7g}{_n(s['documents']):>11}{_n(s['tokens']):>13}"
                     f"{_n(s['stream_tokens']):>13}{s['share']:>8.1%}{_opt(s.get('bytes_per_token')):>9}"
                     f"{_opt(s.get('words', {}).get('bits_per_word')):>10}"
                     f"{_n(s.get('validation', {}).get('documents', 0)):>10}")
    st = stats["shard_tokens"]
    lines += [f"{'total':<{w}}{'':<6}{'':>7}{_n(stats['documents']):>11}{_n(stats['tokens']):>13}"
              f"{_n(stats['stream_tokens']):>13}{'':>8}{_opt(stats.get('bytes_per_token')):>9}"
              f"{_opt(stats.get('words', {}).get('bits_per_word')):>10}",
              *language_line(stats.get("languages", {})),
              "",
              f"shards: {stats['shards']}  tokens per shard min {_n(st['min'])} mean {st['mean']:,.0f} "
              f"max {_n(st['max'])}" + (f"  (target {_n(st['target'])}, furthest {st['max_deviation']:.1%} off)"
                                        if "target" in st else ""),
              *validation_line(manifest.get("validation")),
              *phase_lines(manifest, root),
              *shard_table(manifest, shards),
              "",
              *funnel_table(manifest["funnel"]),
              *tally_lines(manifest.get("tallies", {}), manifest.get("decontamination", {"enabled": False}))]
    dedup = manifest["dedup"]
    methods = [f"{m} {dedup[m]['removed']} removed in {dedup[m]['groups']} groups"
               for m in ("exact", "url", "near") if dedup[m]["enabled"]]
    lines.append(f"\ndedup ({dedup['scope']} sources): {'; '.join(methods) or 'off'}; "
                 f"dead letters: {stats['dead_letters']}")
    if "rejects" in manifest:
        lines.append(f"rejects: {_n(manifest['rejects']['records'])} records under {manifest['rejects']['path']}")
    return "\n".join(lines)


def _opt(x) -> str:
    return "-" if x is None else f"{x:g}"


def language_line(languages: dict) -> list[str]:
    if not languages:
        return []
    ranked = sorted(languages.items(), key=lambda kv: -kv[1]["tokens"])
    shown = ", ".join(f"{lang} {_n(v['documents'])} docs / {_n(v['tokens'])} tokens" for lang, v in ranked[:6])
    return [f"languages: {shown}" + (f" (+{len(ranked) - 6} more)" if len(ranked) > 6 else "")]


def validation_line(validation: dict | None) -> list[str]:
    if not validation or not validation["shards"]:
        return ["validation: none held out"]
    return [f"validation: {_n(validation['documents'])} documents, {_n(validation['tokens'])} tokens in "
            f"{len(validation['shards'])} shard(s), written once"]


def shard_table(manifest: dict, limit: int) -> list[str]:
    """One row per shard (the first and last limit/2 of a long list): documents, tokens,
    distance from the target, each source's share of its tokens, the epochs in it."""
    from manifests.io import split_shards
    records = [record for _, record in split_shards(manifest)]
    if not records or limit <= 0:
        return []
    target = manifest["stats"]["shard_tokens"].get("target")
    names = list(manifest["sources"])
    w = max(len(r["path"]) for r in records) + 2
    lines = ["", f"{'shard':<{w}}{'documents':>10}{'tokens':>12}{'vs target':>10}  "
             + "".join(f"{n[:12]:>13}" for n in names) + "  epochs"]
    shown = records if len(records) <= limit else records[:limit // 2] + [None] + records[-(limit - limit // 2):]
    for r in shown:
        if r is None:
            lines.append(f"{'...':<{w}}({len(records) - limit} more; inspect --shards N)")
            continue
        off = f"{(r['tokens'] - target) / target:+.1%}" if target and r["path"].startswith("shard-") else ""
        shares = "".join(f"{r['tokens_by_source'].get(n, 0) / (r['tokens'] or 1):>13.1%}" for n in names)
        lines.append(f"{r['path']:<{w}}{_n(r['documents']):>10}{_n(r['tokens']):>12}{off:>10}  {shares}  "
                     f"{','.join(r['tokens_by_epoch'])}")
    return lines


def phase_lines(manifest: dict, root: str | None = None) -> list[str]:
    """The training phases (manifests/phases.py): each one's stream, sources' shares, length
    mix and copies; with the corpus at hand, how often a continuation phase's sample is
    mostly one document, against the pretraining stream cut at the same length."""
    from manifests.phases import length_buckets
    phases = manifest.get("phases") or []
    if not phases:
        return []
    names = sorted({n for p in phases for n in p["sources"]})
    w = max(len(p["name"]) for p in phases) + 2
    lines = ["", f"{'phase':<{w}}{'seq_len':>8}{'tokens':>13}{'shards':>7}  "
             + "".join(f"{n[:14]:>15}" for n in names) + "   (share of the phase's tokens)"]
    for i, p in enumerate(phases):
        count = len(manifest["shards"]) if i == 0 else len(p["shards"])
        lines.append(f"{p['name']:<{w}}{p['seq_len']:>8}{_n(p['tokens']):>13}{count:>7}  "
                     + "".join(f"{p['sources'].get(n, {}).get('share', 0):>15.2%}" for n in names))
    for p in phases:
        total = sum(p["lengths"].values()) or 1
        mix = ", ".join(f"{b} {p['lengths'].get(b, 0) / total:.0%}" for b in length_buckets())
        lines.append(f"  {p['name']} by document length (tokens): {mix}")
    for p in phases[1:]:
        for name, s in p["sources"].items():
            got = s["long"]["tokens"] / (s["tokens"] or 1)
            copies = ", ".join(f"{n}x {_n(d)}" for n, d in s["copies"].items())
            lines.append(f"  {p['name']} {name}: {got:.1%} of its tokens from documents of {_n(p['long_min_tokens'])}+ "
                         f"tokens (goal {p['long_share']:.0%}); documents by copies: {copies}"
                         + ("; repository documents" if s.get("repository") else ""))
    if root and os.path.isdir(root):
        lines += coverage_lines(manifest, root)
    return lines


def phase_lengths(manifest: dict, root: str, phase: dict, first: bool):
    """The document lengths of a phase's stream in order, from its shards' indexes."""
    import numpy as np

    from manifests.shard_format import IndexedShard
    shards = manifest["shards"] if first else phase["shards"]
    parts = [IndexedShard(os.path.join(root, s["path"][:-4])).lengths for s in shards]
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


def coverage_lines(manifest: dict, root: str) -> list[str]:
    """Per continuation phase's seq_len: the share of samples whose longest document piece
    covers at least half the sample, in every phase's stream cut at that length."""
    from manifests.phases import longest_document_coverage
    phases = manifest["phases"]
    lengths = [phase_lengths(manifest, root, p, i == 0) for i, p in enumerate(phases)]
    lines = []
    for seq_len in sorted({p["seq_len"] for p in phases[1:]}):
        cells = []
        for p, ls in zip(phases, lengths):
            cover = longest_document_coverage(ls, seq_len)
            half = float((cover >= 0.5).mean()) if len(cover) else 0.0
            cells.append(f"{p['name']} {half:.1%} of {_n(len(cover))} (mean longest {cover.mean() if len(cover) else 0:.0%})")
        lines.append(f"  samples of {_n(seq_len)} tokens whose longest document covers half or more: "
                     + "; ".join(cells))
    return lines


def quality_line(quality: dict | None) -> list[str]:
    if not quality:
        return []
    held = ", ".join(f"{kind} {q['bytes_per_token']} ({_n(q['documents'])} docs)"
                     for kind, q in quality["held_out"].items()) or "none held out"
    return [f"  bytes/token on held-out documents: {held}; vocabulary used {quality['vocab_used_share']:.1%}"]


def funnel_table(funnel: dict) -> list[str]:
    """Per source: read and kept, then one row per drop or error reason with its share of reads."""
    reasons = [r for f in funnel.values() for r in [*f["dropped"], *f["errors"]]]
    w = max([len(name) for name in funnel] + [len(r) + 2 for r in reasons] + [10]) + 2
    lines = [f"{'funnel':<{w}}{'documents':>11}{'of read':>9}"]
    for name, f in funnel.items():
        read = f["read"] or 1
        lines += [f"{name:<{w}}{_n(f['read']):>11}{'read':>9}",
                  f"{'  kept':<{w}}{_n(f['kept']):>11}{f['kept'] / read:>9.1%}"]
        rows = [*f["dropped"].items(), *((f"error:{k}", v) for k, v in f["errors"].items())]
        for reason, n in sorted(rows, key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"{'  ' + reason:<{w}}{_n(n):>11}{n / read:>9.1%}")
    return lines


def tally_lines(tallies: dict, decontamination: dict) -> list[str]:
    lines = []
    rows = [(name, what, n) for name, t in tallies.items() for what, n in t.items()]
    if rows:
        lines += ["", "tallies (counted, not dropped):"]
        lines += [f"  {name}: {what} {_n(n)}" for name, what, n in rows]
    if decontamination.get("enabled"):
        lines += ["", f"decontamination ({decontamination['ngram']}-grams, {decontamination['mode']}):"]
        for name, s in decontamination["sets"].items():
            by = ", ".join(f"{k} {v}" for k, v in s["matched_by_source"].items()) or "-"
            lines.append(f"  {name}: {s['texts']} texts ({s['short_texts']} under {decontamination['ngram']} words), "
                         f"{_n(s['ngrams'])} n-grams; {s['documents_matched']} documents matched ({by})")
    return lines
