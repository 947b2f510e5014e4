"""Byte-level BPE: training with HF tokenizers, fast exact encoding with tiktoken."""
