"""Quality filtering speed and agreement: our shared-signal rules vs datatrove's chain.

    python -m bench.filters [--min-docs 1000] [--chain fineweb|sample|all]

Documents: the sample recipe's text documents after extraction and normalisation
(no filters), plus the long descriptions (READMEs) in the METADATA of every
installed package, to pass --min-docs real documents (`corpus`, shared with
tests/test_filters_parity.py). Two chains, each run by our rules and by datatrove's
filters on the same documents, single-threaded, each side starting cold (our
word memo emptied):
- fineweb: FineWeb's published filtering, in its order: Gopher repetition and
  quality with the paper's defaults, C4 with `filter_no_terminal_punct: false`,
  FineWeb's own rules;
- sample: the same four with the sample recipe's loosened Gopher thresholds, so
  that more documents reach C4 and FineWeb.
Agreement is the share with the same keep/drop decision, the same reason, and for
kept documents the same text (C4 removes lines).
"""
from __future__ import annotations

import argparse
import dataclasses
import email
import importlib.metadata
import time

from sources.document import Document

C4_FINEWEB = {"name": "c4_quality", "filter_no_terminal_punct": False}
SAMPLE_REPETITION = {"dup_n_grams": [[5, 0.30], [6, 0.28], [7, 0.26], [8, 0.24], [9, 0.22], [10, 0.20]]}
CHAINS = {
    "fineweb": [{"name": "gopher_repetition"}, {"name": "gopher_quality"}, C4_FINEWEB, {"name": "fineweb_quality"}],
    "sample": [{"name": "gopher_repetition", **SAMPLE_REPETITION},
               {"name": "gopher_quality", "max_non_alpha_words_ratio": 0.5}, C4_FINEWEB, {"name": "fineweb_quality"}],
}


def package_readmes() -> list[str]:
    texts = []
    for dist in sorted(importlib.metadata.distributions(), key=lambda d: d.metadata["Name"] or ""):
        message = email.message_from_string(dist.read_text("METADATA") or "")
        body = message.get_payload()
        if isinstance(body, str) and len(body) > 500:
            texts.append(body)
    return texts


def corpus(min_docs: int = 1000) -> list[Document]:
    from pipeline.recipe import load_recipe
    from pipeline.reference import filtered_documents
    recipe = dataclasses.replace(load_recipe("recipes/sample.yaml"), filters={}, decontaminate=None)
    docs = [d for d in filtered_documents(recipe) if d.kind == "text"]
    docs += [Document(id=f"readme/{i}", text=t, kind="text", source="readme") for i, t in enumerate(package_readmes())]
    if len(docs) < min_docs:   # split long documents in two halves, both real text
        docs += [dataclasses.replace(d, id=d.id + "#2", text=d.text[len(d.text) // 2:]) for d in docs]
    return docs


def cold_start() -> None:
    """Both sides start as a fresh worker does: our word memo and vocabulary are new with
    each chain (rules/quality.build_chain), and datatrove's cached word tokenizer (and its last-texts cache) dropped, so each
    loads its spaCy tokenizer inside its timing. The spaCy module itself is imported
    beforehand: that is a process's cost, not a chain's, and whichever side ran first
    would otherwise pay it alone."""
    from datatrove.utils.text import split_into_parts
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from pipeline.rules.nlp import import_spacy
    import_spacy()
    load_word_tokenizer.cache_clear()
    split_into_parts.cache_clear()


def outcome(verdict, doc: Document):
    """(reason or None, final text) for comparing a chain's verdicts."""
    from pipeline.rules.verdict import Dropped, Edited
    if isinstance(verdict, Dropped):
        return verdict.reason, None
    if isinstance(verdict, str):
        return verdict, None
    return None, (verdict.doc if isinstance(verdict, Edited) else verdict).text


def run_chain(rules, docs: list[Document]) -> tuple[list, float]:
    from pipeline.rules.verdict import apply_rules
    start = time.perf_counter()
    results = [outcome(apply_rules(d, rules), d) for d in docs]
    return results, time.perf_counter() - start


def compare(specs, docs: list[Document], warm_on: list[Document] = ()) -> dict:
    """Both chains on `docs`; ours first warmed on `warm_on` (a worker's earlier documents)."""
    from pipeline.rules.quality import build_chain, reference_rule
    cold_start()
    ours = build_chain(specs)
    run_chain(ours, list(warm_on))
    mine, t_ours = run_chain(ours, docs)
    reference = [reference_rule(s) for s in specs]
    cold_start()
    theirs, t_ref = run_chain(reference, docs)
    n = len(docs)
    return {"docs": n, "t_ours": t_ours, "t_ref": t_ref, "mine": mine, "theirs": theirs,
            "same_decision": sum((a[0] is None) == (b[0] is None) for a, b in zip(mine, theirs)) / n,
            "same_reason": sum(a[0] == b[0] for a, b in zip(mine, theirs)) / n,
            "same_outcome": sum(a == b for a, b in zip(mine, theirs)) / n,
            "kept": (sum(a[0] is None for a in mine), sum(b[0] is None for b in theirs))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-docs", type=int, default=1000)
    parser.add_argument("--chain", choices=[*CHAINS, "all"], default="all")
    args = parser.parse_args()
    docs = corpus(args.min_docs)
    mb = sum(len(d.text.encode()) for d in docs) / 1e6
    print(f"{len(docs)} documents, {mb:.2f} MB, mean {mb * 1e6 / len(docs):,.0f} bytes")
    for name in CHAINS if args.chain == "all" else [args.chain]:
        print(f"\nchain {name}: {' -> '.join(s['name'] for s in CHAINS[name])}")
        # Steady state: a worker deep into a shard has met most words already. Warm our memo
        # on the even documents, then time both sides on the odd ones (which we never saw).
        r = compare(CHAINS[name], docs[1::2], warm_on=docs[0::2])
        print(f"  warm, on the {r['docs']} odd documents after the even ones: datatrove {r['t_ref']:.2f} s, "
              f"ours {r['t_ours']:.2f} s, speed-up {r['t_ref'] / r['t_ours']:.1f}x, "
              f"same keep/drop {r['same_decision']:.2%}")
        r = compare(CHAINS[name], docs)
        print("  cold, every document, each side starting fresh:")
        print(f"  datatrove filters: {r['t_ref']:7.2f} s  {r['docs'] / r['t_ref']:8.1f} docs/s")
        print(f"  shared signals:    {r['t_ours']:7.2f} s  {r['docs'] / r['t_ours']:8.1f} docs/s   "
              f"speed-up {r['t_ref'] / r['t_ours']:.1f}x")
        print(f"  same keep/drop {r['same_decision']:.2%}; same reason {r['same_reason']:.2%}; "
              f"same reason and text {r['same_outcome']:.2%}; kept: ours {r['kept'][0]}, datatrove {r['kept'][1]}")
        for d, a, b in zip(docs, r["mine"], r["theirs"]):
            if a != b:
                print(f"    differs: {d.id}: ours {a[0]}, datatrove {b[0]}" + (" (text)" if a[0] == b[0] else ""))


if __name__ == "__main__":
    main()
