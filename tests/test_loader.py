"""The training loader on the sample corpus: exact coverage, splits, resume, boundaries.

The stream is read back independently with the Megatron-layout reader of
test_end_to_end, so the loader is checked against the shards' bytes, not itself.
"""
import random
import shutil

import numpy as np
import pytest

from loader.batches import CorpusLoader, collate, sample_arrays
from loader.schedule import BatchSchedule, global_batches, rank_micro_batches, sample_count
from loader.stream import TokenStream
from tests.test_end_to_end import megatron_documents

SEQ = 997            # prime, so samples straddle documents and shards at odd places
BATCH = 840          # samples per global batch: splits over 1 to 8 ranks with micro-batches of 1


@pytest.fixture(scope="module")
def stream(sample_corpus):
    return TokenStream.open(str(sample_corpus))


@pytest.fixture(scope="module")
def reference(sample_corpus, stream):
    """The training stream's tokens and document starts, from the shards' own bytes."""
    tokens, starts, offset = [], [], 0
    for shard in stream.shards:
        for doc in megatron_documents(sample_corpus / shard["path"].removesuffix(".bin")):
            starts.append(offset)
            tokens.append(doc)
            offset += len(doc)
    return np.concatenate(tokens), np.asarray(starts)


def all_micro_batches(path, world, workers, **kw):
    """Every rank's and worker's micro-batches, as a trainer's ranks would see them."""
    out = []
    for rank in range(world):
        loader = CorpusLoader(path, SEQ, 1, BatchSchedule(BATCH), rank=rank, world_size=world, **kw)
        per_worker = [list(loader.micro_batches(w, workers)) for w in range(workers)]
        # PyTorch's round-robin over workers: the rank's micro-batches in order
        merged = [b for group in zip(*per_worker) for b in group] + \
            [b for w in per_worker for b in w[min(map(len, per_worker)):]]
        indices = [int(i) for b in merged for i in b["sample_index"]]
        assert indices == sorted(indices), "a rank sees its micro-batches in stream order"
        out += merged
    return out


@pytest.mark.parametrize("world, workers", [(1, 1), (2, 1), (3, 2), (4, 3), (5, 1), (6, 4), (7, 2), (8, 3)])
def test_every_token_is_an_input_exactly_once_per_pass(sample_corpus, reference, world, workers):
    tokens, _ = reference
    batches = all_micro_batches(str(sample_corpus), world, workers, drop_last=False)
    by_index = {int(b["sample_index"][0]): b for b in batches}
    assert sorted(by_index) == list(range(sample_count(len(tokens), SEQ, drop_last=False)))
    assert len(by_index) == len(batches), "no sample twice"
    inputs = []
    for i in sorted(by_index):
        b = by_index[i]
        n = int(b["loss_mask"].shape[1]) if i < len(by_index) - 1 else len(tokens) - 1 - i * SEQ
        inputs.append(b["tokens"][0, :n])
        assert (b["tokens"][0, :n + 1] == tokens[i * SEQ:i * SEQ + n + 1]).all()
    assert np.array_equal(np.concatenate(inputs), tokens[:-1]), "inputs are the stream, in order, once"


def test_document_boundaries_positions_and_loss_mask_follow_the_index(stream, reference):
    tokens, starts = reference
    eos = stream.eos_id
    for i in [0, 1, 7, 500, sample_count(len(tokens), SEQ) - 1]:
        s = sample_arrays(stream, i, SEQ)
        lo = i * SEQ
        inside = starts[(starts > lo) & (starts < lo + SEQ)] - lo
        assert s["cu_seqlens"].tolist() == [0, *inside.tolist(), SEQ]
        # a position counts from its document's start (or the sample's, for the first piece)
        doc_start = np.maximum(starts[np.searchsorted(starts, np.arange(lo, lo + SEQ), side="right") - 1], lo)
        assert np.array_equal(s["position_ids"], np.arange(lo, lo + SEQ) - doc_start)
        # every piece but the last ends with EOS: no attention across documents
        assert all(s["tokens"][c - 1] == eos for c in s["cu_seqlens"][1:-1])
        assert np.array_equal(s["loss_mask"] == 0, s["tokens"][:-1] == eos)
    assert sample_arrays(stream, 0, SEQ, mask_after_eos=False)["loss_mask"].all()


