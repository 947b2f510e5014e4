"""The recipe: a YAML file turned into frozen dataclasses, checked when loaded.

Everything that decides the corpus's content lives here, so the manifest can
record it and two runs of the same recipe over the same inputs agree byte for
byte. Every recipe is checked against its JSON Schema (pipeline/schemas/recipe-v1.json:
every key, type, range and rule argument, the recipe reference) before anything
else: a wrong key or value fails at load time with one line naming the key, not
an hour into a cluster run, and without importing Beam. Relative paths resolve
against the working directory.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

import yaml

from manifests.documents import DEFAULT_FILE_MB
from manifests.phases import PRETRAIN
from pipeline.rules.decontaminate import EvalSetSpec
from pipeline.rules.dedup_index import DEFAULT_PARTITIONS
from pipeline.rules.epochs import StreamLayout
from pipeline.rules.extract import ExtractLimits
from pipeline.rules.fim import FimSpec
from pipeline.rules.minhash import MinHashParams
from pipeline.rules.paragraphs import ParagraphSpec

DEFAULT_EPOCHS = {"text": 2.0, "code": 4.0}


class RecipeError(ValueError):
    """The recipe is malformed; the message names the offending key."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    type: str
    paths: tuple[str, ...]
    kind: str
    epochs: float
    columns: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)   # per-type, see sources.readers.READERS
    validation: float = 0.0          # share of documents held out as the validation split
    rehydrate: tuple[tuple[int, float], ...] = ()   # (cluster-size bound, multiplier): epochs x multiplier
    repo_documents: RepoSpec | None = None   # a repository's files as one document, for some phases


@dataclass(frozen=True)
class RepoSpec:
    """Repository-level code documents (DeepSeek-Coder, StarCoder2): a repository's kept
    files in path order, each after a header line naming its path, cut into documents
    of at most `max_tokens` tokens at file boundaries, used in `phases` instead of the files."""
    max_tokens: int = 32768
    phases: tuple[str, ...] = ("long",)


@dataclass(frozen=True)
class PhaseSpec:
    """A training phase's stream (manifests/phases.py): the first is the pretraining stream;
    each later one is a continuation stream of `tokens` tokens drawn from the same documents,
    every source at its pretraining share, documents of at least `long_min_tokens` tokens
    making `long_share` of each source's tokens, none repeated more than `max_copies` times."""
    name: str
    seq_len: int
    tokens: int = 0
    long_min_tokens: int = 8192
    long_share: float = 0.5
    max_copies: int = 4


@dataclass(frozen=True)
class TokenizerSpec:
    vocab_size: int = 32768
    sample_docs: int = 20000
    min_frequency: int = 2
    path: str | None = None          # an existing tokenizer.json instead of training
    fim: FimSpec = FimSpec()         # fill-in-the-middle for code documents; off by default


@dataclass(frozen=True)
class DecontaminateSpec:
    sets: tuple[EvalSetSpec, ...]
    ngram: int = 13
    mode: str = "remove"             # "remove" drops matching documents; "mark" labels them


@dataclass(frozen=True)
class DedupSpec:
    exact: bool = True
    url: bool = False                    # normalised URL; the newest capture survives
    near: MinHashParams | None = None    # MinHash LSH; None = off
    scope: str = "all"                   # "all": across sources; "source": within each source
    paragraphs: ParagraphSpec | None = None   # CCNet's boilerplate removal; None = off
    against: tuple[str, ...] = ()        # earlier builds' dedup indexes, whose documents this build's lose to
    index: bool = True                   # write this build's dedup index (dedup-index/ in the output)
    index_partitions: int = DEFAULT_PARTITIONS   # its files; each file's rows are sorted in one worker's memory

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods that run, in the order a document's drop reason is chosen."""
        return tuple(m for m, on in (("exact", self.exact), ("url", self.url), ("near", self.near is not None))
                     if on)


