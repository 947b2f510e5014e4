"""Training a byte-level BPE tokenizer with HF `tokenizers`, in the GPT-4 style.

Pre-tokenisation is the cl100k regex: case-insensitive English contractions,
letter runs with one optional leading non-letter, digits in groups of 1 to 3,
punctuation runs with trailing newlines, newline runs, and whitespace runs that
leave their last space to the next word. The regex is a Split step followed by a
ByteLevel step with no regex of its own, and there is no normalizer: that is what
lets tiktoken (tokenizer/encoding.py) reproduce the ids exactly.

Special tokens go after the learned vocabulary, so ids 0..n-1 are bytes and merges
in merge order, and the total vocabulary is exactly `vocab_size`.
"""
from __future__ import annotations

from typing import Iterable

GPT4_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"""
    r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
EOS = "<|endoftext|>"
PAD = "<|pad|>"
FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX = "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>"
SPECIAL_TOKENS = (EOS, PAD, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX)


def new_bpe_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    # ignore_merges: a pre-token already in the vocabulary maps to that token, as in tiktoken.
    tokenizer = Tokenizer(models.BPE(ignore_merges=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GPT4_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2,
              special_tokens: tuple[str, ...] = SPECIAL_TOKENS) -> str:
    """Train on `texts` (order matters only for speed, not for the result) and return
    the tokenizer.json text."""
    from tokenizers import AddedToken, pre_tokenizers, trainers
    if vocab_size <= 256 + len(special_tokens):
        raise ValueError(f"vocab_size {vocab_size} leaves no room for merges")
    tokenizer = new_bpe_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(special_tokens), min_frequency=min_frequency,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[], show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens])
    return tokenizer.to_str()


def transformers_files(tokenizer_json: str) -> dict[str, str]:
    """tokenizer_config.json and special_tokens_map.json: what `transformers` reads beside
    tokenizer.json to load it as a PreTrainedTokenizerFast with its special tokens named
    (EOS, PAD, the FIM tokens as additional special tokens; no BOS: documents are joined
    by EOS only). The added tokens' ids are taken from tokenizer.json itself."""
    import json
    added = {t["content"]: t for t in json.loads(tokenizer_json).get("added_tokens", [])}
    fim = [t for t in (FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX) if t in added]
    special = {"eos_token": EOS, "pad_token": PAD if PAD in added else None, "additional_special_tokens": fim}
    special = {k: v for k, v in special.items() if v}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,   # byte-level BPE decodes exactly
        "add_bos_token": False, "add_eos_token": False,
        "added_tokens_decoder": {str(t["id"]): {k: t[k] for k in ("content", "lstrip", "rstrip", "normalized",
                                                                "single_word", "special")}
                                 for t in added.values()},
        **special,
    }
    dump = lambda value: json.dumps(value, indent=2, ensure_ascii=False) + "\n"   # noqa: E731
    return {"tokenizer_config.json": dump(config), "special_tokens_map.json": dump(special)}
