"""How articles and chunks are laid out as Chroma records (metadata in, models out)."""

from __future__ import annotations

import uuid
from typing import Any

from index.dates import date_to_timestamp
from index.models import Article, ArticleEntry, ArticleRecord, Chunk, ChunkHit


def new_version() -> str:
    return uuid.uuid4().hex  # a fresh token for an article version or the change marker


def version_of(meta: dict[str, Any]) -> str:
    # Records written before articles had versions stand for themselves by their hash.
    return str(meta.get("version") or f"hash:{meta['hash']}") if meta.get("hash") else ""


def _dates(article: Article) -> dict[str, Any]:
    # Chroma merges metadata on upsert; None removes a date an earlier version had.
    return {
        "published": article.published or None,
        "published_ts": date_to_timestamp(article.published),
    }


def chunk_metadata(article: Article, chunk: Chunk) -> dict[str, Any]:
    return {
        "article_id": chunk.article_id, "index": chunk.index, "start": chunk.start, "end": chunk.end,
        "title": article.title, "source": article.source, **_dates(article),
    }


def article_metadata(entry: ArticleEntry) -> dict[str, Any]:
    article, written = entry.article, entry.chunks > 0  # no chunks: a placeholder, being written
    return {
        "version": (entry.version or new_version()) if written else "", "title": article.title,
        "source": article.source, "path": article.path, "hash": article.hash if written else "",
        "text_hash": entry.text_hash,
        "chunks": entry.chunks, "chars": len(article.text), "author": article.author or None,
        "group": entry.group or article.id, **_dates(article),
    }


def record_of(article_id: str, meta: Any) -> ArticleRecord:
    meta = meta or {}
    return ArticleRecord(
        id=article_id, title=str(meta.get("title", "")), source=str(meta.get("source", "")),
        published=meta.get("published"), author=meta.get("author"), path=str(meta.get("path", "")),
        hash=str(meta.get("hash", "")), chunks=int(meta.get("chunks", 0)),
        chars=int(meta.get("chars", 0)), group=str(meta.get("group") or article_id),
    )


def hit_of(chunk_id: str, text: Any, meta: Any, score: float) -> ChunkHit:
    chunk = Chunk(
        id=chunk_id, article_id=str(meta["article_id"]), index=int(meta["index"]),
        start=int(meta["start"]), end=int(meta["end"]), text=str(text),
    )
    return ChunkHit(
        chunk=chunk, title=str(meta.get("title", "")), source=str(meta.get("source", "")),
        published=meta.get("published"), score=score,
    )