@dataclass(frozen=True)
class Recipe:
    name: str
    seed: int
    sources: tuple[SourceSpec, ...]
    extract_html: str = "resiliparse"
    extract_limits: ExtractLimits = ExtractLimits()
    fix_mojibake: bool = False
    filters: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    decontaminate: DecontaminateSpec | None = None
    dedup: DedupSpec = DedupSpec()
    tokenizer: TokenizerSpec = TokenizerSpec()
    shard_tokens: int = 4_000_000
    rejects: bool = False            # write dropped documents' first characters to rejects/
    documents: bool = False          # write every kept document once, with metadata, to documents/
    documents_file_mb: float = DEFAULT_FILE_MB   # ... in files cut at this many MB of text
    stats_sample: float = 1.0        # share of documents whose words the entropy figures count
    phases: tuple[PhaseSpec, ...] = ()   # the pretraining phase, then continuation phases; () = one stream
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def source(self, name: str) -> SourceSpec:
        return next(s for s in self.sources if s.name == name)

    def with_absolute_paths(self, base: str) -> "Recipe":
        """The recipe with its local relative paths (inputs, a local dataset folder or
        listing base, evaluation sets, a given tokenizer) resolved against `base`: a
        worker of a cluster or an engine runs in a working directory of its own."""
        def fix(path: str) -> str:
            return path if "://" in path or os.path.isabs(path) else os.path.join(base, path)

        def fix_options(options: Mapping[str, Any]) -> dict:
            out = dict(options)
            for key in ("dataset", "base_url"):
                if isinstance(out.get(key), str) and os.path.exists(fix(out[key])):
                    out[key] = fix(out[key])
            return out

        sources = tuple(dataclasses.replace(s, paths=tuple(map(fix, s.paths)), options=fix_options(s.options))
                        for s in self.sources)
        decon = self.decontaminate and dataclasses.replace(self.decontaminate, sets=tuple(
            dataclasses.replace(e, paths=tuple(map(fix, e.paths))) for e in self.decontaminate.sets))
        tokenizer = dataclasses.replace(self.tokenizer, path=self.tokenizer.path and fix(self.tokenizer.path))

        def fix_rule(spec: Mapping[str, Any]) -> dict:
            """A quality classifier's model file and its training sources' paths."""
            out = dict(spec)
            if isinstance(out.get("model"), str):
                out["model"] = fix(out["model"])
            if isinstance(out.get("train"), dict) and isinstance(out["train"].get("positives"), list):
                out["train"] = {**out["train"], "positives": [
                    {**p, "paths": [fix(x) for x in _listed(p.get("paths", []))]} for p in out["train"]["positives"]]}
            return out

        filters = {kind: tuple(fix_rule(spec) for spec in specs) for kind, specs in self.filters.items()}
        dedup = dataclasses.replace(self.dedup, against=tuple(map(fix, self.dedup.against)))
        return dataclasses.replace(self, sources=sources, decontaminate=decon, tokenizer=tokenizer, filters=filters,
                                   dedup=dedup)

    @property
    def layout(self) -> StreamLayout:
        """The stream's shape: seed, epochs and validation share per source."""
        return StreamLayout(self.seed, {s.name: s.epochs for s in self.sources},
                            {s.name: s.validation for s in self.sources if s.validation},
                            {s.name: s.rehydrate for s in self.sources if s.rehydrate},
                            {s.name: s.repo_documents.phases for s in self.sources if s.repo_documents},
                            self.phases[0].name if self.phases else PRETRAIN)

    @property
    def continuation(self) -> tuple[PhaseSpec, ...]:
        """The phases after pretraining, each a stream of its own."""
        return self.phases[1:]

    @property
    def repo_sources(self) -> dict[str, RepoSpec]:
        return {s.name: s.repo_documents for s in self.sources if s.repo_documents}

    @property
    def rehydrates(self) -> bool:
        """Some source weights its documents by their duplicate clusters (epochs.rehydrate)."""
        return any(s.rehydrate for s in self.sources)


SCHEMA_FILE = "recipe-v1.json"   # pipeline/schemas/: every key, type, range and rule argument


@lru_cache(maxsize=None)
def recipe_schema() -> dict:
    """The recipe's JSON Schema, which ships in the package and is the recipe reference."""
    return json.loads(resources.files("pipeline").joinpath("schemas", SCHEMA_FILE).read_text("utf-8"))


def key_path(path) -> str:
    """("sources", 0, "epochs") -> "sources[0].epochs"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "recipe"


def non_finite(value: Any, path: tuple = ()) -> tuple[tuple, float] | None:
    """The first .inf or .nan in the recipe: JSON Schema's bounds let NaN through."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, value
    items = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = non_finite(item, (*path, key))
        if found:
            return found
    return None


def describe(error, raw: Mapping[str, Any]) -> str:
    """One schema error as `<key>: <what is wrong>`: the schema's own wording where it
    gives one (`messages`), unknown and missing keys named plainly."""
    path = list(error.absolute_path)
    where = key_path(path)
    if len(path) >= 3 and path[0] == "filters" and isinstance(raw["filters"][path[1]][path[2]], Mapping):
        name = raw["filters"][path[1]][path[2]].get("name")   # a rule's errors say which rule
        rest = path[3:]
        where = f"{key_path(path[:3])} (rule {name!r})" + \
            ("" if not rest else ("" if isinstance(rest[0], int) else ".") + key_path(rest))
    custom = error.schema.get("messages", {}).get(error.validator) if isinstance(error.schema, Mapping) else None
    missing = error.message.split("'")[1] if error.validator == "required" else None
    if custom:
        return f"{where}: {custom.replace('{instance!r}', repr(error.instance)).replace('{missing!r}', repr(missing))}"
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"{where}: unknown keys {unknown}; allowed: {sorted(error.schema.get('properties', {}))}"
    if error.validator == "required":
        return f"{where}: missing {missing!r}"
    return f"{where}: {error.message}"


