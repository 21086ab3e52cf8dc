"""Sentence vectors for the answer step, computed at question time and kept in an LRU cache.

The composer compares the question's embedding with each candidate sentence's. Sentences are
embedded on first sight and cached by their text, so a passage that comes back question after
question costs one embedding call in its lifetime (``BENCHMARKS.md`` compares this with keeping
vectors from ingest). The wrapper is also an ``Embedder``: handed to the retriever, it caches
query vectors too, so the composer reuses the one retrieval computed instead of embedding again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from index.embedder import Embedder

# About 1.5 KB a sentence (384 float32): 50,000 sentences is ~75 MB at most.
SENTENCE_CACHE = 50_000
QUERY_CACHE = 256


class _Lru:
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.items: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, key: str) -> np.ndarray | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: str, value: np.ndarray) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.maxsize:
            self.items.popitem(last=False)


class SentenceVectors:
    """An ``Embedder`` that remembers: query vectors and sentence vectors, keyed by text."""

    def __init__(
        self, embedder: Embedder, *, sentences: int = SENTENCE_CACHE, queries: int = QUERY_CACHE
    ) -> None:
        self.embedder = embedder
        self._sentences = _Lru(sentences)
        self._queries = _Lru(queries)
        self._lock = threading.Lock()
        self.embedded = 0  # sentences embedded so far (cache misses), for benchmarks

    @property
    def name(self) -> str:
        return self.embedder.name

    @property
    def max_tokens(self) -> int:
        return self.embedder.max_tokens

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self.embedder.token_spans(text)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            cached = self._queries.get(text)
        if cached is not None:
            return cached
        vector = np.asarray(self.embedder.embed_query(text), dtype=np.float32)
        with self._lock:
            self._queries.put(text, vector)
        return vector

    def preload(self, vectors: dict[str, np.ndarray]) -> None:
        """Keep vectors computed elsewhere (at ingest, or by an earlier run) as if embedded here."""
        with self._lock:
            for text, vector in vectors.items():
                self._sentences.put(text, np.asarray(vector, dtype=np.float32))

    def export(self) -> dict[str, np.ndarray]:
        """The cached sentence vectors, by text."""
        with self._lock:
            return dict(self._sentences.items)

    def sentences(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text (rows in order); only unseen texts reach the model."""
        with self._lock:
            found = {t: v for t in texts if (v := self._sentences.get(t)) is not None}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            vectors = np.asarray(self.embedder.embed_documents(missing), dtype=np.float32)
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    self._sentences.put(text, vector)
                    found[text] = vector
                self.embedded += len(missing)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[t] for t in texts])
