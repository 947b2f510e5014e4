"""Repository-level code documents: the kept files of one repository as one document.

DeepSeek-Coder (Guo et al. 2024) and StarCoder2 (Lozhkov et al. 2024) train on whole
repositories so that code learns from the files it imports: that is also how code
becomes long enough for a long-context phase. Here a repository's files are put in
path order (a documented order; DeepSeek-Coder sorts by dependencies, which needs a
parser per language), each after a comment line naming its path, as DeepSeek-Coder's
are, and cut into documents of at most `max_tokens` tokens (EOS included) at file
boundaries: a file is never split, and one larger than the cap is a document alone.

The token count of a document is that of its whole text, checked after the cut
(a byte-level BPE may merge across a file's end), so the cap holds exactly.
"""
from __future__ import annotations

from typing import Callable, Iterable, NamedTuple

from sources.document import Document

COMMENTS = {   # line-comment syntax by language (sources/code.py's names); default "#"
    **dict.fromkeys(("C", "C++", "C#", "CUDA", "Java", "JavaScript", "TypeScript", "Go", "Rust", "Kotlin", "Scala",
                     "Swift", "Dart", "PHP", "Objective-C", "Objective-C++", "Protocol Buffer", "Verilog",
                     "SystemVerilog", "SCSS", "JSON"), "//"),
    **dict.fromkeys(("SQL", "Lua", "Haskell", "VHDL"), "--"),
    **dict.fromkeys(("TeX", "Erlang"), "%"),
    "Clojure": ";", "Fortran": "!", "OCaml": None, "CSS": None, "HTML": None, "XML": None, "Markdown": None,
}
WRAPPED = {"OCaml": ("(*", " *)"), "CSS": ("/*", " */"), "HTML": ("<!--", " -->"), "XML": ("<!--", " -->"),
           "Markdown": ("<!--", " -->")}


class RepoFile(NamedTuple):
    path: str
    text: str
    lang: str
    id: str


def header(path: str, lang: str) -> str:
    """The line naming a file's path, as a comment in its language."""
    if lang in WRAPPED:
        start, end = WRAPPED[lang]
        return f"{start} {path}{end}\n"
    return f"{COMMENTS.get(lang) or '#'} {path}\n"


def section(f: RepoFile) -> str:
    """A file as it appears in its repository's document: header, text, a blank line after."""
    return header(f.path, f.lang) + f.text + ("" if f.text.endswith("\n") else "\n") + "\n"


def cut_repository(sizes: list[int], max_tokens: int) -> list[list[int]]:
    """Files' token counts (in order) -> the files of each document: a document's files add
    up, with one token of slack per file for merges across file ends and one for EOS, to at
    most `max_tokens`; a file over the cap alone."""
    parts: list[list[int]] = []
    current: list[int] = []
    running = 1   # EOS
    for i, size in enumerate(sizes):
        if current and running + size + 1 > max_tokens:
            parts.append(current)
            current, running = [], 1
        current.append(i)
        running += size + 1
    return parts + ([current] if current else [])


def repo_documents(source: str, kind: str, repo: str, files: Iterable[RepoFile], max_tokens: int,
                   count: Callable[[str], int]) -> list[Document]:
    """A repository's files -> its documents of at most `max_tokens` tokens with EOS, counted
    by `count` (the corpus tokenizer's, EOS not included), files whole and in path order.
    Each section is counted once and each document once more, whole: when its text counts
    over the cap (merges the slack did not cover), its last file moves to the next document."""
    ordered = sorted(files, key=lambda f: (f.path, f.id))
    sections = [section(f) for f in ordered]
    queue = cut_repository([count(s) for s in sections], max_tokens)
    parts = []
    while queue:
        part = queue.pop(0)
        if len(part) > 1 and count("".join(sections[i] for i in part)) + 1 > max_tokens:
            queue.insert(0, [part[-1]] + (queue.pop(0) if queue else []))
            queue.insert(0, part[:-1])
            continue
        parts.append(part)
    out = []
    for n, part in enumerate(parts):
        chosen = [ordered[i] for i in part]
        langs = sorted({f.lang for f in chosen})
        out.append(Document(id=f"{source}/repo:{repo}#{n}", text="".join(sections[i] for i in part), kind=kind,
                            source=source, url=repo,
                            meta={"format": "repository", "repo": repo, "repo_document": True, "part": n,
                                  "paths": [f.path for f in chosen],
                                  "lang": max(langs, key=lambda lang: sum(f.lang == lang for f in chosen))}))
    return out
