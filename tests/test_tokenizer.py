"""BPE training and the fast encoders (tiktoken, fastokens): ids must equal HF tokenizers' exactly."""
import importlib.util
import json

import pytest
from tokenizers import Tokenizer

from tokenizer.bpe import EOS, GPT4_PATTERN, SPECIAL_TOKENS, train_bpe
from tokenizer.encoding import (ENCODERS, IncompatibleTokenizer, array_encoder, ordinary_encoder, special_token_id,
                                tiktoken_encoding, vocab_size)

EDGE_CASES = [
    "emoji 😀👍🏽 and flags 🇫🇷, a ZWJ family 👨‍👩‍👧",
    "CJK: 中文分词测试，日本語のテキスト、한국어 문장.",
    " " * 300 + "x" + "\t" * 50 + "\n" * 40 + "y",
    "numbers 1234567890 3.14159 1e-10 0xFFEE and 1,000,000",
    "contractions: I'm, you're, they've, it'll, we'd, DON'T, She'S",
    "def f(x):\n\treturn {k: v for k, v in x.items() if k != '__init__'}  # comment\n",
    "mixed\r\nline\rendings\n\u00a0non-breaking\u2003spaces\u200b",
    "",
]


@pytest.fixture(scope="module")
def trained(sample_documents):
    return train_bpe([d.text for d in sample_documents], vocab_size=8192)


def test_training_is_deterministic_and_sized(sample_documents, trained):
    assert train_bpe([d.text for d in sample_documents], vocab_size=8192) == trained
    spec = json.loads(trained)
    assert vocab_size(trained) == 8192
    assert spec["normalizer"] is None and spec["model"]["ignore_merges"] is True
    # special tokens sit after the learned vocabulary, EOS first
    assert [special_token_id(trained, t) for t in SPECIAL_TOKENS] == list(range(8192 - 5, 8192))
    assert special_token_id(trained, EOS) == 8187


def encoder(trained: str, engine: str):
    if engine == "fastokens":
        pytest.importorskip("fastokens", reason="no fastokens wheel on this platform: the build uses tiktoken")
    return ordinary_encoder(trained, engine)


@pytest.mark.parametrize("engine", ENCODERS)
def test_encoder_ids_equal_hf_ids_on_every_document(sample_documents, trained, engine):
    hf = Tokenizer.from_str(trained)
    encode = encoder(trained, engine)
    texts = [d.text for d in sample_documents] + EDGE_CASES
    assert len(texts) > 700
    as_array = array_encoder(trained, engine)
    mismatches = [i for i, t in enumerate(texts)
                  if not encode(t) == as_array(t).tolist() == hf.encode(t, add_special_tokens=False).ids]
    assert mismatches == []
    enc = tiktoken_encoding(trained)
    for t in EDGE_CASES:
        assert enc.decode(encode(t)) == t == hf.decode(hf.encode(t).ids)
    # special tokens' text inside a document is ordinary text to both (HF would match it)
    special = f"a {EOS} b <|fim_prefix|>"
    assert encode(special) == as_array(special).tolist() == enc.encode_ordinary(special)
    assert special_token_id(trained, EOS) not in encode(special)


def test_tiktoken_uses_the_exact_pre_tokenizer_pattern(trained):
    assert tiktoken_encoding(trained)._pat_str == GPT4_PATTERN


def test_incompatible_tokenizers_are_refused(trained):
    spec = json.loads(trained)
    with_normalizer = dict(spec, normalizer={"type": "NFC"})
    with pytest.raises(IncompatibleTokenizer, match="normalizer"):
        tiktoken_encoding(json.dumps(with_normalizer))
    missing_byte = json.loads(trained)
    token = next(t for t, i in missing_byte["model"]["vocab"].items() if len(t) == 1)
    del missing_byte["model"]["vocab"][token]
    with pytest.raises(IncompatibleTokenizer, match="256 bytes"):
        tiktoken_encoding(json.dumps(missing_byte))
    with pytest.raises(ValueError):
        train_bpe(["abc"], vocab_size=100)


def test_output_loads_in_transformers_with_its_special_tokens(sample_documents, trained, tmp_path):
    """The output directory loads as-is with transformers' PreTrainedTokenizerFast and
    AutoTokenizer: same ids as HF tokenizers, EOS/PAD/FIM tokens named, exact decoding."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from pipeline.transforms.tokenize import save_tokenizer
    from tokenizer.bpe import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, PAD
    save_tokenizer((trained, float("inf")), str(tmp_path))
    hf = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for loaded in (PreTrainedTokenizerFast.from_pretrained(str(tmp_path)),
                   AutoTokenizer.from_pretrained(str(tmp_path))):
        assert loaded.eos_token == EOS and loaded.eos_token_id == special_token_id(trained, EOS)
        assert loaded.pad_token == PAD and loaded.pad_token_id == special_token_id(trained, PAD)
        assert loaded.extra_special_tokens == [FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX]   # v4: additional_
        assert loaded.bos_token is None and len(loaded) == 8192
        for text in [d.text for d in sample_documents[:50]] + EDGE_CASES:
            ids = loaded(text, add_special_tokens=False)["input_ids"]
            assert ids == hf.encode(text, add_special_tokens=False).ids
            assert loaded.decode(ids) == text
        assert loaded.convert_tokens_to_ids(FIM_MIDDLE) == special_token_id(trained, FIM_MIDDLE)


def test_a_vocabulary_over_100k_trains_encodes_exactly_and_needs_int32(sample_documents):
    """GPT-4-sized vocabularies: synthetic words (seeded) give the trainer enough distinct
    pairs to reach 110,000; ids above 65,535 must survive tiktoken and the shard dtype."""
    import random

    import numpy as np

    from manifests.shard_format import token_dtype
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(4, 12))) for _ in range(120_000)]
    texts = [" ".join(words[i:i + 400] * 2) for i in range(0, len(words), 400)]
    trained = train_bpe(texts, vocab_size=110_000)
    assert vocab_size(trained) == 110_000 and token_dtype(110_000) == np.int32
    hf = Tokenizer.from_str(trained)
    probe = texts[:20] + [d.text for d in sample_documents[:50]] + EDGE_CASES
    expected = [hf.encode(t, add_special_tokens=False).ids for t in probe]
    for engine in ENCODERS:
        if engine == "fastokens" and not importlib.util.find_spec("fastokens"):
            continue
        assert [ordinary_encoder(trained, engine)(t) for t in probe] == expected, engine
    assert max(max(i, default=0) for i in expected) > 65_535
    assert special_token_id(trained, EOS) == 110_000 - len(SPECIAL_TOKENS)