def test_a_global_batch_is_the_same_samples_on_any_world_size(sample_corpus):
    def batches(world):
        seen = {}
        for rank in range(world):
            for b in CorpusLoader(str(sample_corpus), SEQ, 2, BatchSchedule(BATCH), rank=rank, world_size=world):
                seen.setdefault(int(b["batch_end"]), set()).update(b["sample_index"].tolist())
        return seen
    one = batches(1)
    assert one == batches(4) == batches(6)
    assert all(s == set(range(end - BATCH, end)) for end, s in one.items())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_resume_with_another_world_size_yields_the_identical_remainder(sample_corpus, seed):
    """Stop after a random global batch on 4 ranks; resume on 3 or 6 (and other workers):
    the union of what follows is exactly what an uninterrupted run reads next."""
    rng = random.Random(seed)
    schedule = BatchSchedule.in_tokens(SEQ, final_tokens=360 * SEQ, start_tokens=120 * SEQ,
                                       increment_tokens=60 * SEQ, ramp_tokens=1500 * SEQ)
    loaders = [CorpusLoader(str(sample_corpus), SEQ, 5, schedule, rank=r, world_size=4) for r in range(4)]
    ends = sorted({int(b["batch_end"]) for b in loaders[0]})
    stop = rng.choice(ends[:-1])
    state = loaders[0].state_dict(stop)
    full = sorted(i for ld in loaders for b in ld for i in b["sample_index"].tolist() if i >= stop)
    world = rng.choice([3, 6])
    resumed = []
    for rank in range(world):
        loader = CorpusLoader(str(sample_corpus), SEQ, 5, schedule, rank=rank, world_size=world, state=state)
        for worker in range(2):
            resumed += [b for b in loader.micro_batches(worker, 2)]
    indices = sorted(i for b in resumed for i in b["sample_index"].tolist())
    assert indices == full and len(set(indices)) == len(indices)
    assert min(indices) == stop, "nothing before the saved counter is read again"


def test_the_batch_size_ramp_is_in_the_sample_counter():
    # about 60M tokens per batch at 8k context (the GPT-4 reports), ramped from 4M
    schedule = BatchSchedule.in_tokens(8192, final_tokens=7168 * 8192, start_tokens=512 * 8192,
                                       increment_tokens=512 * 8192, ramp_tokens=100_000 * 8192)
    assert (schedule.start, schedule.increment, schedule.final, schedule.ramp_samples) == (512, 512, 7168, 100_000)
    assert [schedule.size_at(c) for c in (0, 7692, 7693, 99_999, 100_000)] == [512, 512, 1024, 6656, 7168]
    flat = BatchSchedule(16, start=4, increment=4, ramp_samples=120)
    sizes = [size for _, size in global_batches(flat, 400)]
    assert sizes[:4] == [4, 4, 4, 4] and sizes[-1] == 16 and sizes == sorted(sizes)
    assert sum(sizes) <= 400
    assert [size for _, size in global_batches(flat, 400, consumed=120)] == [16] * 17
    with pytest.raises(ValueError, match="multiples"):
        flat.check_split(micro=3, world=1)
    assert rank_micro_batches(100, 16, 2, 4, 1) == [range(102, 104), range(110, 112)]


def test_state_from_another_corpus_or_length_is_refused(sample_corpus, stream):
    state = CorpusLoader(stream, SEQ, 1, BatchSchedule(8)).state_dict(16)
    with pytest.raises(ValueError, match="fingerprint"):
        CorpusLoader(str(sample_corpus), SEQ, 1, BatchSchedule(8), split="validation", state=state)
    with pytest.raises(ValueError, match="samples of 997"):
        CorpusLoader(str(sample_corpus), 1024, 1, BatchSchedule(8), state=state)


def test_opening_reads_no_shard_and_verification_is_lazy(sample_corpus, tmp_path):
    copy = tmp_path / "corpus"
    shutil.copytree(sample_corpus, copy)
    data = bytearray((copy / "shard-00001.bin").read_bytes())
    data[10] ^= 1
    (copy / "shard-00001.bin").write_bytes(bytes(data))
    damaged = TokenStream.open(str(copy), verify=True)
    assert damaged._open == {}, "opening reads the manifest only"
    damaged.read(0, 100)                          # shard 0 is intact
    with pytest.raises(ValueError, match="shard-00001.bin: sha256"):
        damaged.read(int(damaged.offsets[1]), int(damaged.offsets[1]) + 10)


