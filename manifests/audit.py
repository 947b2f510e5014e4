"""Reading what a build removed and what changed between two builds, document by document.

- `reject_samples`: the rejects/ records (output.rejects) grouped by reason, a fixed
  sample of each (the records whose id hashes lowest, so the same build always shows
  the same ones), so a user reads what a rule removed before trusting it; a dedup
  drop shows the id of the document kept instead and the similarity that linked them;
- `document_changes`: the ids kept by one build and not the other, from the two
  builds' documents datasets (output.documents), each with what the other build did
  with it: its reject reason there, or that it was not among its rejects (unread
  inputs are counted in the funnel, not recorded one by one).
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict

from manifests.documents import read_documents, shard_dataset_files
from manifests.files import read_bytes
from manifests.io import read_manifest, split_shards


def reject_records(output: str) -> list[dict]:
    """Every record of the build's rejects/ files, in the manifest's file order."""
    manifest = read_manifest(output)
    return [json.loads(line) for f in manifest.get("rejects", {}).get("files", [])
            for line in read_bytes(f"{output}/{f['path']}").decode("utf-8").splitlines() if line]


def sample_order(doc_id: str) -> str:
    return hashlib.sha256(doc_id.encode("utf-8")).hexdigest()


def reject_samples(output: str, reason: str | None = None, sample: int = 20) -> dict[str, tuple[int, list[dict]]]:
    """reason -> (records with it, the sample), for one reason or all of them."""
    by_reason = defaultdict(list)
    for record in reject_records(output):
        if reason is None or record["reason"] == reason:
            by_reason[record["reason"]].append(record)
    return {r: (len(rows), sorted(rows, key=lambda x: sample_order(x["id"]))[:sample])
            for r, rows in sorted(by_reason.items())}


def render_samples(samples: dict, chars: int = 160) -> str:
    lines = []
    for reason, (count, rows) in samples.items():
        lines.append(f"{reason}: {count:,} record{'s' * (count != 1)}, {len(rows)} shown")
        for row in rows:
            text = " ".join(row.get("text", "").split())
            measured = f"  ({row['measured']})" if row.get("measured") else ""
            if "kept" in row:      # a dedup drop: what was kept instead, and how alike they were
                similarity = f", similarity {row['similarity']}" if row.get("similarity") is not None else ""
                via = f", via {row['via']}" if row.get("via") else ""
                lines.append(f"  {row['id']}  kept instead: {row['kept']}{similarity}{via}")
                continue
            lines.append(f"  {row['id']}{measured}  {text[:chars]!r}")
    return "\n".join(lines) if lines else "no rejects recorded (output.rejects off, or nothing dropped)"


def kept_ids(output: str) -> dict[str, str]:
    """id -> source of every document in a build's documents dataset."""
    manifest = read_manifest(output)
    files = [f["path"] for _, s in split_shards(manifest) for f in shard_dataset_files(s)]
    if not files:
        raise ValueError(f"{output}: no documents dataset (the recipe's output.documents was off)")
    kept = {}
    for path in files:
        table = read_documents(f"{output}/{path}", ["id", "source"])
        kept.update(zip(table.column("id").to_pylist(), table.column("source").to_pylist()))
    return kept


def document_changes(a: str, b: str) -> dict:
    """{"added": [...], "removed": [...]} rows of (id, source, what the other build did with it)."""
    kept_a, kept_b = kept_ids(a), kept_ids(b)
    rejected = {a: {r["id"]: r["reason"] for r in reject_records(a)},
                b: {r["id"]: r["reason"] for r in reject_records(b)}}

    def rows(ids, kept, other):
        return [{"id": i, "source": kept[i], "in_other": rejected[other].get(i, "not kept, not among its rejects")}
                for i in sorted(ids)]
    return {"added": rows(kept_b.keys() - kept_a.keys(), kept_b, a),
            "removed": rows(kept_a.keys() - kept_b.keys(), kept_a, b),
            "kept_by_both": len(kept_a.keys() & kept_b.keys())}


def render_changes(changes: dict, a_name: str = "A", b_name: str = "B") -> str:
    lines = [f"documents kept by both: {changes['kept_by_both']:,}",
             f"added in {b_name}: {len(changes['added']):,} (what {a_name} did with them)"]
    lines += [f"  + {r['id']}  [{r['source']}]  {r['in_other']}" for r in changes["added"]]
    lines.append(f"removed in {b_name}: {len(changes['removed']):,} (why {b_name} dropped them)")
    lines += [f"  - {r['id']}  [{r['source']}]  {r['in_other']}" for r in changes["removed"]]
    return "\n".join(lines)
