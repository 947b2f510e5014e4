"""The corpus graph, top to bottom as in DESIGN.md. Nothing else knows the stage order.

Two jobs, so that a killed build resumes after the expensive half (pipeline/resume.py):

clean (build_clean), into the clean job's folder under _work/:
    ReadSources -> ExtractText -> Normalize -> FilterQuality -> [Decontaminate] -> WriteCleanParts
                                                                   \\-> Deduplicate (small keys) -> WriteDropList
                                                 [dedup.against: earlier indexes ->/]  [-> WriteDedupGroups]
                                                                                   [-> WriteDedupIndex]
    AccountForRecords: drops, reads, errors, tallies, group sizes, dead letters, rejects
or, with --from_documents, an earlier build's documents dataset as it is:
    ReadDocumentsDataset -> WriteCleanParts (an empty drop list; no rules, no dedup)

corpus (build_corpus), from that folder into the output:
    PlanCleanParts (minus drop list) -> read -> TrainTokenizer (side input)
                                    [-> read -> BuildRepoDocuments (repository documents' parts)]
                                     -> read and Tokenize, keeping each part's tokens (TokenizeParts)
                                                  -> stubs -> PlanPhases (side input) -> CountShards (side input)
                                                           \\-> CountPhases
                                                  \\-> CountDocuments, MeasureWords
                                     -> read with the kept tokens (ReadTokenizedParts)
                                                  -> ExpandEpochs -> WriteShards -> WriteManifest
                                                (with output.documents, each first copy carries its
                                                 dataset row: WriteShards writes documents/ too)

ExpandEpochs sends each document to the training stream (its epoch copies) or,
for the recipe's validation share, once to the validation shards, and a training
document to each continuation phase's stream as often as the phase plan draws it.
"""
from __future__ import annotations

import apache_beam as beam

from pipeline.options import BuildConfig
from pipeline.transforms.accounting import AccountForRecords, ReadAccounting
from pipeline.transforms.classify import Training
from pipeline.rules.dedup_index import INDEX_DIR, index_params
from pipeline.transforms.dedup import Deduplicate, DedupOutput
from pipeline.transforms.dedup_index import WriteDedupIndex
from pipeline.transforms.documents import Decontaminate, ExtractText, FilterQuality, Normalize
from pipeline.transforms.from_documents import ReadDocumentsDataset
from pipeline.transforms.manifest import WriteManifest
from pipeline.transforms.materialize import (PlanCleanParts, ReadDropList, ReadPlannedParts, WriteCleanParts,
                                             WriteDedupGroups, WriteDropList, WriteParagraphEdits,
                                             clean_part_files)
from pipeline.transforms.read import ReadSources
from pipeline.transforms.phases import CountPhases, PlanPhases, stub
from pipeline.transforms.repos import BuildRepoDocuments, repo_part_plan
from pipeline.transforms.shards import CountShards, ExpandEpochs, WriteShards
from pipeline.transforms.stats import CountDocuments, CountRehydrated, MeasureWords
from pipeline.transforms.token_files import ReadTokenizedParts, TokenizeParts
from pipeline.transforms.tokenize import TrainTokenizer