def check_recipe(raw: Any) -> None:
    """Refuses a recipe that breaks its schema (types, ranges, enums, every rule's
    arguments) or holds a non-finite number: RecipeError with one line naming the key."""
    import jsonschema
    found = non_finite(raw)
    if found:
        raise RecipeError(f"{key_path(found[0])}: {found[1]} is not a finite number")
    validator = jsonschema.Draft202012Validator(recipe_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(raw))
    if error is not None:
        raise RecipeError(describe(error, raw))


def _listed(value: Any) -> tuple[str, ...]:
    return tuple(map(str, value if isinstance(value, list) else [value]))


def _source(s: Mapping[str, Any], validation: float) -> SourceSpec:
    core = {"name", "type", "paths", "kind", "epochs", "columns", "validation", "repo_documents"}
    kind = s.get("kind", "text")
    epochs, rehydrate = s.get("epochs", DEFAULT_EPOCHS[kind]), ()
    if isinstance(epochs, Mapping):
        rehydrate = tuple((int(bound), float(multiplier)) for bound, multiplier in epochs.get("rehydrate") or ())
        bounds = [bound for bound, _ in rehydrate]
        if bounds != sorted(set(bounds)):
            raise RecipeError(f"sources: {s.get('name')}: epochs.rehydrate's cluster-size bounds must ascend, "
                              f"got {bounds}")
        epochs = epochs["base"]
    return SourceSpec(name=str(s["name"]), type=s["type"], paths=_listed(s.get("paths", [])), kind=kind,
                      epochs=float(epochs), columns=dict(s.get("columns") or {}),
                      options={k: v for k, v in s.items() if k not in core},
                      validation=float(s.get("validation", validation)), rehydrate=rehydrate,
                      repo_documents=_repo(s.get("repo_documents")))


def _repo(d: Any) -> RepoSpec | None:
    if d in (None, False):
        return None
    d = {} if d is True else d
    return RepoSpec(max_tokens=int(d.get("max_tokens", RepoSpec.max_tokens)),
                    phases=tuple(map(str, d.get("phases", RepoSpec.phases))))


def _phases(raw: Any, sources: tuple[SourceSpec, ...]) -> tuple[PhaseSpec, ...]:
    """The recipe's phases, checked against each other and the sources' repository documents."""
    if not raw:
        for s in sources:
            if s.repo_documents:
                raise RecipeError(f"sources: {s.name}: repo_documents needs phases (it names the phases "
                                  f"that use them)")
        return ()
    first, *rest = raw
    if any(k in first for k in ("tokens", "long_min_tokens", "long_share", "max_copies")):
        raise RecipeError(f"phases[0] ({first['name']}): the first phase is the pretraining stream; tokens and "
                          f"the long-document keys belong to the phases after it")
    phases = [PhaseSpec(str(first["name"]), int(first["seq_len"]))]
    for i, p in enumerate(rest, 1):
        if "tokens" not in p:
            raise RecipeError(f"phases[{i}] ({p['name']}): a continuation phase needs tokens")
        phases.append(PhaseSpec(str(p["name"]), int(p["seq_len"]), int(float(p["tokens"])),
                                int(p.get("long_min_tokens", PhaseSpec.long_min_tokens)),
                                float(p.get("long_share", PhaseSpec.long_share)),
                                int(p.get("max_copies", PhaseSpec.max_copies))))
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise RecipeError(f"phases: names must be unique, got {names}")
    for s in sources:
        unknown = [p for p in (s.repo_documents.phases if s.repo_documents else ()) if p not in names]
        if unknown:
            raise RecipeError(f"sources: {s.name}: repo_documents.phases names {unknown}, not phases of the "
                              f"recipe {names}")
    return tuple(phases)


def _decontaminate(d: Mapping[str, Any] | None) -> DecontaminateSpec | None:
    if not d:
        return None
    sets = tuple(EvalSetSpec(str(e["name"]), _listed(e["paths"]), _listed(e.get("fields", ["text"])))
                 for e in d["sets"])
    if len({s.name for s in sets}) != len(sets):
        raise RecipeError("decontaminate.sets: list at least one set, with unique names")
    return DecontaminateSpec(sets, int(d.get("ngram", 13)), d.get("mode", "remove"))


