"""Rehydration (FineWeb-2): a kept document's copies follow the size of its duplicate
cluster, by the epoch rule with the document's own epochs, and verify's epoch checks and
the loader work on such a stream unchanged."""
from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.rules.epochs import StreamLayout, cluster_size, epoch_copies, rehydration_multiplier
from tests.conftest import REPO, in_repo

FINEWEB2 = ((1, 1.0), (2, 1.0), (3, 2.0), (5, 3.0), (100, 1.0))


def test_the_multiplier_is_that_of_the_largest_bound_not_above_the_cluster():
    assert [rehydration_multiplier(FINEWEB2, n) for n in (1, 2, 3, 4, 5, 99, 100, 5000)] == [1, 1, 2, 2, 3, 3, 1, 1]
    assert rehydration_multiplier(((3, 2.0),), 2) == 1.0 and rehydration_multiplier((), 50) == 1.0
    assert cluster_size(None) == 1 and cluster_size({"exact": ["a", 3], "url": ["a", 9], "near": ["a", 2]}) == 4


def test_a_documents_copies_are_its_sources_epochs_times_its_multiplier_spread_over_the_stream():
    layout = StreamLayout(7, {"web": 2.0}, {}, {"web": FINEWEB2})
    for cluster, epochs in ((1, 2.0), (3, 4.0), (7, 6.0), (250, 2.0)):
        split, copies = layout.copies("doc-1", "web", cluster)
        assert copies == epoch_copies(7, "doc-1", epochs)
        # copy e of E_d sits in [e / E_d, (e + 1) / E_d): spread over the whole stream
        assert all(c.epoch / epochs <= c.key < (c.epoch + 1) / epochs for c in copies)
    unlisted = StreamLayout(7, {"web": 2.0, "code": 4.0}, {}, {"web": FINEWEB2})
    assert unlisted.copies("doc-1", "code", 50)[1] == epoch_copies(7, "doc-1", 4.0)


@pytest.fixture(scope="module")
def rehydrated(tmp_path_factory):
    """The sample with a fractional multiplier for any document with a duplicate: 2 x 1.75
    epochs, so the partial copy's second hash is exercised too."""
    from pipeline.__main__ import build
    recipe = yaml.safe_load((REPO / "recipes/sample.yaml").read_text())
    for source in recipe["sources"][:2]:
        source["epochs"] = {"base": 2, "rehydrate": [[2, 1.75]]}
    folder = tmp_path_factory.mktemp("rehydrated")
    (folder / "r.yaml").write_text(yaml.safe_dump(recipe))
    with in_repo():
        build(["--recipe", str(folder / "r.yaml"), "--output", str(folder / "out"), "--no_progress"])
    return folder / "out", recipe["seed"]


def test_a_rehydrated_build_gives_each_document_its_clusters_copies(rehydrated):
    from manifests.verify import verify
    out, seed = rehydrated
    assert verify(str(out)) == []
    rows = [r for f in sorted((out / "documents" / "train").glob("*.parquet"))
            for r in pq.read_table(f, columns=["id", "source", "copies", "exact_group_size", "near_group_size"])
            .to_pylist()]
    lineage = Counter(i for f in sorted(out.glob("shard-*.docs.parquet"))
                      for i in pq.read_table(f, columns=["id"])["id"].to_pylist())
    upsampled = 0
    for row in rows:
        cluster = 1 + (row["exact_group_size"] or 1) - 1 + (row["near_group_size"] or 1) - 1
        epochs = {"stack-sample": 4.0}.get(row["source"], 2.0 * (1.75 if cluster >= 2 else 1.0))
        expected = len(epoch_copies(seed, row["id"], epochs))
        assert row["copies"] == lineage[row["id"]] == expected, row
        upsampled += epochs == 3.5
    assert upsampled >= 20, "the sample has dozens of documents with duplicates"
    manifest = json.loads((out / "manifest.json").read_text())
    table = manifest["sources"]["cc-sample"]["rehydrate"]
    assert table["table"] == [[2, 1.75]] and set(table["by_multiplier"]) == {"1", "1.75"}
    assert sum(m["stream_tokens"] for m in table["by_multiplier"].values()) == \
        manifest["sources"]["cc-sample"]["stream_tokens"]


def test_the_loader_reads_a_rehydrated_stream_as_any_other(rehydrated):
    from loader.batches import CorpusLoader
    from loader.schedule import BatchSchedule
    from loader.stream import TokenStream
    out, _ = rehydrated
    manifest = json.loads((out / "manifest.json").read_text())
    stream = TokenStream.open(str(out), verify=True)
    assert stream.total_tokens == sum(shard["tokens"] for shard in manifest["shards"])
    loader = CorpusLoader(str(out), 512, 2, BatchSchedule(4))
    first = next(iter(loader))
    resumed = next(iter(CorpusLoader(str(out), 512, 2, BatchSchedule(4), state=loader.state_dict(4))))
    assert first["tokens"].shape == (2, 513) and resumed["sample_index"].tolist() == [4, 5]
