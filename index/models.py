"""Typed records that cross module boundaries on the data-in side."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any


def content_hash(text: str) -> str:
    """A short, stable fingerprint of a text (used for idempotent re-ingest)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Article:
    """One news article as loaded from a file, before chunking.

    ``published`` is an ISO-8601 date or datetime string when known; ``path`` is the file it
    came from (used by ``--sync`` to notice deleted files).
    """

    id: str
    title: str
    text: str
    source: str = ""
    published: str | None = None
    author: str | None = None
    path: str = ""

    @property
    def hash(self) -> str:
        """Fingerprint of everything that changes what is stored for this article."""
        meta = "\x1f".join([self.title, self.source, self.published or "", self.author or ""])
        return content_hash(meta + "\x1e" + self.text)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Chunk:
    """A span of an article's text: ``article_text[start:end] == text`` always holds."""

    id: str
    article_id: str
    index: int
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ArticleRecord:
    """What the index knows about a stored article (everything but its text)."""

    id: str
    title: str
    source: str
    published: str | None
    author: str | None
    path: str
    hash: str
    chunks: int
    chars: int
    group: str = ""  # the first-ingested article of its near-duplicate group; its own id if none

    @property
    def unfinished(self) -> bool:
        """A new article's record written before its chunks (so none is ever orphaned) by an
        ingest that has not finished it: interrupted, or still running. Some of its chunks may
        be stored and searchable already; its last write sets its hash and chunk count."""
        return not self.hash and not self.chunks

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ArticleEntry:
    """An article as the store records it once its chunks are written.

    ``version`` (``new_version()`` when empty) names this write of the article; derived indexes
    (the lexicon) compare it with the version they were built from. ``group`` is the id of the
    first-ingested article of its near-duplicate group (its own id when it has no copies)."""

    article: Article
    chunks: int
    text_hash: str
    version: str = ""
    group: str | None = None


@dataclass(frozen=True)
class ChunkHit:
    """A stored chunk returned by a search, with its similarity (higher is better)."""

    chunk: Chunk
    title: str
    source: str
    published: str | None
    score: float
