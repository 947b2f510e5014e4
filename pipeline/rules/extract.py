"""HTML to text. resiliparse is the default (fast, main-content aware); trafilatura
is the slower, precision-oriented alternative a recipe can select."""
from __future__ import annotations

from sources.document import Document

EXTRACTORS = ("resiliparse", "trafilatura")


def html_to_text(html: str, method: str = "resiliparse") -> str:
    if method == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text
        return extract_plain_text(html, main_content=True, alt_texts=False, links=False)
    if method == "trafilatura":
        import trafilatura
        return trafilatura.extract(html, include_comments=False, include_tables=True) or ""
    raise ValueError(f"unknown extractor {method!r}; choose one of {EXTRACTORS}")


def extract_document(doc: Document, method: str = "resiliparse") -> Document | str:
    """HTML documents become plain text; text and code pass through untouched."""
    if doc.meta.get("format") != "html":
        return doc
    text = html_to_text(doc.text, method)
    if not text.strip():
        return "empty"
    return doc.with_text(text, format="text", extractor=method)
