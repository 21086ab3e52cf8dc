"""Hybrid retrieval: dense search in Chroma fused with BM25 by reciprocal rank fusion."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from index.dates import date_to_timestamp, normalize_date
from index.embedder import Embedder
from index.models import ChunkHit
from index.store import ChromaStore
from qa.answer.lexical import LexicalIndex
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

    def admits(self, hit: ChunkHit) -> bool:
        """The filters applied in Python (for the BM25 side)."""
        if self.article_ids and hit.chunk.article_id not in self.article_ids:
            return False
        lo, hi = _bounds(self.published_from, self.published_to)
        if lo is None and hi is None:
            return True
        ts = date_to_timestamp(hit.published)
        return ts is not None and (lo is None or ts >= lo) and (hi is None or ts <= hi)


def _bounds(lo: str | None, hi: str | None) -> tuple[int | None, int | None]:
    def ts(value: str | None, end_of_day: bool) -> int | None:
        if not value:
            return None
        iso = normalize_date(value)
        if iso is None:
            raise QuestionError(f"{value!r} is not a date (use YYYY-MM-DD)")
        stamp = date_to_timestamp(iso)
        assert stamp is not None
        return stamp + (86_399 if end_of_day and len(iso) == 10 else 0)

    return ts(lo, False), ts(hi, True)


class Retriever:
    """Finds the passages most likely to hold the answer; BM25 stays in step with the store."""

    def __init__(
        self, store: ChromaStore, embedder: Embedder, *, rrf_k: int = 60, candidates: int = 30
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.candidates = candidates
        self._lexical: LexicalIndex | None = None
        self._lexical_count = -1
        self._lock = threading.Lock()

    def index_changed(self) -> None:
        """Forget the BM25 index; it is rebuilt on the next question."""
        with self._lock:
            self._lexical = None

    def lexical(self) -> LexicalIndex:
        """The BM25 index, rebuilt when the store changed (here or in another process)."""
        count = self.store.count_chunks()
        with self._lock:
            if self._lexical is None or count != self._lexical_count:
                self._lexical = LexicalIndex(self.store.all_chunks())
                self._lexical_count = count
            return self._lexical

    def retrieve(self, query: str, options: SearchOptions) -> tuple[list[Passage], dict[str, float]]:
        """Best passages first, and seconds spent per stage (embed, search, rank)."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        vector = self.embedder.embed_query(query)
        t1 = time.perf_counter()
        timings["embed"] = t1 - t0
        wanted = max(options.k, self.candidates)
        dense = self.store.search(vector, wanted, where=options.where())
        lexical: list[tuple[ChunkHit, float]] = []
        if options.hybrid:
            admitted = [(h, s) for h, s in self.lexical().search(query, wanted * 3) if options.admits(h)]
            lexical = admitted[:wanted]
        t2 = time.perf_counter()
        timings["search"] = t2 - t1
        passages = self._fuse(dense, lexical, options.k)
        timings["rank"] = time.perf_counter() - t2
        return passages, timings

    def _fuse(
        self, dense: list[ChunkHit], lexical: list[tuple[ChunkHit, float]], k: int
    ) -> list[Passage]:
        fused: dict[str, float] = {}
        hits: dict[str, ChunkHit] = {}
        dense_scores = {h.chunk.id: h.score for h in dense}
        lexical_scores = {h.chunk.id: s for h, s in lexical}
        for ranking in ([h for h in dense], [h for h, _ in lexical]):
            for rank, hit in enumerate(ranking):
                # Dense hits come first and are the store's current text and offsets; a lexical
                # copy of the same chunk may be older (another process edited the article).
                hits.setdefault(hit.chunk.id, hit)
                fused[hit.chunk.id] = fused.get(hit.chunk.id, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        best = sorted(fused, key=lambda cid: -fused[cid])[:k]
        return [
            Passage(
                chunk_id=cid, article_id=hits[cid].chunk.article_id, title=hits[cid].title,
                source=hits[cid].source, published=hits[cid].published, start=hits[cid].chunk.start,
                end=hits[cid].chunk.end, text=hits[cid].chunk.text, score=fused[cid],
                dense_score=dense_scores.get(cid), lexical_score=lexical_scores.get(cid), rank=rank,
            )
            for rank, cid in enumerate(best)
        ]
