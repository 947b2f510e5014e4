"""`manifests verify`: re-check a corpus on disk against its manifest, every byte a trainer uses.

Each problem is one line naming the file and the field; nothing raises. Checked:
- manifest.json: present, JSON, valid against the schema of its version;
- the funnel: balanced per source, its `kept` equal to the source's documents, its
  dedup drops equal to the `dedup` section's, its errors equal to what
  dead_letters.jsonl holds and its stage drops to what rejects/ holds (both hashed);
- the tokenizer: tokenizer.json's sha256, and its vocabulary size, special tokens,
  EOS and token dtype recomputed with HF tokenizers; tokenizer_config.json and
  special_tokens_map.json hashed, their EOS the manifest's;
- every shard of both splits, in training order (index i is `shard-0000i`): its files
  present (.bin, .idx, datatrove's .bin.index, the lineage parquet, the dataset file), sizes and
  sha256 as recorded, the .idx parses as MMIDIDX, its lengths and pointers agree with
  the .bin, its document and token counts match, every document ends with EOS;
- the totals: stream tokens and documents, the validation split, the shard count;
  the `megatron` section recomputed from the shards;
- no file in the output that the manifest does not list (a stray shard would be
  read by datatrove's `shard-*.bin` pattern);
- from the lineage maps: every whole epoch of a source holds each of its training
  documents once (documents and tokens exactly), a fractional last epoch at most
  that, no epoch beyond; each document in the split its id's hash assigns; tokens
  per source and per epoch in each shard as the manifest says;
- the documents dataset (output.documents), hashed like the shard's other files: each
  shard's file holds exactly its first copies (epoch 0), in order, with their token
  counts, and a shard with first copies has one;
- each continuation phase's shards (checked as every shard is) against its rule, from the
  lineage maps (phase_problems).
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict

import numpy as np

from manifests.build import funnel_problems, megatron_args
from manifests.documents import read_documents, shard_dataset_files
from manifests.files import exists, list_files, open_file, read_bytes
from manifests.io import LOCK_FILE, MANIFEST_FILE, manifest_path, read_manifest, split_shards, validation_errors
from manifests.lineage import LINEAGE_SUFFIX, read_lineage
from manifests.phases import LONG, SHORT, length_class, phase_copy_keys
from manifests.report import REPORT_FILE
from manifests.shard_format import IndexedShard, shard_name, stream_sha256, token_dtype
from manifests.splits import TRAIN, VALIDATION, in_validation

SHARD_FILES = ("ds_index", "lineage")   # the files a shard record lists beside its .bin, .idx and dataset files
# the stages whose drops rejects/ records (and dedup's, since version 5)
REJECT_STAGES = ("extract", "normalize", "filter", "decontaminate")
LEGACY_UNHASHED = ("dead_letters.jsonl", "tokenizer_config.json", "special_tokens_map.json")   # before version 3


def sha256_of(path: str) -> tuple[str, int]:
    with open_file(path) as f:
        return stream_sha256(f)


def verify(output: str) -> list[str]:
    """All problems found; an empty list means the corpus is intact."""
    output = output.rstrip("/")
    manifest, problems = load(output)
    if manifest is None:
        return problems
    problems = funnel_problems(manifest["funnel"]) + funnel_ties(manifest)
    problems += tokenizer_problems(output, manifest)
    problems += order_problems(manifest)
    shards = split_shards(manifest)
    for _, shard in shards:
        problems += guarded(check_shard, output, shard, manifest["tokenizer"]["dtype"], manifest["tokenizer"]["eos_id"])
    problems += total_problems(manifest)
    problems += guarded(record_file_problems, output, manifest)
    problems += guarded(stray_files, output, manifest)
    if not problems and all("lineage" in s for _, s in shards):
        problems += guarded(epoch_problems, output, manifest)
        problems += guarded(dataset_problems, output, manifest)
        problems += guarded(phase_problems, output, manifest)
    return problems


def dataset_problems(output: str, manifest: dict) -> list[str]:
    """The documents dataset (output.documents) against the lineage maps: each shard's files
    hold its first copies (epoch 0), in stream order, once each, and nothing else."""
    if not (manifest["recipe"].get("output") or {}).get("documents"):
        return []
    problems = []
    for split, shard in split_shards(manifest):
        if split not in (TRAIN, VALIDATION):
            continue   # a continuation phase's documents are in the dataset through their pretraining copies
        table = read_lineage(f"{output}/{shard['lineage']['path']}", ["id", "epoch", "tokens"])
        first = [(i, t) for i, e, t in zip(*(table.column(c).to_pylist() for c in table.column_names)) if e == 0]
        files = shard_dataset_files(shard)
        if not files:
            if first:
                problems.append(f"{shard['path']}: {len(first)} first copies and no documents dataset file")
            continue
        rows = []
        for f in files:
            table = read_documents(f"{output}/{f['path']}", ["id", "tokens"])
            if table.num_rows != f["rows"]:
                problems.append(f"{f['path']}: {table.num_rows} rows, manifest says {f['rows']}")
            rows += zip(*(table.column(c).to_pylist() for c in table.column_names))
        if rows != first:
            problems.append(f"{shard['path']}: its documents dataset files' ids or token counts are not "
                            f"{shard['lineage']['path']}'s first copies in order")
    return problems


def published_files(manifest: dict) -> list[dict]:
    """The files the clean job made beside the corpus (version 5): the quality classifiers'
    model and info files the build trained, and its dedup index."""
    return [c[name] for _, c in sorted(manifest.get("classifiers", {}).items()) for name in ("model", "info")] + \
        manifest.get("dedup_index", {}).get("files", [])


def guarded(check, output: str, *args) -> list[str]:
    """A check that meets an unreadable file reports it instead of raising."""
    try:
        return check(output, *args)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        return [f"{getattr(check, '__name__', 'check')}: {type(exc).__name__}: {exc}"]


def load(output: str) -> tuple[dict | None, list[str]]:
    path = manifest_path(output)
    if not exists(path):
        return None, [f"{MANIFEST_FILE}: missing: no finished corpus at {output}"]
    try:
        manifest = read_manifest(output)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, [f"{MANIFEST_FILE}: not JSON: {exc}"]
    errors = validation_errors(manifest)
    if errors:   # the checks below read the manifest's structure: trust it only once valid
        return None, [f"{MANIFEST_FILE}: {e}" for e in errors] + [f"{MANIFEST_FILE}: does not match its schema: "
                                                                  "files not checked"]
    return manifest, []


def funnel_ties(manifest: dict) -> list[str]:
    """What the funnel must agree with inside the manifest: each source's kept documents
    (both splits, as tokenized) and the dedup section's removals."""
    problems = []
    funnel, sources = manifest["funnel"], manifest["sources"]
    for name, f in funnel.items():
        if name in sources and f["kept"] != sources[name]["documents"]:
            problems.append(f"funnel.{name}.kept: {f['kept']}, but sources.{name}.documents is "
                            f"{sources[name]['documents']}")
    for method, figures in manifest["dedup"].items():
        if not isinstance(figures, dict) or "removed_by_source" not in figures:
            continue
        by_source = figures["removed_by_source"]
        if figures["removed"] != sum(by_source.values()):
            problems.append(f"dedup.{method}.removed: {figures['removed']} != the sum of removed_by_source "
                            f"({sum(by_source.values())})")
        for name, f in funnel.items():
            dropped = f["dropped"].get(f"dedup/{method}", 0)
            if dropped != by_source.get(name, 0):
                problems.append(f"funnel.{name}.dropped.dedup/{method}: {dropped}, but dedup.{method}."
                                f"removed_by_source.{name} is {by_source.get(name, 0)}")
    return problems


