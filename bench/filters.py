"""Quality filtering speed and agreement: our shared-signal Gopher rules vs datatrove's.

    python -m bench.filters [--min-docs 1000]

Documents: the sample recipe's text documents after extraction and normalisation
(no filters), plus the long descriptions (READMEs) in the METADATA of every
installed package, to pass --min-docs real documents. Both chains run the
sample recipe's Gopher settings (repetition then quality), single-threaded, on
the same documents; agreement is the share with the same keep/drop decision.
"""
from __future__ import annotations

import argparse
import dataclasses
import email
import importlib.metadata
import time

from sources.document import Document


def package_readmes() -> list[str]:
    texts = []
    for dist in sorted(importlib.metadata.distributions(), key=lambda d: d.metadata["Name"] or ""):
        message = email.message_from_string(dist.read_text("METADATA") or "")
        body = message.get_payload()
        if isinstance(body, str) and len(body) > 500:
            texts.append(body)
    return texts


def corpus(min_docs: int) -> list[Document]:
    from pipeline.recipe import load_recipe
    from pipeline.reference import filtered_documents
    recipe = dataclasses.replace(load_recipe("recipes/sample.yaml"), filters={})
    docs = [d for d in filtered_documents(recipe) if d.kind == "text"]
    docs += [Document(id=f"readme/{i}", text=t, kind="text", source="readme") for i, t in enumerate(package_readmes())]
    if len(docs) < min_docs:   # split long documents in two halves, both real text
        docs += [dataclasses.replace(d, id=d.id + "#2", text=d.text[len(d.text) // 2:]) for d in docs]
    return docs


def chains(recipe_rules):
    from pipeline.rules.quality import DatatroveRule, build_rule
    ours = [build_rule(spec) for spec in recipe_rules]
    reference = [DatatroveRule({"gopher_quality": "GopherQualityFilter",
                                "gopher_repetition": "GopherRepetitionFilter"}[spec["name"]],
                               **{k: v for k, v in spec.items() if k != "name"}) for spec in recipe_rules]
    return ours, reference


def decide(rules, doc):
    for rule in rules:
        reason = rule(doc)
        if reason:
            return reason
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-docs", type=int, default=1000)
    args = parser.parse_args()
    from pipeline.recipe import load_recipe
    specs = [s for s in load_recipe("recipes/sample.yaml").filters["text"] if s["name"].startswith("gopher")]
    docs = corpus(args.min_docs)
    ours, reference = chains(specs)
    start = time.perf_counter()
    mine = [decide(ours, d) for d in docs]
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    theirs = [decide(reference, d) for d in docs]
    t_ref = time.perf_counter() - start
    mb = sum(len(d.text.encode()) for d in docs) / 1e6
    same = sum((a is None) == (b is None) for a, b in zip(mine, theirs))
    same_reason = sum(a == b for a, b in zip(mine, theirs))
    print(f"{len(docs)} documents, {mb:.2f} MB, mean {mb * 1e6 / len(docs):,.0f} bytes")
    print(f"datatrove (spaCy words): {t_ref:7.2f} s  {len(docs) / t_ref:8.1f} docs/s")
    print(f"shared signals:          {t_ours:7.2f} s  {len(docs) / t_ours:8.1f} docs/s   speed-up {t_ref / t_ours:.1f}x")
    print(f"same keep/drop: {same}/{len(docs)} = {same / len(docs):.2%}; same reason: {same_reason / len(docs):.2%}")
    print(f"kept: ours {sum(a is None for a in mine)}, datatrove {sum(b is None for b in theirs)}")
    for d, a, b in zip(docs, mine, theirs):
        if (a is None) != (b is None):
            print(f"  differs: {d.id}: ours {a}, datatrove {b}")


if __name__ == "__main__":
    main()
