"""BuildRepoDocuments and ReadRepoDocuments: repository-level code documents in the corpus job.

A source with `repo_documents` has the kept training files of each repository joined
into documents (pipeline/rules/repos.py) once the tokenizer exists, since the cap is in
its tokens. The files' text crosses one shuffle, grouped by repository: the only text
shuffle of a build, and only for the sources that ask for it. The documents are written
as parts in the corpus job's work folder (transforms/parts.py, safe under retries), and
each later pass reads them with the clean parts (repo_part_plan adds them to the parts'
plan): the counting pass once the tokenizer exists, the writing pass once the shard plans
do. The stages that count what the build read (the funnel, word statistics, tokenizer
figures) leave them out.

Where a file's repository comes from: a code-tree file's `repo` (sources/code.py), a
parquet row's column mapped to `repo` (`columns: {repo: max_stars_repo_name}`), else
The Stack's `max_stars_repo_name` or `repo_name` column; a file with none is a
repository of its own.
"""
from __future__ import annotations

from typing import Mapping

import apache_beam as beam

from manifests.splits import TRAIN
from pipeline.rules.epochs import StreamLayout
from pipeline.rules.repos import RepoFile, repo_documents
from pipeline.transforms import faults
from pipeline.transforms.common import Counters
from pipeline.transforms.materialize import CLEAN_SCHEMA, ROW_GROUP_BYTES, part_ref, to_row
from pipeline.transforms.parts import WriteParquetParts

REPO_KEYS = ("repo", "max_stars_repo_name", "repo_name")   # metadata naming a file's repository, in order


def repository_of(meta: Mapping, fallback: str) -> str:
    return next((str(meta[k]) for k in REPO_KEYS if meta.get(k)), fallback)


def repo_file(doc) -> RepoFile:
    path = str(doc.meta.get("path") or doc.url or doc.id)
    return RepoFile(path, doc.text, str(doc.meta.get("lang") or ""), doc.id)


class JoinRepository(beam.DoFn):
    """((source, kind, repository), its files) -> the repository's documents."""

    def __init__(self, specs: Mapping):
        super().__init__()
        self.specs = dict(specs)

    def setup(self):
        self._sha, self._encode = None, None
        self.counters = Counters()

    def process(self, element, info):
        from tokenizer.encoding import ordinary_encoder
        (source, kind, repo), files = element
        if info.sha256 != self._sha:
            self._encode, self._sha = ordinary_encoder(info.json), info.sha256
        files = list(files)
        docs = repo_documents(source, kind, repo, files, self.specs[source].max_tokens,
                              lambda text: len(self._encode(text)))
        self.counters.inc(f"repos/{source}/repositories")
        self.counters.inc(f"repos/{source}/files", len(files))
        self.counters.inc(f"repos/{source}/documents", len(docs))
        yield from docs


class BuildRepoDocuments(beam.PTransform):
    """The corpus job's documents -> the part files of the repository documents it wrote
    under `folder` (one path per element). `tokenizer`: TrainTokenizer's output."""

    def __init__(self, specs: Mapping, layout: StreamLayout, tokenizer: beam.PCollection, folder: str):
        super().__init__()
        self.specs, self.layout, self.tokenizer, self.folder = dict(specs), layout, tokenizer, folder

    def expand(self, docs):
        specs, layout = self.specs, self.layout

        def keyed(doc):
            if doc.source not in specs or doc.meta.get("repo_document") or layout.split(doc.id, doc.source) != TRAIN:
                return []
            f = repo_file(doc)
            return [((doc.source, doc.kind, repository_of(doc.meta, f.path)), f)]

        written = (docs
                   | "KeyByRepository" >> beam.FlatMap(keyed)
                   | "GroupByRepository" >> beam.GroupByKey()
                   | "JoinFiles" >> beam.ParDo(JoinRepository(specs), info=beam.pvalue.AsSingleton(self.tokenizer))
                   | "ConvertToRows" >> beam.Map(to_row)
                   | "WriteParquet" >> WriteParquetParts(f"{self.folder}/part", CLEAN_SCHEMA, ROW_GROUP_BYTES))
        return faults.after(written, "WriteRepoDocuments")


def repo_part_plan(path: str) -> tuple:
    """A repository documents' part as PlanCleanParts plans a clean part (nothing to drop),
    so the passes after the tokenizer read it with the clean parts."""
    return part_ref(path), {"part": [path], "drops": [], "unit": [None]}