def build_clean(p: beam.Pipeline, config: BuildConfig, clean_dir: str, dataset_files: list[str] = ()) -> None:
    """Adds the clean job to `p`: every document read, kept into `clean_dir`'s parts, or
    dropped, or dead-lettered, with the counts the manifest's funnel needs. With
    `--from_documents`, `dataset_files` (an earlier build's documents dataset) are the
    documents, kept as they are: no rules and no dedup run again."""
    if config.from_documents:
        read = p | "ReadDocumentsDataset" >> ReadDocumentsDataset(dataset_files)
        read.documents | "WriteCleanParts" >> WriteCleanParts(clean_dir)
        nothing = DedupOutput(*(p | f"NoDedup{name.title()}" >> beam.Create([]) for name in DedupOutput._fields))
        nothing.drop_list | "WriteDropList" >> WriteDropList(clean_dir)
        p | "AccountForRecords" >> AccountForRecords(clean_dir, read, [], nothing, rejects=False)
        return
    recipe = config.recipe
    rejects = recipe.rejects
    read = p | "ReadSources" >> ReadSources(recipe.sources, config.strict)
    extracted = read.documents | "ExtractText" >> ExtractText(recipe.extract_html, recipe.extract_limits, rejects)
    normalized = extracted.kept | "Normalize" >> Normalize(recipe.fix_mojibake, rejects)
    training = Training(recipe.seed, clean_dir, recipe.extract_html, recipe.extract_limits, recipe.fix_mojibake)
    filtered = normalized.kept | "FilterQuality" >> FilterQuality(recipe.filters, rejects, recipe.documents, training)
    stages = [extracted, normalized, filtered]
    if recipe.decontaminate is not None:
        decon = recipe.decontaminate
        stages.append(filtered.kept | "Decontaminate" >> Decontaminate(decon.sets, decon.ngram, decon.mode, rejects))
    clean = stages[-1].kept
    clean | "WriteCleanParts" >> WriteCleanParts(clean_dir)
    spec = recipe.dedup
    write_index = spec.index and bool(spec.methods)
    against = [f for index in config.prior_indexes for f in index["files"]]
    dedup = clean | "Deduplicate" >> Deduplicate(spec.exact, spec.url, spec.near, spec.scope, spec.paragraphs,
                                                 against, write_index)
    dedup.drop_list | "WriteDropList" >> WriteDropList(clean_dir)
    if spec.paragraphs is not None:
        dedup.edits | "WriteParagraphEdits" >> WriteParagraphEdits(clean_dir)
    if recipe.documents or recipe.rehydrates:   # the dataset's group columns; rehydration's cluster sizes
        dedup.groups | "WriteDedupGroups" >> WriteDedupGroups(clean_dir)
    if write_index:
        params = index_params(spec.exact, spec.url, spec.near, spec.scope)
        dedup.index_rows | "WriteDedupIndex" >> WriteDedupIndex(f"{clean_dir}/{INDEX_DIR}", params,
                                                                spec.index_partitions)
    p | "AccountForRecords" >> AccountForRecords(clean_dir, read, stages, dedup, rejects)


