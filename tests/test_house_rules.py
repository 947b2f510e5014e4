"""The rules of the house (DESIGN.md), checked: imports point one way, no module
imports itself back through a loop, and a trainer or an inspector reads a
finished corpus without the pipeline: manifests/ and loader/ open, verify and
load the sample corpus with Beam unimportable (the bugs: manifests/io.py read
through Beam's FileSystems and took the split rule from pipeline/rules/epochs.py;
sources/readers.py and the listing, hf and code readers imported each other)."""
import ast
import re
import subprocess
import sys

from tests.conftest import REPO

SCRIPT = """
import sys
sys.modules["apache_beam"] = None          # `import apache_beam` now raises ImportError
from manifests.__main__ import main
from manifests.io import read_manifest
from manifests.lineage import locate
from manifests.verify import verify
from loader.batches import CorpusLoader
from loader.schedule import BatchSchedule

corpus = sys.argv[1]
manifest = read_manifest(corpus)
assert verify(corpus) == [], verify(corpus)
assert main(["inspect", corpus]) == 0
doc = locate(corpus, "0", 10)
assert doc["split"] == "train" and doc["text"], doc
batch = next(iter(CorpusLoader(corpus, 64, 2, BatchSchedule(4))))
assert batch["tokens"].shape == (2, 65), batch["tokens"].shape
loaded = sorted(name for name, module in sys.modules.items()
                if module is not None and name.split(".")[0] in ("apache_beam", "pipeline", "sources"))
assert not loaded, loaded
print("read", len(manifest["shards"]), "shards without Beam")
"""


def test_manifests_and_loader_read_a_corpus_with_beam_blocked(sample_corpus):
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(sample_corpus)], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "shards without Beam" in run.stdout


def test_the_corpus_format_packages_import_nothing_of_the_pipeline():
    """The import rule of the house, read from the source (DESIGN.md: imports point one way)."""
    pattern = re.compile(r"^\s*(from|import)\s+(pipeline|sources|apache_beam)\b", re.M)
    offenders = [f"{path.relative_to(REPO)}: {m.group(0).strip()}"
                 for package in ("manifests", "loader") for path in sorted((REPO / package).rglob("*.py"))
                 for m in pattern.finditer(path.read_text("utf-8"))]
    assert offenders == []


PACKAGES = ("pipeline", "sources", "tokenizer", "manifests", "loader")


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its source (function bodies too)."""
    paths = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
             for package in PACKAGES for p in (REPO / package).rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_module_imports_itself_back_through_a_loop():
    graph = import_graph()
    assert {"sources.files", "sources.document"} <= graph["sources.readers"]   # the graph is read
    assert import_cycles(graph) == []
    assert import_cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]   # and a loop is found
