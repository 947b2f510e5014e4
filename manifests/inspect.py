"""`manifests inspect`: the manifest as a human summary (or --json for machines)."""
from __future__ import annotations


def _n(x: int) -> str:
    return f"{x:,}"


def summary(manifest: dict, where: str = "") -> str:
    tok, stats = manifest["tokenizer"], manifest["stats"]
    w = max([len(name) for name in manifest["sources"]] + [10]) + 2
    lines = [f"corpus {manifest['name']!r}" + (f"  ({where})" if where else ""),
             f"tokenizer: {tok['path']}  vocab {_n(tok['vocab_size'])}  eos {tok['eos_id']}  "
             f"{tok['dtype']}  sha256 {tok['sha256'][:12]}",
             "",
             f"{'source':<{w}}{'kind':<6}{'epochs':>7}{'documents':>11}{'tokens':>13}{'in stream':>13}{'share':>8}"]
    for name, s in manifest["sources"].items():
        lines.append(f"{name:<{w}}{s['kind']:<6}{s['epochs']:>7g}{_n(s['documents']):>11}{_n(s['tokens']):>13}"
                     f"{_n(s['stream_tokens']):>13}{s['share']:>8.1%}")
    st = stats["shard_tokens"]
    lines += [f"{'total':<{w}}{'':<6}{'':>7}{_n(stats['documents']):>11}{_n(stats['tokens']):>13}"
              f"{_n(stats['stream_tokens']):>13}",
              "",
              f"shards: {stats['shards']}  tokens per shard min {_n(st['min'])} mean {st['mean']:,.0f} "
              f"max {_n(st['max'])}",
              "",
              f"{'funnel':<{w}}{'read':>8}{'kept':>8}  dropped / errors by reason"]
    for name, f in manifest["funnel"].items():
        reasons = {**f["dropped"], **{f"error:{k}": v for k, v in f["errors"].items()}}
        detail = ", ".join(f"{k} {v}" for k, v in reasons.items()) or "-"
        lines.append(f"{name:<{w}}{_n(f['read']):>8}{_n(f['kept']):>8}  {detail}")
    exact = manifest["dedup"]["exact"]
    lines.append(f"\ndedup (exact): {exact['removed']} removed in {exact['clusters']} clusters; "
                 f"dead letters: {stats['dead_letters']}")
    return "\n".join(lines)
