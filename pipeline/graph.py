"""The corpus graph, top to bottom as in DESIGN.md. Nothing else knows the stage order.

Two jobs, so that a killed build resumes after the expensive half (pipeline/resume.py):

clean (build_clean), into a stage folder:
    ReadSources -> ExtractText -> Normalize -> FilterQuality -> [Decontaminate] -> WriteCleanParts
                                                                   \\-> Deduplicate (small keys) -> WriteDropList
    drops, reads, errors, tallies, group sizes -> WriteAccounting; dead letters, rejects

corpus (build_corpus), from that folder into the output:
    PlanCleanParts (minus drop list) -> read -> TrainTokenizer (side input)
                                     -> read -> Tokenize -> CountShards (side input), CountDocuments
                                             \-> MeasureWords
                                     -> read -> Tokenize -> ExpandEpochs -> WriteShards -> WriteManifest

ExpandEpochs sends each document to the training stream (its epoch copies) or,
for the recipe's validation share, once to the validation shards.
"""
from __future__ import annotations

import apache_beam as beam

from pipeline.options import BuildConfig
from pipeline.transforms.dedup import Deduplicate
from pipeline.transforms.documents import Decontaminate, ExtractText, FilterQuality, Normalize
from pipeline.transforms.manifest import (CountFunnel, ReadAccounting, WriteAccounting, WriteDeadLetters,
                                          WriteManifest, WriteRejects)
from pipeline.transforms.materialize import (PlanCleanParts, ReadDropList, ReadPlannedParts, WriteCleanParts,
                                             WriteDropList, clean_part_files)
from pipeline.transforms.read import ReadSources
from pipeline.transforms.shards import CountShards, ExpandEpochs, WriteShards
from pipeline.transforms.stats import CountDocuments, MeasureWords
from pipeline.transforms.tokenize import Tokenize, TrainTokenizer


def build_clean(p: beam.Pipeline, config: BuildConfig, stage: str) -> None:
    """Adds the clean job to `p`: every document read, kept into `stage`'s parts, or
    dropped, or dead-lettered, with the counts the manifest's funnel needs."""
    recipe = config.recipe
    read = p | "ReadSources" >> ReadSources(recipe.sources, config.strict)
    rejects = recipe.rejects
    extracted = read.documents | "ExtractText" >> ExtractText(recipe.extract_html, recipe.extract_limits, rejects)
    normalized = extracted.kept | "Normalize" >> Normalize(recipe.fix_mojibake, rejects)
    filtered = normalized.kept | "FilterQuality" >> FilterQuality(recipe.filters, rejects)
    stages = [extracted, normalized, filtered]
    if recipe.decontaminate is not None:
        decon = recipe.decontaminate
        stages.append(filtered.kept | "Decontaminate" >> Decontaminate(decon.sets, decon.ngram, decon.mode, rejects))
    clean = stages[-1].kept
    clean | "WriteCleanParts" >> WriteCleanParts(stage)
    spec = recipe.dedup
    dedup = clean | "Deduplicate" >> Deduplicate(spec.exact, spec.url, spec.near, spec.scope)
    dedup.drop_list | "WriteDropList" >> WriteDropList(stage)

    # Accounting: every record read is kept, dropped with a reason, or dead-lettered.
    read.dead_letters | "WriteDeadLetters" >> WriteDeadLetters(stage)
    dedup_drops = dedup.drop_list | "ExtractDedupReasons" >> beam.Values()
    drops = ((read.dropped, *(stage.dropped for stage in stages), dedup_drops)
             | "CountDrops" >> CountFunnel())
    tallies = (tuple(stage.tallies for stage in stages)
               | "FlattenTallies" >> beam.Flatten()
               | "KeyTallies" >> beam.MapTuple(lambda source, what, n: ((source, what), n))
               | "SumTallies" >> beam.CombinePerKey(sum)
               | "FormatTallies" >> beam.MapTuple(lambda key, n: (*key, n)))
    written_rejects = p | "NoRejects" >> beam.Create([])
    if rejects:
        written_rejects = (tuple(stage.rejects for stage in stages)
                           | "FlattenRejects" >> beam.Flatten()
                           | "WriteRejects" >> WriteRejects(stage))
    errors = ((read.dead_letters | "ExtractErrorReasons" >> beam.Map(lambda r: (r["source"], r["reason"])),)
              | "CountErrors" >> CountFunnel())
    reads = read.read_counts | "SumReads" >> beam.CombinePerKey(sum)
    groups = (dedup.clusters | "CountGroupSizes" >> beam.combiners.Count.PerElement()
              | "FormatGroupSizes" >> beam.MapTuple(lambda key, n: (*key, n)))
    p | "WriteAccounting" >> WriteAccounting(stage, reads=reads, drops=drops, errors=errors, tallies=tallies,
                                             groups=groups, rejects=written_rejects)


def build_corpus(p: beam.Pipeline, config: BuildConfig, code: dict, stage: str, figures: dict) -> beam.PCollection:
    """Adds the corpus job to `p`, reading the finished clean `stage` and its `figures`
    (transforms/manifest.read_accounting); returns the PCollection of the manifest's path."""
    recipe = config.recipe
    # The clean parts are read three times, each time streaming: to train the tokenizer,
    # to count the stream's tokens (and so the shards), and to write the shards. Reading
    # them once would leave every text, then every epoch copy's tokens, waiting in the
    # runner for the tokenizer, then for the shard plans; here only the small plan
    # waits, and each later read starts once what its consumer needs exists.
    parts = p | "ListCleanParts" >> beam.Create(clean_part_files(stage))
    drop_list = p | "ReadDropList" >> ReadDropList(stage)
    plan = parts | "PlanCleanParts" >> PlanCleanParts(drop_list)
    layout = recipe.layout
    tokenizer = (plan | "ReadPartsToTrain" >> ReadPlannedParts()
                 | "TrainTokenizer" >> TrainTokenizer(recipe.tokenizer, layout, config.output))
    counted = plan | "ReadPartsToCount" >> ReadPlannedParts(after=tokenizer)
    tokenized = counted | "Tokenize" >> Tokenize(tokenizer, layout, recipe.tokenizer.fim)
    tokens = tokenized.tokens
    plans = tokens | "CountShards" >> CountShards(layout, recipe.shard_tokens)
    tokens_to_shard = (plan | "ReadPartsToShard" >> ReadPlannedParts(after=plans)
                       | "TokenizeForShards" >> Tokenize(tokenizer, layout, recipe.tokenizer.fim, measure=False)).tokens
    keyed_copies = tokens_to_shard | "ExpandEpochs" >> ExpandEpochs(layout, recipe.shard_tokens, plans)
    shards = keyed_copies | "WriteShards" >> WriteShards(config.output, tokenizer, config.work_dir)
    counts = p | "ReadAccounting" >> ReadAccounting(figures)
    documents = tokens | "CountDocuments" >> CountDocuments(layout)
    entropy = counted | "MeasureWords" >> MeasureWords(recipe.seed, recipe.stats_sample)
    return shards | "WriteManifest" >> WriteManifest(
        config, code, tokenizer=tokenizer, tokenizer_quality=tokenized.quality, plans=plans,
        documents=documents, entropy=entropy, **counts)