def _dedup(d: Mapping[str, Any]) -> DedupSpec:
    near = d.get("near")
    if near is True:
        near = {}
    if near not in (None, False):
        near = MinHashParams(**{k: int(v) for k, v in near.items() if k != "min_similarity"},
                             min_similarity=near.get("min_similarity", 0.7))
    paragraphs = d.get("paragraphs")
    if paragraphs is True:
        paragraphs = {}
    index = d.get("index", True)
    return DedupSpec(exact=d.get("exact", True), url=d.get("url", False), near=near or None,
                     scope=d.get("scope", "all"),
                     paragraphs=None if paragraphs in (None, False) else ParagraphSpec(**paragraphs),
                     against=tuple(str(a).rstrip("/") for a in d.get("against") or ()),
                     index=bool(index),
                     index_partitions=int(index.get("partitions", DEFAULT_PARTITIONS)) if isinstance(index, dict)
                     else DEFAULT_PARTITIONS)


def parse_recipe(raw: Mapping[str, Any]) -> Recipe:
    check_recipe(raw)
    r = dict(raw)
    output = r.get("output") or {}
    sources = tuple(_source(s, float(output.get("validation", 0.0))) for s in r["sources"])
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise RecipeError(f"sources: names must be unique, got {names}")
    extract = r.get("extract") or {}
    html = extract.get("html", "resiliparse")
    # trafilatura's run time on hostile HTML is unbounded: it gets a timeout unless told otherwise
    timeout = extract.get("timeout_s", 30.0 if html == "trafilatura" else None)
    limits = ExtractLimits(max_bytes=int(extract.get("max_bytes", ExtractLimits.max_bytes)),
                           timeout_s=None if timeout is None else float(timeout))
    tok = r.get("tokenizer") or {}
    documents = output.get("documents")   # true, or {file_mb: N}
    fim = FimSpec(**{k: float(v) for k, v in (tok.get("fim") or {}).items()})
    train = tok.get("train") or {}
    recipe = Recipe(
        name=str(r.get("name", "corpus")), seed=int(r.get("seed", 0)), sources=sources,
        extract_html=html, extract_limits=limits,
        fix_mojibake=(r.get("normalize") or {}).get("fix_mojibake", False),
        filters={kind: tuple(dict(rule) for rule in rules) for kind, rules in (r.get("filters") or {}).items()},
        decontaminate=_decontaminate(r.get("decontaminate")), dedup=_dedup(r.get("dedup") or {}),
        rejects=output.get("rejects", False), documents=documents not in (None, False),
        documents_file_mb=float(documents.get("file_mb", DEFAULT_FILE_MB) if isinstance(documents, dict)
                                else DEFAULT_FILE_MB),
        stats_sample=float(output.get("stats_sample", 1.0)),
        tokenizer=TokenizerSpec(path=tok.get("path"), fim=fim, **{k: int(v) for k, v in train.items()}),
        shard_tokens=int(output.get("shard_tokens", 4_000_000)), phases=_phases(r.get("phases"), sources),
        raw=dict(raw))
    _check_rules(recipe)
    return recipe


def _check_rules(recipe: Recipe) -> None:
    """Build each filter rule once now, so a typo fails before the pipeline starts."""
    from pipeline.rules.quality import build_rule
    for kind, rules in recipe.filters.items():
        for spec in rules:
            try:
                build_rule(spec)
            except (TypeError, ValueError, AttributeError) as exc:
                raise RecipeError(f"filters.{kind}: rule {spec.get('name')!r}: {exc}") from exc


def resolved_recipe(recipe: Recipe) -> dict:
    """Every setting the build used, defaults included (the recipe as written leaves most
    out): the manifest's `resolved_recipe`, which `manifests diff` compares."""
    from pipeline.rules.quality import resolved_spec
    out = json.loads(json.dumps({f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe)
                                 if f.name not in ("raw", "filters")}, default=_plain))
    out["filters"] = {kind: [resolved_spec(spec) for spec in specs] for kind, specs in sorted(recipe.filters.items())}
    return json.loads(json.dumps(out, default=_plain))


def _plain(value: Any) -> Any:
    """A recipe field as JSON: dataclasses as dicts, sets and tuples as lists."""
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def load_recipe(path: str) -> Recipe:
    try:
        if "://" in path:   # a remote recipe (gs://, s3://) through Beam's FileSystems
            from apache_beam.io.filesystems import FileSystems
            with FileSystems.open(path) as f:
                raw = yaml.safe_load(f.read().decode("utf-8"))
        else:
            with open(path, encoding="utf-8") as f:
                raw = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path} is not valid YAML: {exc}".replace("\n", " ")) from exc
    return parse_recipe(raw)
