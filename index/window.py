"""The write window of an ingest: changed articles waiting to be embedded together, then stored
in order, each with the callbacks (progress) to run once it is stored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from index.models import Article, Chunk


@dataclass
class Pending:
    """A changed article, chunked; ``then`` runs once it is stored (progress callbacks)."""

    article: Article
    text_hash: str
    replaces: bool
    chunks: list[Chunk]
    group: str | None = None
    then: list[Callable[[], None]] = field(default_factory=list)


class Window:
    """Changed articles waiting to be embedded together; ``write(items)`` stores them (one
    embedding call and one Chroma write per step for the whole window) once they hold ``limit``
    chunks, or on ``flush``."""

    def __init__(self, write: Callable[[list[Pending]], None], *, limit: int) -> None:
        self._write = write
        self._limit = limit
        self._items: list[Pending] = []
        self._chunks = 0

    def add(self, item: Pending) -> None:
        self._items.append(item)
        self._chunks += len(item.chunks)
        if self._chunks >= self._limit:
            self.flush()

    def then(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call back once every article added so far is stored."""
        if self._items:
            self._items[-1].then.append(lambda: callback(*args))
        else:
            callback(*args)

    def settle(self, article_id: str) -> None:
        """Store the window if it holds ``article_id``, so lookups see its latest version."""
        if any(item.article.id == article_id for item in self._items):
            self.flush()

    def flush(self) -> None:
        items, self._items, self._chunks = self._items, [], 0
        if items:
            self._write(items)
        for item in items:
            for callback in item.then:
                callback()
