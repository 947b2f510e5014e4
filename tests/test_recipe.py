"""Recipe loading: defaults, and errors that name the offending key before any work starts."""
import os

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.options import BuildConfig, CorpusOptions, MissingOption
from pipeline.recipe import RecipeError, load_recipe, parse_recipe
from pipeline.runners import LOCAL_RUNNER, with_local_runner
from tests.conftest import REPO, SAMPLE_RECIPE, in_repo

BASE = {"name": "r", "sources": [{"name": "a", "type": "parquet", "paths": ["x/*.parquet"]}]}


def test_sample_recipe_loads_with_its_epochs():
    recipe = load_recipe(str(REPO / SAMPLE_RECIPE))
    assert [(s.name, s.kind, s.epochs) for s in recipe.sources] == [
        ("cc-sample", "text", 2.0), ("refinedweb-sample", "text", 2.0), ("stack-sample", "code", 4.0)]
    assert recipe.tokenizer.vocab_size == 32768 and recipe.shard_tokens == 2_000_000
    assert recipe.raw["name"] == "sample"


def test_every_shipped_recipe_loads():
    recipes = sorted((REPO / "recipes").glob("*.yaml"))
    assert len(recipes) >= 2
    with in_repo():
        for path in recipes:
            assert load_recipe(str(path)).sources, path