def test_long_context_samples_and_the_validation_split(stream, sample_corpus):
    for seq in (8192, 32768):
        batch = next(iter(CorpusLoader(stream, seq, 2, BatchSchedule(2))))
        assert batch["tokens"].shape == (2, seq + 1) and batch["cu_seqlens"][-1] == 2 * seq
        assert batch["max_seqlen"] == max(np.diff(batch["cu_seqlens"]))
    validation = TokenStream.open(str(sample_corpus), split="validation")
    shard = sample_corpus / validation.shards[0]["path"].removesuffix(".bin")
    assert np.array_equal(validation.read(0, validation.total_tokens), np.concatenate(megatron_documents(shard)))


def test_a_short_final_sample_is_padded_out_of_the_loss(stream):
    last = sample_count(stream.total_tokens, SEQ, drop_last=False) - 1
    short = sample_arrays(stream, last, SEQ)
    n = len(short["tokens"]) - 1
    assert n < SEQ
    batch = collate([short], SEQ, pad_id=0)
    assert batch["loss_mask"][0, n:].sum() == 0 and batch["cu_seqlens"][-1] == SEQ


def test_remote_corpus_is_cached_locally_and_reads_the_same(sample_corpus, stream, tmp_path):
    import fsspec
    memory = fsspec.filesystem("memory")
    for path in sample_corpus.iterdir():
        if path.is_file():
            memory.pipe(f"/remote-corpus/{path.name}", path.read_bytes())
    remote = TokenStream.open("memory://remote-corpus", cache_dir=str(tmp_path / "cache"))
    a, b = int(stream.offsets[1]) - 50, int(stream.offsets[1]) + 50
    assert np.array_equal(remote.read(a, b), stream.read(a, b))
    assert np.array_equal(remote.document_starts(0, 10**6), stream.document_starts(0, 10**6))
    assert len(list((tmp_path / "cache").iterdir())) >= 4, "the touched shards' files are in the cache"


def test_torch_dataset_yields_tensors_in_order_across_workers(sample_corpus):
    torch = pytest.importorskip("torch")
    from loader.torch_dataset import CorpusDataset, corpus_data_loader
    dataset = CorpusDataset(str(sample_corpus), 1024, 4, BatchSchedule(16), rank=1, world_size=2)
    batches = list(corpus_data_loader(dataset, num_workers=2))
    plain = list(CorpusLoader(str(sample_corpus), 1024, 4, BatchSchedule(16), rank=1, world_size=2))
    assert len(batches) == len(plain) > 0
    for got, want in zip(batches, plain):
        assert got["tokens"].dtype == torch.int64 and got["tokens"].shape == (4, 1025)
        assert got["loss_mask"].dtype == torch.float32 and got["position_ids"].shape == (4, 1024)
        assert got["cu_seqlens"].dtype == torch.int32
        assert np.array_equal(got["tokens"].numpy(), want["tokens"]) and got["batch_end"] == want["batch_end"]


def test_a_sample_past_the_end_is_an_index_error(stream):
    with pytest.raises(IndexError):
        sample_arrays(stream, stream.total_tokens // SEQ + 1, SEQ)
    assert len(stream.read(stream.total_tokens, stream.total_tokens + 5)) == 0


def test_document_search_works_on_an_index_with_unaligned_pointers(tmp_path):
    """An odd document count puts the .idx's int64 pointers off 8-byte alignment."""
    from bench.loader import write_corpus
    root = write_corpus(tmp_path / "odd", docs=1001, shards=1)
    stream = TokenStream.open(str(root))
    assert not stream.shard(0).pointers.flags["ALIGNED"]
    lengths = stream.shard(0).lengths.astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    assert np.array_equal(stream.document_starts(0, stream.total_tokens), starts)
    assert np.array_equal(stream.document_starts(100, 5000), starts[(starts >= 100) & (starts < 5000)])
