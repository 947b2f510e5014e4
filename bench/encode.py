"""Encoding speed per core: our Tokenize stage vs raw fastokens and tiktoken vs HF tokenizers, same vocabulary.

    python -m bench.encode [--tokenizer out/sample/tokenizer.json] [--repeat 3]

Documents are a recipe's clean documents (pipeline/reference.py: the pure rules
applied to its inputs; the sample recipe by default). Three encoders run
single-threaded in this process, alternately, best of --repeat:
  - HF tokenizers' `encode` (the reference ids);
  - raw tiktoken: `encode_ordinary` of the Encoding tokenizer/encoding.py builds;
  - raw fastokens (where installed): the encoder the build uses when it can;
  - the stage: the Tokenize DoFn's per-document work (EncodeDocuments.process and its
    bundle flush: encoding, EOS, the NumPy array, language and byte count, and the
    tokenizer-quality tally), called directly without a runner.
The ids must be identical, or the figures mean nothing; the goal is the stage at
80% or more of its raw encoder's speed.
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
    from pipeline.transforms.tokenize import EncodeDocuments, TokenizerInfo
    from tokenizer.bpe import train_bpe
    from tokenizer.encoding import ordinary_encoder, tiktoken_encoding

    docs = clean_documents(load_recipe(args.recipe))
    if os.path.exists(args.tokenizer):
        tokenizer_json = open(args.tokenizer, encoding="utf-8").read()
    else:
        tokenizer_json = train_bpe([d.text for d in docs], vocab_size=32768)
    hf, tk = Tokenizer.from_str(tokenizer_json), tiktoken_encoding(tokenizer_json)
    try:
        fast = ordinary_encoder(tokenizer_json, "fastokens")
    except ImportError:
        fast = tk.encode_ordinary   # no wheel here: the build encodes with tiktoken

    recipe = load_recipe(args.recipe)
    info = TokenizerInfo.of(tokenizer_json, held_out_above=0.0)   # measure every document
    stage = EncodeDocuments(recipe.layout, recipe.tokenizer.fim, measure=True)
    stage.setup()

    def run_stage(subset):
        stage.start_bundle()
        out = [t for d in subset for t in stage.process(d, info)]
        list(stage.finish_bundle())
        return out

    print(f"{'kind':<6}{'docs':>6}{'MB':>7}{'HF MB/s':>9}{'tiktoken MB/s':>15}{'fastokens MB/s':>16}{'stage MB/s':>12}"
          f"{'stage/raw':>11}{'tiktoken/HF':>13}{'fastokens/tiktoken':>20}{'bytes/token':>13}  ids equal")
    for kind in ("text", "code", "all"):
        subset = [d for d in docs if kind in ("all", d.kind)]
        texts = [d.text for d in subset]
        mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
        ours = [tk.encode_ordinary(t) for t in texts]
        staged = [t.tokens[:-1].tolist() for t in run_stage(subset)]
        equal = ours == [hf.encode(t, add_special_tokens=False).ids for t in texts] == staged == list(map(fast, texts))
        t_hf = best_of(args.repeat, lambda: [hf.encode(t, add_special_tokens=False) for t in texts])
        t_tk = best_of(args.repeat, lambda: [tk.encode_ordinary(t) for t in texts])
        t_fast = best_of(args.repeat, lambda: [fast(t) for t in texts])
        t_stage = best_of(args.repeat, lambda: run_stage(subset))
        tokens = sum(map(len, ours))
        print(f"{kind:<6}{len(texts):>6}{mb:>7.2f}{mb / t_hf:>9.2f}{mb / t_tk:>15.2f}{mb / t_fast:>16.2f}"
              f"{mb / t_stage:>12.2f}{min(t_tk, t_fast) / t_stage:>10.0%} {t_hf / t_tk:>12.1f}x"
              f"{t_tk / t_fast:>19.1f}x{mb * 1e6 / tokens:>13.2f}  {equal}")


if __name__ == "__main__":
    main()
