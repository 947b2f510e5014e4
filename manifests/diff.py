"""`manifests diff A B`: what changed between two corpus builds.

Both manifests are flattened to `section/key/...` paths and compared value by
value (the recipe with its defaults resolved, where both builds recorded it), section by section (recipe, code, tokenizer, sources, validation, funnel,
dedup, decontamination, stats, shards). Numbers show their change; shards are
compared by content (sha256), so "same tokens, renamed" and "same names, new
tokens" read differently. Pure: two dicts in, rows out.
"""
from __future__ import annotations

from typing import Any, Iterator

SECTIONS = ("schema_version", "recipe", "code_version", "tokenizer", "sources", "validation", "funnel",
            "tallies", "dedup", "decontamination", "stats", "megatron")
SHARD_LISTS = {"shards": "shards", "validation/shards": "validation shards"}


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of nested dicts as (path, value); lists of scalars stay whole."""
    if isinstance(value, dict):
        for key in sorted(value):
            yield from flatten(value[key], f"{prefix}/{key}" if prefix else str(key))
    elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        for i, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def without_shard_lists(manifest: dict) -> dict:
    out = {k: v for k, v in manifest.items() if k in SECTIONS}
    if isinstance(out.get("validation"), dict):
        out["validation"] = {k: v for k, v in out["validation"].items() if k != "shards"}
    return out


def change(old: Any, new: Any) -> str:
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool) \
            and not isinstance(new, bool):
        delta = new - old
        rel = f", {delta / old:+.1%}" if old else ""
        fmt = (lambda x: f"{x:,}") if isinstance(old, int) and isinstance(new, int) else (lambda x: f"{x:,.6g}")
        return f"{fmt(old)} -> {fmt(new)} ({'+' if delta >= 0 else ''}{fmt(delta)}{rel})"
    return f"{old!r} -> {new!r}"


def with_resolved_recipe(manifest: dict) -> dict:
    """The manifest with its `recipe` section replaced by every setting the build used,
    defaults included (version 5's `resolved_recipe`), so a setting left to its default on
    one side reads `50 -> 100`, not `None -> 100`."""
    if "resolved_recipe" not in manifest:
        return manifest
    return {**manifest, "recipe": manifest["resolved_recipe"]}


def diff_values(a: dict, b: dict) -> list[dict]:
    """Every leaf that differs: {section, path, old, new}; absent on one side is None. The
    recipes compare resolved when both builds recorded theirs."""
    if "resolved_recipe" in a and "resolved_recipe" in b:
        a, b = with_resolved_recipe(a), with_resolved_recipe(b)
    left, right = dict(flatten(without_shard_lists(a))), dict(flatten(without_shard_lists(b)))
    rows = []
    for path in sorted(set(left) | set(right), key=lambda p: (SECTIONS.index(p.split("/")[0].split("[")[0]), p)):
        old, new = left.get(path), right.get(path)
        if old != new:
            rows.append({"section": path.split("/")[0], "path": path, "old": old, "new": new})
    return rows


def diff_shards(a: list[dict], b: list[dict]) -> dict:
    """Shard files compared by content: how many are byte-identical, and which changed."""
    by_sha_a, by_sha_b = {s["sha256"]: s["path"] for s in a}, {s["sha256"]: s["path"] for s in b}
    same = sorted(set(by_sha_a) & set(by_sha_b))
    return {"count": [len(a), len(b)], "identical": len(same),
            "tokens": [sum(s["tokens"] for s in a), sum(s["tokens"] for s in b)],
            "only_in_a": sorted(p for sha, p in by_sha_a.items() if sha not in by_sha_b),
            "only_in_b": sorted(p for sha, p in by_sha_b.items() if sha not in by_sha_a)}


def diff_manifests(a: dict, b: dict) -> dict:
    shards = {name: diff_shards(_at(a, key), _at(b, key)) for key, name in SHARD_LISTS.items()}
    return {"values": diff_values(a, b), "shards": shards}


def _at(manifest: dict, key: str) -> list:
    value: Any = manifest
    for part in key.split("/"):
        value = value.get(part, {}) if isinstance(value, dict) else {}
    return value if isinstance(value, list) else []


def is_identical(d: dict) -> bool:
    return not d["values"] and all(not s["only_in_a"] and not s["only_in_b"] for s in d["shards"].values())


def render(d: dict, a_name: str = "A", b_name: str = "B") -> str:
    lines = [f"diff {a_name} -> {b_name}"]
    if is_identical(d):
        return lines[0] + "\nidentical: same recipe, counts, tokenizer and shard contents"
    section = None
    for row in d["values"]:
        if row["section"] != section:
            section = row["section"]
            lines += ["", f"[{section}]"]
        lines.append(f"  {row['path'].removeprefix(section).lstrip('/') or section}: {change(row['old'], row['new'])}")
    for name, s in d["shards"].items():
        if not s["count"][0] and not s["count"][1]:
            continue
        lines += ["", f"[{name}]", f"  files: {change(*s['count'])}; tokens: {change(*s['tokens'])}; "
                                   f"{s['identical']} byte-identical"]
        for side, paths in ((a_name, s["only_in_a"]), (b_name, s["only_in_b"])):
            if paths:
                lines.append(f"  only in {side}: {', '.join(paths[:8])}" + (f" (+{len(paths) - 8} more)"
                                                                          if len(paths) > 8 else ""))
    return "\n".join(lines)
