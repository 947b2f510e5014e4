"""Remote workers get the code as Beam gives it to them: `--setup_file=./setup.py`
makes Beam run `setup.py sdist` and install the result on every worker. The sdist
must hold every module a build imports and the data files they read."""
import subprocess
import sys
import tarfile

from tests.conftest import REPO

PACKAGES = ("pipeline", "sources", "tokenizer", "manifests", "loader")


def imported_modules() -> set[str]:
    """Our modules a corpus build can import: the CLIs, the graph, and every rule and reader
    module (a recipe picks those by name, and they load lazily)."""
    code = ("import sys, pkgutil, importlib, pipeline.__main__, pipeline.graph, manifests.__main__, loader.batches\n"
            "import pipeline.rules, sources\n"
            "for package in (pipeline.rules, sources):\n"
            "    for info in pkgutil.iter_modules(package.__path__, package.__name__ + '.'):\n"
            "        importlib.import_module(info.name)\n"
            f"print('\\n'.join(m for m in sys.modules if m.split('.')[0] in {PACKAGES!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_sdist_beam_builds_holds_every_module_and_data_file(tmp_path):
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(tmp_path)], cwd=REPO,
                   capture_output=True, check=True)
    [sdist] = list(tmp_path.glob("corpusmill-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        names = {"/".join(n.split("/")[1:]) for n in tar.getnames()}
    modules = imported_modules()
    assert {"pipeline.graph", "pipeline.transforms.shards", "sources.warc", "manifests.lineage",
            "tokenizer.bpe"} <= modules
    for module in modules:
        path = module.replace(".", "/")
        assert f"{path}.py" in names or f"{path}/__init__.py" in names, module
    every = {p.relative_to(REPO).as_posix() for package in PACKAGES for p in (REPO / package).rglob("*.py")}
    assert every <= names, sorted(every - names)
    assert {"manifests/schemas/manifest-v1.json", "manifests/schemas/manifest-v2.json", "pipeline/schemas/recipe-v1.json",
            "setup.py",
            "pyproject.toml"} <= names
