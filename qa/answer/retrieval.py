"""Hybrid retrieval: dense search in Chroma fused with BM25 (the FTS5 lexicon) by reciprocal
rank fusion."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from index.dates import date_to_timestamp, last_day, normalize_date
from index.embedder import Embedder
from index.lexicon import LexicalFilter, Lexicon
from index.models import ChunkHit
from index.store import ChromaStore
from qa.errors import QuestionError
from qa.models import Passage


@dataclass(frozen=True)
class SearchOptions:
    """What to retrieve: how many passages, whether to fuse BM25, and optional filters."""

    k: int = 5
    hybrid: bool = True
    article_ids: tuple[str, ...] | None = None
    published_from: str | None = None
    published_to: str | None = None

    def where(self) -> dict[str, Any] | None:
        """The same filters as a Chroma ``where`` clause."""
        clauses: list[dict[str, Any]] = []
        if self.article_ids:
            clauses.append({"article_id": {"$in": list(self.article_ids)}})
        lo, hi = _bounds(self.published_from, self.published_to)
        if lo is not None:
            clauses.append({"published_ts": {"$gte": lo}})
        if hi is not None:
            clauses.append({"published_ts": {"$lte": hi}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def lexical_filter(self) -> LexicalFilter | None:
        """The same filters for the lexicon, applied inside its ranked query."""
        lo, hi = _bounds(self.published_from, self.published_to)
        if not self.article_ids and lo is None and hi is None:
            return None
        return LexicalFilter(self.article_ids or None, lo, hi)


def _bounds(lo: str | None, hi: str | None) -> tuple[int | None, int | None]:
    def ts(value: str | None, end_of_day: bool) -> int | None:
        if not value:
            return None
        iso = normalize_date(value)
        if iso is None:
            raise QuestionError(f"{value!r} is not a date (use YYYY-MM-DD)")
        stamp = date_to_timestamp(iso)
        assert stamp is not None
        if not end_of_day or len(iso) != 10:
            return stamp
        # An end given as a year or a month ("--until 2025", "2025-03", "March 2025") means its
        # last day, as a day means its last second (it meant the first day's first second).
        end = date_to_timestamp(str(last_day(value)))
        assert end is not None
        return end + 86_399

    start, end = ts(lo, False), ts(hi, True)
    if start is not None and end is not None and start > end:
        # No article can match: said, not answered "not found" as if the articles lacked it.
        raise QuestionError(f"the date range is reversed: its start {lo} is after its end {hi}")
    return start, end


class Retriever:
    """Finds the passages most likely to hold the answer: dense search in the store fused with
    BM25 from the lexicon, both checked against the store's change marker before each question."""

    def __init__(
        self, store: ChromaStore, embedder: Embedder, lexicon: Lexicon, *, rrf_k: int = 60,
        candidates: int = 30,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.lexicon = lexicon
        self.rrf_k = rrf_k
        self.candidates = candidates
        self._seen: tuple[str, bool] | None = None
        self._lock = threading.Lock()

    def sync(self) -> bool:
        """One lookup of the store's change marker; when another write happened since the last
        question, bring the lexicon in step, and reopen the store's vectors unless every change
        since was written through this store (this process's own ingest: its client holds them).
        Returns whether anything was refreshed."""
        marker = self.store.generation()
        if marker == self._seen:
            return False
        with self._lock:
            if marker == self._seen:
                return False
            seen = self._seen
            # A pending marker another writer set is no safe start: it may have stored more after
            # we last looked, died, and had its marker finished by our own next write.
            if seen is not None and (self.store.written_here(seen[0], marker[0]) is None
                                     or (seen[1] and not self.store.set_here(seen[0]))):
                self.store.refresh()
            self.lexicon.catch_up(self.store, marker[0])
            self._seen = marker
            return True

    def retrieve(self, query: str, options: SearchOptions) -> tuple[list[Passage], dict[str, float]]:
        """Best passages first, and seconds spent per stage (sync, embed, search, rank)."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        self.sync()
        t1 = time.perf_counter()
        timings["sync"] = t1 - t0
        vector = self.embedder.embed_query(query)
        t2 = time.perf_counter()
        timings["embed"] = t2 - t1
        wanted = max(options.k, self.candidates)
        dense = self.store.search(vector, wanted, where=options.where())
        lexical: list[tuple[str, float]] = []
        if options.hybrid:
            lexical = self.lexicon.search(query, wanted, where=options.lexical_filter())
        t3 = time.perf_counter()
        timings["search"] = t3 - t2
        passages = self._fuse(dense, lexical, options.k)
        timings["rank"] = time.perf_counter() - t3
        return passages, timings

    def _fuse(
        self, dense: list[ChunkHit], lexical: list[tuple[str, float]], k: int
    ) -> list[Passage]:
        """Reciprocal rank fusion; text, offsets and metadata always come from the store."""
        fused: dict[str, float] = {}
        hits = {h.chunk.id: h for h in dense}
        dense_scores = {h.chunk.id: h.score for h in dense}
        lexical_scores = dict(lexical)
        for ranking in ([h.chunk.id for h in dense], [cid for cid, _ in lexical]):
            for rank, cid in enumerate(ranking):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        order = sorted(fused, key=lambda cid: -fused[cid])
        # Keyword-only hits are read from the store (one lookup); an id the store no longer
        # has (a write landing between the two searches) is skipped.
        missing = [cid for cid in order[: 2 * k] if cid not in hits]
        if missing:
            hits.update(self.store.chunks_by_ids(missing))
        best = [cid for cid in order if cid in hits][:k]
        return [
            Passage(
                chunk_id=cid, article_id=hits[cid].chunk.article_id, title=hits[cid].title,
                source=hits[cid].source, published=hits[cid].published, start=hits[cid].chunk.start,
                end=hits[cid].chunk.end, text=hits[cid].chunk.text, score=fused[cid],
                dense_score=dense_scores.get(cid), lexical_score=lexical_scores.get(cid), rank=rank,
            )
            for rank, cid in enumerate(best)
        ]
