"""The recipe: a YAML file turned into frozen dataclasses, checked when loaded.

Everything that decides the corpus's content lives here, so the manifest can
record it and two runs of the same recipe over the same inputs agree byte for
byte. Unknown keys and bad values fail at load time with the key's path, not an
hour into a cluster run. Relative paths resolve against the working directory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from pipeline.rules.decontaminate import EvalSetSpec
from pipeline.rules.epochs import StreamLayout
from pipeline.rules.extract import EXTRACTORS, ExtractLimits
from pipeline.rules.fim import FimSpec
from pipeline.rules.minhash import MinHashParams
from sources.document import KINDS
from sources.readers import READERS, SOURCE_TYPES

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
    stats_sample: float = 1.0        # share of documents whose words the entropy figures count
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def source(self, name: str) -> SourceSpec:
        return next(s for s in self.sources if s.name == name)

    @property
    def layout(self) -> StreamLayout:
        """The stream's shape: seed, epochs and validation share per source."""
        return StreamLayout(self.seed, {s.name: s.epochs for s in self.sources},
                            {s.name: s.validation for s in self.sources if s.validation})


def _take(mapping: Mapping[str, Any], where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(mapping, Mapping):
        raise RecipeError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    unknown = set(mapping) - allowed
    if unknown:
        raise RecipeError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    return dict(mapping)


def _fraction(value: Any, where: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = -1.0
    if not 0 <= value < 1:
        raise RecipeError(f"{where}: a fraction in [0, 1), got {value!r}")
    return value


def _source(raw: Mapping[str, Any], i: int, validation: float = 0.0) -> SourceSpec:
    where = f"sources[{i}]"
    core = {"name", "type", "paths", "kind", "epochs", "columns", "validation"}
    if not isinstance(raw, Mapping) or raw.get("type") not in SOURCE_TYPES:
        got = raw.get("type") if isinstance(raw, Mapping) else raw
        raise RecipeError(f"{where}.type: {got!r} is not one of {sorted(SOURCE_TYPES)}")
    s = _take(raw, where, core | READERS[raw["type"]].options)
    if s["type"] == "hf" and s.get("dataset"):
        s.setdefault("paths", [])   # a named dataset needs no paths
    for key in ("name", "type", "paths"):
        if key not in s:
            raise RecipeError(f"{where}: missing {key!r}")
    kind = s.get("kind", "text")
    if kind not in KINDS:
        raise RecipeError(f"{where}.kind: {kind!r} is not one of {KINDS}")
    epochs = float(s.get("epochs", DEFAULT_EPOCHS[kind]))
    if epochs <= 0:
        raise RecipeError(f"{where}.epochs: must be positive, got {epochs}")
    if s.get("template", "plain") not in ("plain", "chatml"):
        raise RecipeError(f"{where}.template: {s['template']!r} is not one of ('plain', 'chatml')")
    paths = s["paths"] if isinstance(s["paths"], list) else [s["paths"]]
    return SourceSpec(name=str(s["name"]), type=s["type"], paths=tuple(map(str, paths)), kind=kind,
                      epochs=epochs, columns=dict(s.get("columns") or {}),
                      options={k: v for k, v in s.items() if k not in core},
                      validation=_fraction(s.get("validation", validation), f"{where}.validation"))


def _filters(raw: Mapping[str, Any]) -> dict[str, tuple[dict, ...]]:
    f = _take(raw or {}, "filters", set(KINDS))
    out = {}
    for kind, rules in f.items():
        if not isinstance(rules, list) or not all(isinstance(r, Mapping) and "name" in r for r in rules):
            raise RecipeError(f"filters.{kind}: expected a list of {{name: rule, ...args}}")
        out[kind] = tuple(dict(r) for r in rules)
    return out


def _decontaminate(raw: Mapping[str, Any] | None) -> DecontaminateSpec | None:
    if not raw:
        return None
    d = _take(raw, "decontaminate", {"sets", "ngram", "mode"})
    if d.get("mode", "remove") not in ("remove", "mark"):
        raise RecipeError(f"decontaminate.mode: {d['mode']!r} is not one of ('remove', 'mark')")
    if int(d.get("ngram", 13)) < 1:
        raise RecipeError("decontaminate.ngram: must be at least 1")
    sets = []
    for i, raw_set in enumerate(d.get("sets") or []):
        e = _take(raw_set, f"decontaminate.sets[{i}]", {"name", "paths", "fields"})
        if "name" not in e or "paths" not in e:
            raise RecipeError(f"decontaminate.sets[{i}]: needs 'name' and 'paths'")
        paths, fields = e["paths"], e.get("fields", ["text"])
        sets.append(EvalSetSpec(str(e["name"]), tuple(map(str, paths if isinstance(paths, list) else [paths])),
                                tuple(map(str, fields if isinstance(fields, list) else [fields]))))
    if not sets or len({s.name for s in sets}) != len(sets):
        raise RecipeError("decontaminate.sets: list at least one set, with unique names")
    return DecontaminateSpec(tuple(sets), int(d.get("ngram", 13)), d.get("mode", "remove"))


def _dedup(raw: Mapping[str, Any] | None) -> DedupSpec:
    d = _take(raw or {}, "dedup", {"exact", "url", "near", "scope"})
    if d.get("scope", "all") not in ("all", "source"):
        raise RecipeError(f"dedup.scope: {d['scope']!r} is not one of ('all', 'source')")
    near = d.get("near")
    if near is True:
        near = {}
    if near not in (None, False):
        n = _take(near, "dedup.near", {"ngram", "bands", "rows", "seed", "min_similarity"})
        similarity = n.pop("min_similarity", 0.7)
        if similarity is not None and not 0 <= float(similarity) <= 1:
            raise RecipeError("dedup.near.min_similarity: a similarity between 0 and 1, or null")
        near = MinHashParams(**{k: int(v) for k, v in n.items()},
                             min_similarity=None if similarity is None else float(similarity))
        if min(near.ngram, near.bands, near.rows) < 1:
            raise RecipeError("dedup.near: ngram, bands and rows must be at least 1")
    return DedupSpec(exact=bool(d.get("exact", True)), url=bool(d.get("url", False)),
                     near=near or None, scope=d.get("scope", "all"))


def parse_recipe(raw: Mapping[str, Any]) -> Recipe:
    r = _take(raw, "recipe", {"name", "seed", "sources", "extract", "normalize", "filters", "decontaminate",
                              "dedup", "tokenizer", "output"})
    if not r.get("sources"):
        raise RecipeError("recipe: 'sources' must list at least one source")
    output = _take(r.get("output") or {}, "output", {"shard_tokens", "rejects", "validation", "stats_sample"})
    validation = _fraction(output.get("validation", 0.0), "output.validation")
    sources = tuple(_source(s, i, validation) for i, s in enumerate(r["sources"]))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise RecipeError(f"sources: names must be unique, got {names}")
    extract = _take(r.get("extract") or {}, "extract", {"html", "max_bytes", "timeout_s"})
    html = extract.get("html", "resiliparse")
    if html not in EXTRACTORS:
        raise RecipeError(f"extract.html: {html!r} is not one of {EXTRACTORS}")
    # trafilatura's run time on hostile HTML is unbounded: it gets a timeout unless told otherwise
    timeout = extract.get("timeout_s", 30.0 if html == "trafilatura" else None)
    limits = ExtractLimits(max_bytes=int(extract.get("max_bytes", ExtractLimits.max_bytes)),
                           timeout_s=None if timeout is None else float(timeout))
    dedup = _dedup(r.get("dedup"))
    tok = _take(r.get("tokenizer") or {}, "tokenizer", {"train", "path", "fim"})
    fim = _take(tok.get("fim") or {}, "tokenizer.fim", {"rate", "spm_rate"})
    fim = FimSpec(**{k: float(v) for k, v in fim.items()})
    if not (0 <= fim.rate <= 1 and 0 <= fim.spm_rate <= 1):
        raise RecipeError("tokenizer.fim: rate and spm_rate must be between 0 and 1")
    train = _take(tok.get("train") or {}, "tokenizer.train", {"vocab_size", "sample_docs", "min_frequency"})
    normalize = _take(r.get("normalize") or {}, "normalize", {"fix_mojibake"})
    recipe = Recipe(
        name=str(r.get("name", "corpus")), seed=int(r.get("seed", 0)), sources=sources,
        extract_html=html, extract_limits=limits, fix_mojibake=bool(normalize.get("fix_mojibake", False)),
        filters=_filters(r.get("filters")), decontaminate=_decontaminate(r.get("decontaminate")),
        dedup=dedup, rejects=bool(output.get("rejects", False)),
        stats_sample=float(output.get("stats_sample", 1.0)),
        tokenizer=TokenizerSpec(path=tok.get("path"), fim=fim, **{k: int(v) for k, v in train.items()}),
        shard_tokens=int(output.get("shard_tokens", 4_000_000)), raw=dict(raw))
    if recipe.shard_tokens <= 0:
        raise RecipeError("output.shard_tokens must be positive")
    if not 0 < recipe.stats_sample <= 1:
        raise RecipeError("output.stats_sample: a fraction in (0, 1]")
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


def load_recipe(path: str) -> Recipe:
    from apache_beam.io.filesystems import FileSystems
    try:
        with FileSystems.open(path) as f:
            raw = yaml.safe_load(f.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path} is not valid YAML: {exc}".replace("\n", " ")) from exc
    return parse_recipe(raw)