def build_corpus(p: beam.Pipeline, config: BuildConfig, code: dict, clean_dir: str,
                 accounts: dict, published: list[dict] = ()) -> beam.PCollection:
    """Adds the corpus job to `p`, reading the finished clean job's `clean_dir` and its
    `accounts` (transforms/accounting.read_accounting); `published`: the dead letters and
    rejects files already copied into the output, hashed. Returns the PCollection of the
    manifest's path."""
    recipe = config.recipe
    layout = recipe.layout
    # The clean parts are read three times, each time streaming: to train the tokenizer,
    # to count the stream's tokens (and so the shards), and to write the shards. Reading
    # them once would leave every text, then every epoch copy's tokens, waiting in the
    # runner for the tokenizer, then for the shard plans; here only the small plan
    # waits, and each later read starts once what its consumer needs exists.
    part_files = p | "ListCleanParts" >> beam.Create(clean_part_files(clean_dir))
    # with output.documents, the dataset's rows carry each document's dedup groups, and with
    # rehydration its copies follow them (a build from a documents dataset keeps the groups its
    # rows already carry)
    groups = recipe.dedup.methods if (recipe.documents or recipe.rehydrates) and not config.from_documents else ()
    # boilerplate paragraphs to remove (dedup.paragraphs), applied wherever a part is read
    unit = recipe.dedup.paragraphs.unit if recipe.dedup.paragraphs and not config.from_documents else None
    drop_list = p | "ReadDropList" >> ReadDropList(clean_dir, groups=bool(groups), edits=unit is not None)
    parts = part_files | "PlanCleanParts" >> PlanCleanParts(drop_list, unit)
    tokenizer = (parts | "ReadPartsToTrain" >> ReadPlannedParts()
                 | "TrainTokenizer" >> TrainTokenizer(recipe.tokenizer, layout, config.output))
    # repository-level code documents, joined once the tokenizer exists (their cap is in tokens);
    # from a documents dataset too, whose rows are the files (or, where pretraining used them,
    # the repository documents themselves, which pass through)
    repo_specs = recipe.repo_sources
    repo_parts = (parts | "ReadPartsForRepositories" >> ReadPlannedParts(after=tokenizer)
                  | "BuildRepoDocuments" >> BuildRepoDocuments(repo_specs, layout, tokenizer,
                                                               f"{config.work_dir}/repos")) if repo_specs else None
    # the repository documents' parts join the clean parts' plan for the passes after it; each
    # side of the Flatten and its output have one consumer: otherwise the Java job servers'
    # fusion failed ("A PCollectionNode should have exactly one producing PTransformNode")
    parts_after = parts if repo_parts is None else \
        ((parts | "CleanPartsPlan" >> beam.Map(lambda plan: plan),
          repo_parts | "PlanRepoParts" >> beam.Map(repo_part_plan))
         | "WithRepoParts" >> beam.Flatten() | "MaterializePlan" >> beam.Reshuffle())
    # each document is encoded once: the counting pass keeps every part's tokens in a token file,
    # which the writing pass reads beside the part (transforms/token_files.py)
    token_folder = f"{config.work_dir}/tokens"
    counted = parts_after | "ReadAndTokenize" >> TokenizeParts(tokenizer, layout, recipe.tokenizer.fim, token_folder,
                                                              groups=groups if recipe.rehydrates else ())
    docs_to_count = counted.documents
    # the stubs are materialised (Reshuffle): their consumers wait for the phase plan made from them,
    # and fused into the stage that makes them, they would wait for themselves
    stubs = counted.docs | "StubDocuments" >> beam.Map(stub) | "MaterializeStubs" >> beam.Reshuffle()
    phase_plans = stubs | "PlanPhases" >> PlanPhases(layout, recipe.continuation)
    shard_plans = stubs | "CountShards" >> CountShards(layout, recipe.shard_tokens, phase_plans,
                                                       tuple(p.name for p in recipe.continuation))
    docs_to_shard = parts_after | "ReadTokensToShard" >> ReadTokenizedParts(
        tokenizer, layout, recipe.tokenizer.fim, token_folder, after=shard_plans, groups=groups, rows=recipe.documents)
    keyed_copies = docs_to_shard | "ExpandEpochs" >> ExpandEpochs(layout, recipe.shard_tokens, shard_plans,
                                                                  phase_plans)
    shards = keyed_copies | "WriteShards" >> WriteShards(config.output, tokenizer, config.work_dir,
                                                                   recipe.documents_file_mb)
    clean_accounts = p | "ReadAccounting" >> ReadAccounting(accounts)
    read_docs = counted.docs if repo_parts is None else \
        counted.docs | "WithoutRepoDocuments" >> beam.Filter(lambda td: not td.repository)   # the funnel's
    document_counts = read_docs | "CountDocuments" >> CountDocuments(layout)
    rehydrated = {"rehydrated": read_docs | "CountRehydrated" >> CountRehydrated(layout)} if recipe.rehydrates \
        else {}
    phases = {"phase_rows": stubs | "CountPhases" >> CountPhases(layout, phase_plans)} if recipe.phases else {}
    words = docs_to_count if repo_parts is None else \
        docs_to_count | "WordsWithoutRepoDocuments" >> beam.Filter(lambda d: not d.meta.get("repo_document"))
    entropy = words | "MeasureWords" >> MeasureWords(recipe.seed, recipe.stats_sample)
    return shards | "WriteManifest" >> WriteManifest(
        config, code, published, tokenizer=tokenizer, tokenizer_quality=counted.quality, shard_plans=shard_plans,
        phase_plans=phase_plans, documents=document_counts, entropy=entropy, **rehydrated, **phases,
        **clean_accounts)