def test_defaults_follow_the_kind():
    recipe = parse_recipe({**BASE, "sources": [{"name": "c", "type": "parquet", "paths": "p", "kind": "code"},
                                               {"name": "t", "type": "warc", "paths": ["q"]}]})
    assert [(s.kind, s.epochs, s.paths) for s in recipe.sources] == [("code", 4.0, ("p",)), ("text", 2.0, ("q",))]
    assert recipe.dedup.exact and recipe.dedup.near is None and recipe.extract_html == "resiliparse"
    assert recipe.extract_limits.timeout_s is None and recipe.extract_limits.max_bytes == 10_000_000
    traf = parse_recipe({**BASE, "extract": {"html": "trafilatura", "max_bytes": 5000}})
    assert traf.extract_limits.timeout_s == 30.0 and traf.extract_limits.max_bytes == 5000


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown keys"),
    ({"sources": []}, "at least one source"),
    ({"sources": [{"name": "a", "type": "pdf", "paths": ["x"]}]}, "sources\\[0\\].type"),
    ({"sources": [{"name": "a", "type": "warc", "paths": ["x"], "kind": "image"}]}, "sources\\[0\\].kind"),
    ({"sources": [{"name": "a", "type": "warc", "paths": ["x"], "epochs": 0}]}, "epochs"),
    ({"sources": [{"name": "a", "type": "warc"}]}, "missing 'paths'"),
    ({"sources": [{"name": "a", "type": "warc", "paths": ["x"]}] * 2}, "unique"),
    ({"extract": {"html": "lynx"}}, "extract.html"),
    ({"filters": {"text": [{"name": "gopher_quality", "min_doc_wordz": 3}]}}, "gopher_quality"),
    ({"filters": {"text": [{"name": "nonsense"}]}}, "unknown filter rule"),
    ({"filters": {"text": [{"name": "c4_quality", "split_paragraph": False}]}}, "c4_quality"),
    ({"decontaminate": {"sets": [{"name": "e", "paths": ["x"]}], "mode": "delete"}}, "decontaminate.mode"),
    ({"decontaminate": {"sets": [{"name": "e"}]}}, "needs 'name' and 'paths'"),
    ({"decontaminate": {"sets": [{"name": "e", "paths": ["x"]}] * 2}}, "unique names"),
    ({"normalize": {"ftfy": True}}, "normalize"),
    ({"output": {"reject": True}}, "output"),
    ({"tokenizer": {"train": {"vocab": 5}}}, "tokenizer.train"),
    ({"output": {"shard_tokens": 0}}, "shard_tokens"),
    ({"output": {"validation": 1.0}}, "output.validation"),
    ({"output": {"validation": "some"}}, "output.validation"),
    ({"sources": [{"name": "a", "type": "warc", "paths": ["x"], "validation": -0.1}]}, "sources\\[0\\].validation"),
    ({"output": {"stats_sample": 0}}, "stats_sample"),
])
def test_bad_recipes_fail_with_the_key(change, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe({**BASE, **change})


def test_validation_share_defaults_from_output_and_is_set_per_source():
    recipe = parse_recipe({**BASE, "sources": [{"name": "a", "type": "warc", "paths": ["x"]},
                                               {"name": "b", "type": "warc", "paths": ["y"], "validation": 0}],
                           "output": {"validation": 0.01}})
    assert [s.validation for s in recipe.sources] == [0.01, 0.0]
    assert recipe.layout.validation == {"a": 0.01} and recipe.layout.epochs == {"a": 2.0, "b": 2.0}
    assert parse_recipe(BASE).layout.validation == {}, "no validation split unless asked for"


def test_options_become_a_frozen_config():
    options = CorpusOptions(["--recipe", str(REPO / SAMPLE_RECIPE), "--output", "out/x/", "--strict",
                             "--runner=DirectRunner"])
    config = BuildConfig.from_options(options)
    # relative paths resolve where the command runs: an engine's workers run elsewhere
    assert config.output == os.path.abspath("out/x")
    assert config.strict and config.work_dir == config.output + "/_work"
    assert config.recipe.sources[0].paths[0] == os.path.abspath("sources/samples/cc/*.warc.gz")
    with pytest.raises(AttributeError):
        config.output = "elsewhere"


def test_missing_options_are_named_and_do_not_break_other_pipelines():
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    with pytest.raises(MissingOption, match="--output"):
        BuildConfig.from_options(CorpusOptions(["--recipe", "r.yaml"]))
    # CorpusOptions is registered now; an unrelated pipeline still runs
    with beam.Pipeline(options=with_local_runner(PipelineOptions([]))) as p:
        assert_that(p | beam.Create([1, 2]) | beam.Map(lambda x: x * 2), equal_to([2, 4]))


def test_local_runs_use_the_fnapi_runner_and_others_keep_theirs():
    """No --runner (or DirectRunner) must not let Beam fetch Prism from GitHub at run time."""
    from apache_beam.options.pipeline_options import StandardOptions
    for argv in ([], ["--runner=DirectRunner"], ["--runner", "DirectRunner", "--direct_num_workers=2"]):
        assert with_local_runner(PipelineOptions(argv)).view_as(StandardOptions).runner == LOCAL_RUNNER
    for runner in ("DataflowRunner", "FlinkRunner", "PortableRunner", "PrismRunner"):
        options = with_local_runner(PipelineOptions([f"--runner={runner}"]))
        assert options.view_as(StandardOptions).runner == runner


def test_local_builds_use_every_core_unless_told_otherwise():
    from pipeline.runners import local_parallelism
    assert local_parallelism([], cores=2) == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert local_parallelism(["--runner=DirectRunner"], cores=8)[-1] == "--direct_num_workers=8"
    assert local_parallelism([], cores=1) == []
    assert local_parallelism(["--direct_num_workers=1"], cores=4) == []
    assert local_parallelism(["--direct_running_mode", "in_memory"], cores=4) == []
    assert local_parallelism(["--runner=DataflowRunner"], cores=4) == []
    assert local_parallelism(["--s3_endpoint_url=http://localhost:9000"], cores=4) == [], \
        "workers would not get the S3 flags (tests/test_object_storage.py)"


def test_local_workers_log_warnings_only_while_a_build_runs(monkeypatch):
    """The worker options file sets the harness log level the local runner's workers
    read; a variable the user set is left as it is, and nothing outlives the build."""
    import json
    import os

    from pipeline.runners import quiet_local_workers
    monkeypatch.delenv("PIPELINE_OPTIONS_FILE", raising=False)
    monkeypatch.setenv("GRPC_VERBOSITY", "DEBUG")
    with quiet_local_workers():
        with open(os.environ["PIPELINE_OPTIONS_FILE"]) as f:
            options = json.load(f)["options"]
        assert options["default_sdk_harness_log_level"] == "WARNING"
        assert os.environ["GRPC_VERBOSITY"] == "DEBUG"
        path = os.environ["PIPELINE_OPTIONS_FILE"]
    assert "PIPELINE_OPTIONS_FILE" not in os.environ and not os.path.exists(path)
    assert os.environ["GRPC_VERBOSITY"] == "DEBUG"


def test_cli_fails_before_work_with_one_line(tmp_path):
    import subprocess
    import sys

    def run(*args):
        r = subprocess.run([sys.executable, "-m", "pipeline", "build", *args], capture_output=True, text=True, cwd=REPO)
        return r.returncode, r.stderr.strip().splitlines()[-1]

    assert run("--recipe", str(tmp_path / "missing.yaml"), "--output", str(tmp_path)) == \
        (2, f"error: cannot read recipe {tmp_path / 'missing.yaml'}: [Errno 2] No such file or directory: "
            f"'{tmp_path / 'missing.yaml'}'")
    (tmp_path / "bad.yaml").write_text("name: [unclosed")
    code, line = run("--recipe", str(tmp_path / "bad.yaml"), "--output", str(tmp_path))
    assert code == 2 and line.startswith("error: recipe ") and "not valid YAML" in line
    (tmp_path / "r.yaml").write_text("name: x\nsources:\n - {name: a, type: warc, paths: [/nonexistent/*.warc.gz]}\n")
    finished = tmp_path / "finished"   # a finished corpus from an earlier build stays one
    finished.mkdir()
    (finished / "manifest.json").write_text("{}")
    assert run("--recipe", str(tmp_path / "r.yaml"), "--output", str(finished)) == \
        (2, "error: no input file matches '/nonexistent/*.warc.gz'")
    assert (finished / "manifest.json").read_text() == "{}"
    assert not (tmp_path / "manifest.json").exists()


SOURCE = {"name": "a", "type": "parquet", "paths": ["x"]}


@pytest.mark.parametrize("change, line", [
    # wrong types gave raw tracebacks
    ({"sources": [{**SOURCE, "epochs": "two"}]},
     "sources[0].epochs: a number of epochs, or {base: E, rehydrate: [[bound, multiplier], ...]}"),
    ({"tokenizer": {"train": {"vocab_size": "big"}}}, "tokenizer.train.vocab_size: 'big' is not of type 'integer'"),
    ({"sources": [{**SOURCE, "columns": ["text"]}]}, "sources[0].columns: ['text'] is not of type 'object'"),
    # values that cannot work passed the checks and failed after the clean job
    ({"tokenizer": {"train": {"vocab_size": 100}}}, "tokenizer.train.vocab_size: 100 is less than the minimum of 261"),
    ({"tokenizer": {"train": {"sample_docs": 0}}}, "tokenizer.train.sample_docs: 0 is less than the minimum of 1"),
    ({"tokenizer": {"train": {"min_frequency": -1}}}, "tokenizer.train.min_frequency: -1 is less than the minimum of 0"),
    ({"sources": [{**SOURCE, "epochs": float("inf")}]}, "sources[0].epochs: inf is not a finite number"),
    ({"sources": [{**SOURCE, "epochs": float("nan")}]}, "sources[0].epochs: nan is not a finite number"),
    ({"filters": {"text": [{"name": "gopher_quality", "min_doc_words": "fifty"}]}},
     "filters.text[0] (rule 'gopher_quality').min_doc_words: 'fifty' is not of type 'integer'"),
    # a string that is not a boolean turned exact dedup on
    ({"dedup": {"exact": "false"}}, "dedup.exact: 'false' is not of type 'boolean'"),
    ({"sources": [{**SOURCE, "wat": True}]}, "sources[0].wat: only warc and cc-listing sources take it"),
    ({"filters": {"code": [{"name": "datatrove"}]}}, "filters.code[0] (rule 'datatrove'): a datatrove rule needs its 'class'"),
])
def test_hostile_recipes_fail_with_one_line_naming_the_key(change, line):
    with pytest.raises(RecipeError) as caught:
        parse_recipe({**BASE, **change})
    assert str(caught.value) == line


def test_a_bad_recipe_fails_before_beam_is_imported(tmp_path):
    """`python -m pipeline build` checks the recipe first: with Beam unimportable, a bad
    recipe still ends in its one `error:` line and exit status 2."""
    import subprocess
    import sys
    (tmp_path / "r.yaml").write_text("name: x\nsources:\n  - {name: a, type: warc, paths: [p], epochs: .nan}\n")
    script = ("import sys; sys.modules['apache_beam'] = None\n"
              "from pipeline.__main__ import main\n"
              f"sys.exit(main(['build', '--recipe', {str(tmp_path / 'r.yaml')!r}, '--output', 'unused']))")
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert (run.returncode, run.stderr.splitlines()) == (2, ["error: sources[0].epochs: nan is not a finite number"])


def schema_properties(node) -> set[str]:
    """Every property name anywhere in a schema."""
    if isinstance(node, dict):
        own = set(node.get("properties", {}))
        return own.union(*(schema_properties(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(schema_properties(v) for v in node))
    return set()


def test_the_schema_holds_every_key_the_code_reads():
    """The schema is the recipe reference: every key recipe.py reads, every argument of
    every rule and every reader's options are in it, and nothing else is."""
    import ast
    import importlib
    import inspect

    from pipeline.recipe import recipe_schema
    from pipeline.rules.quality import RULES
    from sources.readers import READERS
    from tokenizer.bpe import SPECIAL_TOKENS
    schema = recipe_schema()
    module = ast.parse((REPO / "pipeline" / "recipe.py").read_text())
    parsers = ("_source", "_decontaminate", "_dedup", "parse_recipe")   # what turns a recipe into dataclasses
    tree = ast.Module([n for n in module.body if isinstance(n, ast.FunctionDef) and n.name in parsers], [])
    assert len(tree.body) == len(parsers)
    read = {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)}
    read |= {node.slice.value for node in ast.walk(tree)
             if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
             and isinstance(node.slice.value, str)}
    assert {"epochs", "fix_mojibake", "min_similarity", "sets"} <= read
    assert read - {"sources", "filters", "type"} <= schema_properties(schema), read - schema_properties(schema)
    rules = schema["$defs"]["rules"]
    for name, factory in RULES.items():
        if factory.__name__ == "make":   # a lazily imported class: its module and name are in the closure
            module, attribute = (c.cell_contents for c in factory.__closure__)
            factory = getattr(importlib.import_module(f"pipeline.rules.{module}"), attribute)
        # what the pipeline hands a rule, never the recipe: the chain's word signals, a trained model
        arguments = set(inspect.signature(factory).parameters) - {"signals", "trained"}
        assert set(rules[name]["properties"]) - {"name"} == arguments, name
    assert set(rules) == {*RULES, "datatrove"}
    source = schema["$defs"]["source"]
    assert source["properties"]["type"]["enum"] == list(READERS)
    options = set().union(*(spec.options for spec in READERS.values()))
    assert options <= set(source["properties"])
    for rule in source["allOf"][1:]:          # each option allowed for exactly the types whose reader takes it
        types = set(rule["if"]["properties"]["type"]["not"]["enum"])
        for key in rule["then"]["properties"]:
            assert types == {t for t, spec in READERS.items() if key in spec.options}, key
    assert schema["properties"]["tokenizer"]["properties"]["train"]["properties"]["vocab_size"]["minimum"] == \
        256 + len(SPECIAL_TOKENS)
