"""CountDocuments and MeasureWords: the corpus statistics the manifest reports.

CountDocuments sums documents, tokens and bytes per (source, split, language)
from the tokenized documents; MeasureWords counts words per source (and over
all sources) on the documents a hash picks at the recipe's `stats_sample` rate,
and reports unigram entropy (pipeline/rules/stats.py). Its accumulator is the
word table, so a corpus much larger than memory needs a rate well under 1.
"""
from __future__ import annotations

from collections import Counter

import apache_beam as beam

from manifests.splits import TRAIN, uniform_hash
from pipeline.rules.stats import entropy_report, words
from pipeline.transforms.common import sum_columns

ALL_SOURCES = ""   # MeasureWords' key for the whole corpus


class WordCounts(beam.CombineFn):
    """Texts -> one word table (a Counter)."""

    def create_accumulator(self):
        return Counter()

    def add_input(self, acc, text):
        acc.update(words(text))
        return acc

    def merge_accumulators(self, accs):
        return self.sum_tables(accs)

    @staticmethod
    def sum_tables(tables) -> Counter:
        """The sources' tables added into one (a fresh Counter: Beam's inputs stay as they are)."""
        total = Counter()
        for table in tables:
            total.update(table)
        return total

    def extract_output(self, acc):
        return acc


class MeasureWords(beam.PTransform):
    """Documents -> (source, {words, distinct_words, bits_per_word}), and (ALL_SOURCES, ...).

    Each document's words are counted once, into its source's table; the whole
    corpus's table is the sum of the sources' tables (a few per recipe), not a
    second count of every text."""

    def __init__(self, seed: int, sample: float = 1.0):
        super().__init__()
        self.seed, self.sample = seed, sample

    def expand(self, docs):
        seed, sample = self.seed, self.sample
        tables = (docs
                  | "SampleDocuments" >> beam.Filter(lambda d: sample >= 1 or uniform_hash(seed, d.id, "stats") < sample)
                  | "KeyBySource" >> beam.Map(lambda d: (d.source, d.text))
                  | "CountWords" >> beam.CombinePerKey(WordCounts()))
        everything = (tables
                      | "DropSources" >> beam.Values()
                      | "SumTables" >> beam.CombineGlobally(WordCounts.sum_tables).without_defaults()
                      | "KeyAsAllSources" >> beam.Map(lambda table: (ALL_SOURCES, table)))
        return ((tables, everything)
                | "JoinTables" >> beam.Flatten()
                | "ReportEntropy" >> beam.MapTuple(lambda key, table: (key, entropy_report(table))))


class CountRehydrated(beam.PTransform):
    """TokenizedDocs -> (source, multiplier, documents, tokens, stream tokens) rows for the
    training documents of rehydrating sources: what each multiplier adds to the stream."""

    def __init__(self, layout):
        super().__init__()
        self.layout = layout

    def expand(self, tokens):
        layout = self.layout

        def keyed(t):
            if t.source not in layout.rehydrate:
                return []
            split, copies = layout.copies(t.id, t.source, t.cluster)
            if split != TRAIN:
                return []
            n = len(t.tokens)
            return [((t.source, layout.multiplier(t.source, t.cluster)), (1, n, n * len(copies)))]

        return (tokens
                | "KeyByMultiplier" >> beam.FlatMap(keyed)
                | "SumMultipliers" >> beam.CombinePerKey(sum_columns)
                | "FlattenMultipliers" >> beam.MapTuple(lambda key, sums: (*key, *sums)))


class CountDocuments(beam.PTransform):
    """TokenizedDocs -> (source, split, language, documents, tokens, bytes) rows; tokens
    count the EOS each document ends with, as the shards do."""

    def __init__(self, layout):
        super().__init__()
        self.layout = layout

    def expand(self, tokens):
        layout = self.layout
        return (tokens
                | "KeyByGroup" >> beam.Map(lambda t: ((t.source, layout.split(t.id, t.source), t.language),
                                                      (1, len(t.tokens), t.bytes)))
                | "SumGroups" >> beam.CombinePerKey(sum_columns)
                | "FlattenRows" >> beam.MapTuple(lambda key, sums: (*key, *sums)))
