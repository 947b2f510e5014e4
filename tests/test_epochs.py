"""The epoch rule: copies, keys, shard assignment (pure functions)."""
import math

import pytest

import numpy as np

from manifests.splits import TRAIN, VALIDATION, in_validation, uniform_hash
from pipeline.rules.epochs import (KEY_BINS, ShardPlan, StreamLayout, epoch_copies, key_bin, plan_shards, sample_key,
                                   shard_count, shard_of)

IDS = [f"src/file-{i}.parquet@{i * 7}" for i in range(4000)]


def test_uniform_hash_is_deterministic_uniform_and_salted():
    values = [uniform_hash(1234, d, "0") for d in IDS]
    assert values == [uniform_hash(1234, d, "0") for d in IDS]
    assert all(0.0 <= v < 1.0 for v in values)
    assert abs(sum(values) / len(values) - 0.5) < 0.02
    assert sum(v < 0.25 for v in values) == pytest.approx(1000, abs=100)
    assert values != [uniform_hash(1235, d, "0") for d in IDS]
    assert values != [uniform_hash(1234, d, "1") for d in IDS]


@pytest.mark.parametrize("epochs", [1, 2, 4, 3])
def test_whole_epochs_give_one_copy_per_epoch_inside_its_band(epochs):
    for d in IDS[:500]:
        copies = epoch_copies(7, d, epochs)
        assert [c.epoch for c in copies] == list(range(epochs))
        for c in copies:
            assert c.epoch / epochs <= c.key < (c.epoch + 1) / epochs
            assert c.key == (c.epoch + uniform_hash(7, d, str(c.epoch))) / epochs


def test_fractional_epochs_sample_the_last_partial_epoch():
    counts = [len(epoch_copies(7, d, 2.5)) for d in IDS]
    assert set(counts) == {2, 3}
    assert sum(c == 3 for c in counts) / len(IDS) == pytest.approx(0.5, abs=0.03)
    for d in IDS:
        for c in epoch_copies(7, d, 2.5):
            assert 0 <= c.key < 1
            if c.epoch == 2:
                assert 2 / 2.5 <= c.key < 1


def test_epochs_must_be_positive():
    with pytest.raises(ValueError):
        epoch_copies(0, "x", 0)


def test_shard_count_and_assignment():
    assert shard_count(0, 100) == 0, "an empty split has no shards"
    assert shard_count(1, 100) == 1
    assert shard_count(100, 100) == 1
    # the count whose mean shard is nearest the target, relatively: 149 tokens make
    # 2 shards 25.5% under rather than 1 shard 49% over
    assert shard_count(101, 100) == 1 and shard_count(149, 100) == 2 and shard_count(250, 100) == 3
    assert shard_count(329, 100) == 3 and shard_count(343, 100) == 4 and shard_count(360, 100) == 4
    assert shard_count(10 ** 12, 4 * 10 ** 6) == 250_000
    assert shard_of(0.0, 4) == 0
    assert shard_of(0.2499, 4) == 0
    assert shard_of(0.25, 4) == 1
    assert shard_of(0.999999999, 4) == 3
    keys = [c.key for d in IDS for c in epoch_copies(3, d, 2)]
    per_shard = [sum(shard_of(k, 8) == s for k in keys) for s in range(8)]
    assert max(per_shard) / min(per_shard) < 1.2   # shards get even shares
    assert math.isclose(sum(per_shard), 2 * len(IDS))


def test_tokenizer_sample_follows_the_stream_share():
    """Equal text (2 epochs) and code (4 epochs): code is 2/3 of the stream, so about 2/3
    of a weighted sample; uniform sampling would give 1/2."""
    keys = sorted([(sample_key(7, f"text/{i}", 2.0), "text") for i in range(20000)]
                  + [(sample_key(7, f"code/{i}", 4.0), "code") for i in range(20000)])
    share = sum(kind == "code" for _, kind in keys[:3000]) / 3000
    assert abs(share - 2 / 3) < 0.03, share    # 3.5 standard deviations


def test_validation_split_is_a_stable_share_held_out_once():
    layout = StreamLayout(7, {"a": 2.0, "b": 4.0}, {"a": 0.05})
    held = [d for d in IDS if layout.split(d, "a") == VALIDATION]
    assert len(held) / len(IDS) == pytest.approx(0.05, abs=0.01)
    assert all(layout.split(d, "b") == TRAIN for d in IDS), "a source without a fraction holds none out"
    # the seed orders the stream but does not choose the split: builds stay comparable
    assert held == [d for d in IDS if StreamLayout(8, {"a": 2.0}, {"a": 0.05}).split(d, "a") == VALIDATION]
    # a larger fraction holds out a superset: raising it never moves a document into training
    assert set(held) <= {d for d in IDS if in_validation(d, 0.2)}
    for d in IDS[:300]:
        split, copies = layout.copies(d, "a")
        if split == VALIDATION:
            assert len(copies) == 1 and copies[0].epoch == 0 and 0 <= copies[0].key < 1
        else:
            assert copies == epoch_copies(7, d, 2.0)
    assert not in_validation(IDS[0], 0.0)


def test_shard_cuts_balance_tokens_where_equal_widths_do_not():
    """Documents of very unequal lengths at random keys: equal-width shards differ by
    chance; cuts placed on the key histogram leave each shard within one bin of its share."""
    rng = np.random.default_rng(0)
    keys = rng.random(20000)
    lengths = rng.lognormal(6, 1.5, 20000).astype(np.int64) + 1
    histogram = np.bincount([key_bin(k) for k in keys], weights=lengths, minlength=KEY_BINS).astype(np.int64)
    target = int(lengths.sum()) // 37
    plan = plan_shards(histogram, target)
    assert plan.num_shards == 37 and len(plan.cuts) == 36 and list(plan.cuts) == sorted(set(plan.cuts))
    balanced = np.bincount([plan.shard_of(k) for k in keys], weights=lengths, minlength=37)
    uniform = np.bincount([shard_of(k, 37) for k in keys], weights=lengths, minlength=37)
    share = lengths.sum() / 37
    assert abs(balanced - share).max() <= lengths.max()          # at most one (bin's) document off
    assert abs(balanced - share).max() / share < 0.02
    assert abs(uniform - share).max() / share > 0.05, "equal widths are the worse plan here"
    # stream order survives: a larger key never lands in an earlier shard
    order = np.argsort(keys)
    assert (np.diff([plan.shard_of(k) for k in keys[order]]) >= 0).all()


def test_shard_plans_for_small_and_empty_splits():
    assert plan_shards(np.zeros(KEY_BINS, np.int64), 100) == ShardPlan(0)
    one = np.zeros(KEY_BINS, np.int64)
    one[5] = 120
    assert plan_shards(one, 100) == ShardPlan(1) and ShardPlan(1).shard_of(0.9) == 0
    # one huge document in one bin still gives every shard a non-empty range of bins
    heavy = np.zeros(KEY_BINS, np.int64)
    heavy[100], heavy[200:300] = 10_000, 1
    plan = plan_shards(heavy, 3_000)
    assert len(set(plan.cuts)) == plan.num_shards - 1 and plan.cuts[0] > 100
