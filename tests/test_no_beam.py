"""A trainer or an inspector reads a finished corpus without the pipeline: manifests/
and loader/ open, verify and load the sample corpus with Beam unimportable, and
import nothing of pipeline/ or sources/ (the bug: manifests/io.py read through
Beam's FileSystems and took the split rule from pipeline/rules/epochs.py)."""
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
    import re
    pattern = re.compile(r"^\s*(from|import)\s+(pipeline|sources|apache_beam)\b", re.M)
    offenders = [f"{path.relative_to(REPO)}: {m.group(0).strip()}"
                 for package in ("manifests", "loader") for path in sorted((REPO / package).rglob("*.py"))
                 for m in pattern.finditer(path.read_text("utf-8"))]
    assert offenders == []
