"""Encoding speed per core: our tiktoken Encoding vs HF tokenizers, same vocabulary.

    python -m bench.encode [--tokenizer out/sample/tokenizer.json] [--repeat 3]

Documents are a recipe's clean documents (pipeline/reference.py: the pure rules
applied to its inputs; the sample recipe by default). Both encoders run single-threaded in this process, alternately,
best of --repeat; the ids must be identical, or the figures mean nothing.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", default="out/sample/tokenizer.json",
                        help="tokenizer.json to use; trained on the documents if missing")
    parser.add_argument("--recipe", default="recipes/sample.yaml", help="whose clean documents to encode")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from tokenizers import Tokenizer

    from pipeline.recipe import load_recipe
    from pipeline.reference import clean_documents
    from tokenizer.bpe import train_bpe
    from tokenizer.encoding import tiktoken_encoding

    docs = clean_documents(load_recipe(args.recipe))
    if os.path.exists(args.tokenizer):
        tokenizer_json = open(args.tokenizer, encoding="utf-8").read()
    else:
        tokenizer_json = train_bpe([d.text for d in docs], vocab_size=32768)
    hf, tk = Tokenizer.from_str(tokenizer_json), tiktoken_encoding(tokenizer_json)

    print(f"{'kind':<6}{'docs':>6}{'MB':>7}{'HF MB/s':>10}{'tiktoken MB/s':>15}{'ratio':>8}{'bytes/token':>13}  ids equal")
    for kind in ("text", "code", "all"):
        texts = [d.text for d in docs if kind in ("all", d.kind)]
        mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
        ours = [tk.encode_ordinary(t) for t in texts]
        equal = ours == [hf.encode(t, add_special_tokens=False).ids for t in texts]
        t_hf = best_of(args.repeat, lambda: [hf.encode(t, add_special_tokens=False) for t in texts])
        t_tk = best_of(args.repeat, lambda: [tk.encode_ordinary(t) for t in texts])
        tokens = sum(map(len, ours))
        print(f"{kind:<6}{len(texts):>6}{mb:>7.2f}{mb / t_hf:>10.2f}{mb / t_tk:>15.2f}{t_hf / t_tk:>7.1f}x"
              f"{mb * 1e6 / tokens:>13.2f}  {equal}")


if __name__ == "__main__":
    main()