def tokenizer_problems(output: str, manifest: dict) -> list[str]:
    """tokenizer.json against its hash, and what the manifest says of it recomputed with
    HF tokenizers; the files transformers loads beside it."""
    from tokenizers import Tokenizer
    tok = manifest["tokenizer"]
    path = f"{output}/{tok['path']}"
    if not exists(path):
        return [f"{tok['path']}: missing"]
    data = read_bytes(path)
    if hashlib.sha256(data).hexdigest() != tok["sha256"]:
        return [f"{tok['path']}: sha256 mismatch (tokenizer.sha256)"]
    try:
        tokenizer = Tokenizer.from_str(data.decode("utf-8"))
    except Exception as exc:   # noqa: BLE001 - the Rust library raises its own exception type
        return [f"{tok['path']}: not a tokenizer: {exc}"]
    problems = []
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    if vocab != tok["vocab_size"]:
        problems.append(f"tokenizer.vocab_size: {tok['vocab_size']}, {tok['path']} has {vocab}")
    if token_dtype(vocab).name != tok["dtype"]:
        problems.append(f"tokenizer.dtype: {tok['dtype']}, a vocabulary of {vocab} needs {token_dtype(vocab).name}")
    for content, token_id in tok["special_tokens"].items():
        if tokenizer.token_to_id(content) != token_id:
            problems.append(f"tokenizer.special_tokens.{content}: {token_id}, {tok['path']} has "
                            f"{tokenizer.token_to_id(content)}")
    if tok["eos_id"] not in tok["special_tokens"].values():
        problems.append(f"tokenizer.eos_id: {tok['eos_id']} is not one of the special tokens")
    for name, record in tok.get("files", {}).items():
        if not exists(f"{output}/{name}"):
            problems.append(f"{name}: missing")
            continue
        if sha256_of(f"{output}/{name}") != (record["sha256"], record["bytes"]):
            problems.append(f"{name}: bytes or sha256 do not match tokenizer.files")
            continue
        eos = json.loads(read_bytes(f"{output}/{name}")).get("eos_token")
        eos = eos.get("content") if isinstance(eos, dict) else eos
        if tokenizer.token_to_id(eos or "") != tok["eos_id"]:
            problems.append(f"{name}: eos_token {eos!r} is not token {tok['eos_id']}, tokenizer.eos_id")
    return problems


def order_problems(manifest: dict) -> list[str]:
    """`shards` is the training order: record i is shard i, named for it (both splits)."""
    problems = []
    streams = [(TRAIN, manifest["shards"]), (VALIDATION, manifest.get("validation", {}).get("shards", []))] + \
        [(phase["name"], phase["shards"]) for phase in manifest.get("phases", [])[1:]]
    for split, records in streams:
        for i, record in enumerate(records):
            name = shard_name(split, i)
            expected = {"index": i, "path": f"{name}.bin", "idx": f"{name}.idx", "ds_index": f"{name}.bin.index",
                        "lineage": f"{name}{LINEAGE_SUFFIX}"}
            actual = {"index": record["index"], "path": record["path"], "idx": record["idx"]["path"],
                      **{k: record[k]["path"] for k in ("ds_index", "lineage") if k in record}}
            wrong = [k for k in actual if actual[k] != expected[k]]
            if wrong:
                problems.append(f"{'shards' if split == TRAIN else f'{split}.shards'}[{i}]: "
                                f"{', '.join(f'{k} {actual[k]!r}' for k in wrong)}: position {i} of the "
                                f"{split} order is {name}")
    return problems


def check_shard(output: str, shard: dict, dtype: str, eos_id: int) -> list[str]:
    problems = []
    for rec in (shard, shard["idx"], *(shard[k] for k in SHARD_FILES if k in shard), *shard_dataset_files(shard)):
        path = f"{output}/{rec['path']}"
        if not exists(path):
            return [f"{rec['path']}: missing"]
        digest, size = sha256_of(path)
        if size != rec["bytes"]:
            problems.append(f"{rec['path']}: {size} bytes, manifest says {rec['bytes']}")
        if digest != rec["sha256"]:
            problems.append(f"{rec['path']}: sha256 mismatch")
    if problems:
        return problems
    try:
        idx = IndexedShard(f"{output}/{shard['path'][:-4]}")
    except (ValueError, KeyError, OSError) as exc:
        return [f"{shard['idx']['path']}: unreadable index: {exc}"]
    name = shard["path"]
    lengths = idx.lengths.astype(np.int64)
    expected_pointers = np.concatenate([[0], np.cumsum(lengths)[:-1]]) * idx.dtype.itemsize
    checks = [
        (idx.dtype.name == dtype, f"{name}: dtype {idx.dtype.name}, tokenizer says {dtype}"),
        (idx.index_bytes_used == idx.index_bytes_total, f"{name}: index has trailing bytes"),
        (len(idx) == shard["documents"], f"{name}: {len(idx)} documents in index, manifest says {shard['documents']}"),
        (int(lengths.sum()) == shard["tokens"], f"{name}: index sums to {int(lengths.sum())} tokens, manifest says {shard['tokens']}"),
        (int(lengths.sum()) * idx.dtype.itemsize == shard["bytes"], f"{name}: index and .bin sizes disagree"),
        (np.array_equal(idx.pointers, expected_pointers), f"{name}: pointers are not contiguous"),
        (np.array_equal(idx.document_index, np.arange(len(idx) + 1)), f"{name}: unexpected document index"),
        (bool((lengths > 0).all()), f"{name}: empty document"),
    ]
    if "ds_index" in shard:
        ends = np.frombuffer(read_bytes(f"{output}/{shard['ds_index']['path']}"), dtype="<u8")
        checks.append((np.array_equal(ends, np.cumsum(lengths)), f"{shard['ds_index']['path']}: document ends "
                                                                  f"disagree with {shard['idx']['path']}"))
    if "lineage" in shard:
        checks.append((lineage_agrees(f"{output}/{shard['lineage']['path']}", lengths),
                       f"{shard['lineage']['path']}: offsets or lengths disagree with {shard['idx']['path']}"))
    problems = [msg for ok, msg in checks if not ok]
    if not problems and len(idx):
        ends = idx.tokens[(idx.pointers // idx.dtype.itemsize) + lengths - 1]
        if not bool((ends == eos_id).all()):
            problems.append(f"{name}: {int((ends != eos_id).sum())} documents do not end with EOS")
    return problems


def total_problems(manifest: dict) -> list[str]:
    shards, stats = manifest["shards"], manifest["stats"]
    held_out = manifest.get("validation", {})
    held = held_out.get("shards", [])
    figures = [("stats.stream_tokens", sum(s["tokens"] for s in shards), stats["stream_tokens"]),
               ("stats.stream_documents", sum(s["documents"] for s in shards), stats.get("stream_documents")),
               ("stats.shards", len(shards), stats.get("shards"))]
    if "tokens" in held_out:
        figures.append(("validation.tokens", sum(s["tokens"] for s in held), held_out["tokens"]))
    for phase in manifest.get("phases", [])[1:]:
        figures += [(f"{phase['name']}.tokens", sum(s["tokens"] for s in phase["shards"]), phase["tokens"]),
                    (f"{phase['name']}.documents", sum(s["documents"] for s in phase["shards"]), phase["documents"])]
    problems = [f"{field}: shards hold {actual}, {field.split('.')[0]} say {said}" for field, actual, said in figures
                if said is not None and actual != said]
    if "megatron" in manifest:
        expected = megatron_args(shards, manifest["tokenizer"]["dtype"], held)
        for key in sorted(set(expected) | set(manifest["megatron"])):
            if manifest["megatron"].get(key) != expected.get(key):
                problems.append(f"megatron.{key}: does not match the shards (expected {str(expected.get(key))[:80]})")
    return problems


def jsonl_counts(output: str, path: str) -> Counter:
    """(source, reason) -> records in a dead-letter or rejects JSON Lines file."""
    counts = Counter()
    for line in read_bytes(f"{output}/{path}").decode("utf-8").splitlines():
        record = json.loads(line)
        counts[(record["source"], record["reason"])] += 1
    return counts


def record_file_problems(output: str, manifest: dict) -> list[str]:
    """dead_letters.jsonl and rejects/ against their hashes, and their records against the
    funnel's errors and stage drops (manifest version 3 on)."""
    if manifest["schema_version"] < 3:
        return []
    problems = []
    files = ([manifest["dead_letters"]] if "dead_letters" in manifest else []) + \
        manifest.get("rejects", {}).get("files", []) + published_files(manifest)
    for record in files:
        path = f"{output}/{record['path']}"
        if not exists(path):
            problems.append(f"{record['path']}: missing")
        elif sha256_of(path) != (record["sha256"], record["bytes"]):
            problems.append(f"{record['path']}: bytes or sha256 do not match the manifest")
    if problems:
        return problems
    funnel = manifest["funnel"]
    errors = jsonl_counts(output, manifest["dead_letters"]["path"]) if "dead_letters" in manifest else Counter()
    said = Counter({(name, reason): n for name, f in funnel.items() for reason, n in f["errors"].items() if n})
    if errors != said:
        problems.append(f"funnel errors {dict(sorted(said.items()))} != dead_letters.jsonl's records "
                        f"{dict(sorted(errors.items()))}")
    if "rejects" in manifest:
        rejected = Counter()
        for record in manifest["rejects"]["files"]:
            rejected += jsonl_counts(output, record["path"])
        stages = REJECT_STAGES + (("dedup",) if manifest["schema_version"] >= 5 else ())
        dropped = Counter({(name, reason): n for name, f in funnel.items() for reason, n in f["dropped"].items()
                           if reason.split("/")[0] in stages and n})
        if rejected != dropped:
            problems.append(f"funnel drops of {', '.join(stages)} {dict(sorted(dropped.items()))} != rejects/'s "
                            f"records {dict(sorted(rejected.items()))}")
        if sum(rejected.values()) != manifest["rejects"]["records"]:
            problems.append(f"rejects.records: {manifest['rejects']['records']}, rejects/ holds "
                            f"{sum(rejected.values())}")
    return problems


def stray_files(output: str, manifest: dict) -> list[str]:
    """Files in the output that the manifest neither lists nor derives."""
    listed = {MANIFEST_FILE, REPORT_FILE, manifest["tokenizer"]["path"], *manifest["tokenizer"].get("files", {})}
    for _, shard in split_shards(manifest):
        listed |= {shard["path"], *(shard[k]["path"] for k in ("idx", *SHARD_FILES) if k in shard),
                   *(f["path"] for f in shard_dataset_files(shard))}
    if "dead_letters" in manifest:
        listed.add(manifest["dead_letters"]["path"])
    listed |= {f["path"] for f in manifest.get("rejects", {}).get("files", []) + published_files(manifest)}
    legacy = manifest["schema_version"] < 3
    stray = [path for path in list_files(output) if path not in listed and path != LOCK_FILE
             and not (legacy and (path in LEGACY_UNHASHED or path.startswith("rejects/")))]
    return [f"{path}: in the output but not in the manifest" for path in sorted(stray)]


def epoch_range(spec: dict) -> tuple[float, float]:
    """The fewest and most epochs a training document of a source can have: its epochs, or,
    when it rehydrates, its epochs times the smallest and largest multiplier a cluster size
    can get (1 below the table's first bound). Every training document is in each whole
    epoch under the fewest; none is in an epoch at or past the most."""
    table = spec.get("rehydrate", {}).get("table", [])
    multipliers = [m for _, m in table] + ([1.0] if not table or table[0][0] > 1 else [])
    return spec["epochs"] * min(multipliers), spec["epochs"] * max(multipliers)


def epoch_problems(output: str, manifest: dict) -> list[str]:
    """The stream's epochs and splits against the recipe, one lineage map at a time."""
    sources = manifest["sources"]
    fractions = manifest["validation"]["fractions"]
    seen = {split: {name: defaultdict(lambda: [0, 0]) for name in sources} for split in (TRAIN, VALIDATION)}
    problems = []
    for split, shard in split_shards(manifest):
        if split not in (TRAIN, VALIDATION):
            continue   # phase_problems
        table = read_lineage(f"{output}/{shard['lineage']['path']}", ["id", "source", "epoch", "tokens"])
        by_source, by_epoch = Counter(), Counter()
        misplaced = 0
        for doc_id, source, epoch, tokens in zip(*(table.column(c).to_pylist() for c in table.column_names)):
            row = seen[split][source][epoch]
            row[0], row[1] = row[0] + 1, row[1] + tokens
            by_source[source] += tokens
            by_epoch[str(epoch)] += tokens
            misplaced += (split == VALIDATION) != in_validation(doc_id, fractions.get(source, 0.0))
        if dict(by_source) != shard["tokens_by_source"]:
            problems.append(f"{shard['path']}: lineage tokens per source {dict(sorted(by_source.items()))} "
                            f"!= manifest {shard['tokens_by_source']}")
        if dict(by_epoch) != shard["tokens_by_epoch"]:
            problems.append(f"{shard['path']}: tokens_by_epoch {shard['tokens_by_epoch']}, the lineage map says "
                            f"{dict(sorted(by_epoch.items(), key=lambda kv: int(kv[0])))}")
        if misplaced:
            problems.append(f"{shard['path']}: {misplaced} documents whose id hash puts them in the other split")
    for name, spec in sources.items():
        held = spec["validation"]
        trained = (spec["documents"] - held["documents"], spec["tokens"] - held["tokens"])
        low, high = epoch_range(spec)
        for epoch, (docs, tokens) in sorted(seen[TRAIN][name].items()):
            whole = epoch < math.floor(low)
            if epoch >= math.ceil(high):
                problems.append(f"{name}: epoch {epoch} in the stream, the recipe gives {high:g} epochs at most")
            elif whole and (docs, tokens) != trained:
                problems.append(f"{name}: epoch {epoch} holds {docs} documents / {tokens} tokens, "
                                f"expected each training document once: {trained[0]} / {trained[1]}")
            elif not whole and (docs > trained[0] or tokens > trained[1]):
                problems.append(f"{name}: partial epoch {epoch} holds more than the source")
        missing = [e for e in range(math.floor(low)) if e not in seen[TRAIN][name] and trained[0]]
        if missing:
            problems.append(f"{name}: epochs {missing} missing from the stream")
        validation = tuple(map(sum, zip(*seen[VALIDATION][name].values()))) or (0, 0)
        if set(seen[VALIDATION][name]) - {0} or validation != (held["documents"], held["tokens"]):
            problems.append(f"{name}: validation shards hold {validation[0]} documents / {validation[1]} tokens, "
                            f"the manifest says {held['documents']} / {held['tokens']}, each once")
    return problems


def lineage_rows(output: str, shards: list[dict], columns: list[str]):
    """The rows of shards' lineage maps, in stream order, as tuples of `columns`."""
    for shard in shards:
        table = read_lineage(f"{output}/{shard['lineage']['path']}", columns)
        yield from zip(*(table.column(c).to_pylist() for c in columns))


def phase_problems(output: str, manifest: dict) -> list[str]:
    """Each continuation phase against its rule (manifests/phases.py), from the lineage maps:
    every document has exactly the copies its plan and draw give, in key order, each
    pretraining document not drawn is absent, and each source's tokens per length class
    are what the plan says it gave."""
    phases = manifest.get("phases", [])
    if len(phases) < 2:
        return []
    seed = int(manifest.get("resolved_recipe", manifest["recipe"]).get("seed", 0))
    pretrained = {}
    for doc_id, source, tokens in lineage_rows(output, manifest["shards"], ["id", "source", "tokens"]):
        pretrained[doc_id] = (source, tokens)
    problems = []
    for phase in phases[1:]:
        name, copies, given, out_of_order = phase["name"], Counter(), Counter(), 0
        sizes, last = {}, -1.0
        for doc_id, source, epoch, tokens in lineage_rows(output, phase["shards"], ["id", "source", "epoch", "tokens"]):
            keys = phase_copy_keys(phase, seed, doc_id, source, tokens)
            copies[doc_id] += 1
            sizes[doc_id] = (source, tokens, len(keys))
            key = keys[epoch] if epoch < len(keys) else math.inf
            out_of_order += key < last
            last = key
            given[(source, length_class(tokens, phase["long_min_tokens"]))] += tokens
        wrong = [doc_id for doc_id, (_, _, n) in sizes.items() if copies[doc_id] != n]
        if wrong:
            problems.append(f"phase {name}: {len(wrong)} documents whose copies are not their plan's "
                            f"(first: {wrong[0]})")
        if out_of_order:
            problems.append(f"phase {name}: {out_of_order} copies out of their keys' order")
        missing = [doc_id for doc_id, (source, tokens) in pretrained.items()
                   if doc_id not in copies and not phase["sources"].get(source, {}).get("repository")
                   and phase_copy_keys(phase, seed, doc_id, source, tokens)]
        if missing:
            problems.append(f"phase {name}: {len(missing)} documents drawn by the plan are not in its shards "
                            f"(first: {missing[0]})")
        for source, plan in sorted(phase["plan"].items()):
            for cls in (LONG, SHORT):
                if given[(source, cls)] != plan[cls]["tokens"]:
                    problems.append(f"phase {name}: {source}'s {cls} documents hold {given[(source, cls)]} tokens, "
                                    f"the plan gave {plan[cls]['tokens']}")
    return problems


def lineage_agrees(path: str, lengths: np.ndarray) -> bool:
    table = read_lineage(path, ["position", "token_offset", "tokens"])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return (np.array_equal(table.column("position").to_numpy(), np.arange(len(lengths)))
            and np.array_equal(table.column("token_offset").to_numpy(), offsets)
            and np.array_equal(table.column("tokens").to_numpy(), lengths))
