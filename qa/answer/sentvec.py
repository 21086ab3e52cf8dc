"""Sentence vectors for the answer step, computed at question time and kept in an LRU cache.

The composer compares the question's embedding with each candidate sentence's. Sentences are
embedded on first sight and cached by their text, so a passage that comes back question after
question costs one embedding call in its lifetime (``BENCHMARKS.md`` compares this with keeping
vectors from ingest). The wrapper is also an ``Embedder``: handed to the retriever, it caches
query vectors too, so the composer reuses the one retrieval computed instead of embedding again.

The sentences a question misses are embedded in a few batches of similar length, not one: a
batch is padded to its longest text, and one batch of a question's sentences (5 to 80 word
pieces) was half padding. Grouping gives bit-identical vectors in about half the time
(``BENCHMARKS.md``, "A question asked for the first time").

Given a ``SentenceStore`` (``qa.answer.sentence_store``), vectors missing from memory are read
from disk before any is embedded, and each one embedded is written there, so a new process
(``qa ask`` from the shell, a restarted page) starts with every sentence an earlier one, or
``qa warm``, embedded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from index.embedder import Embedder
from qa.answer.sentence_store import SentenceStore

# About 1.5 KB a sentence (384 float32): 50,000 sentences is ~75 MB at most.
SENTENCE_CACHE = 50_000
QUERY_CACHE = 256
# The cost of one forward pass of n texts padded to L word pieces, in units of one word piece's
# share of the feed-forward work: n * L * (1 + L / QUADRATIC) + OVERHEAD. Fitted on the bundled
# MiniLM on onnxruntime, one thread (n 1-16, L 8-128): attention makes a word piece of a
# 128-long batch cost ~1.7 times one of an 8-long batch; a call costs as much as ~16 word pieces.
QUADRATIC = 180.0
OVERHEAD = 16.0
BATCH = 32  # the most texts in one batch (the embedder's own batch size)


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
        self, embedder: Embedder, *, sentences: int = SENTENCE_CACHE, queries: int = QUERY_CACHE,
        store: SentenceStore | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self._key: str | None = None
        self._sentences = _Lru(sentences)
        self._queries = _Lru(queries)
        self._lock = threading.Lock()
        self.embedded = 0  # sentences embedded so far (cache misses), for benchmarks
        self.read = 0  # sentences read from the store so far
        self.grouped = True  # False: one padded batch, as before (``bench.cold_bench`` compares)

    @property
    def name(self) -> str:
        return self.embedder.name

    @property
    def key(self) -> str:
        """The vectors' name in the store: the embedder's ``vector_key`` when it has one (the
        real model's: weights, deltas, backend), else its name."""
        if self._key is None:
            key = getattr(self.embedder, "vector_key", None)
            self._key = str(key) if key is not None else f"name:{self.embedder.name}"
        return self._key

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
        if missing and self.store is not None:
            stored = self.store.get(self.key, missing)
            if stored:
                with self._lock:
                    for text, vector in stored.items():
                        self._sentences.put(text, vector)
                    self.read += len(stored)
                found.update(stored)
                missing = [t for t in missing if t not in stored]
        if missing:
            vectors = self._embed(missing)
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    self._sentences.put(text, vector)
                    found[text] = vector
                self.embedded += len(missing)
            if self.store is not None:
                self.store.put(self.key, {t: found[t] for t in missing})
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[t] for t in texts])

    def ensure(self, texts: Sequence[str]) -> int:
        """Make sure the store holds every text's vector, embedding (in batches of ``BATCH * 8``)
        those it lacks, without reading stored vectors back or filling this process's cache;
        returns how many were embedded. Nothing without a store."""
        if self.store is None:
            return 0
        missing = self.store.missing(self.key, list(dict.fromkeys(texts)))
        for lo in range(0, len(missing), BATCH * 8):
            batch = missing[lo : lo + BATCH * 8]
            self.store.put(self.key, dict(zip(batch, self._embed(batch), strict=True)))
        with self._lock:
            self.embedded += len(missing)
        return len(missing)

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Rows in order, embedded in the batches of ``length_groups``."""
        if not self.grouped:
            return np.asarray(self.embedder.embed_documents(texts), dtype=np.float32)
        counts = getattr(self.embedder, "token_counts", None)
        lengths = (list(counts(texts)) if counts is not None
                   else [len(self.embedder.token_spans(t)) for t in texts])
        limit = self.embedder.max_tokens
        groups = length_groups([min(n, limit) + 2 for n in lengths])  # + [CLS] and [SEP]
        rows: np.ndarray | None = None
        for group in groups:
            vectors = np.asarray(self.embedder.embed_documents([texts[i] for i in group]),
                                 dtype=np.float32)
            if rows is None:
                rows = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            rows[group] = vectors
        assert rows is not None
        return rows


def length_groups(
    lengths: Sequence[int], cost: Callable[[int, int], float] | None = None
) -> list[list[int]]:
    """Indices of ``lengths`` (word pieces per text) split into batches whose summed padded cost
    is least: texts sorted longest first, cut into runs (an exact dynamic programme; a question
    has a few dozen texts; a batch holds at most ``BATCH``, which keeps many texts linear).
    ``cost(n, longest)`` is one batch's, by default the fitted one."""
    cost = cost or (lambda n, longest: n * longest * (1 + longest / QUADRATIC) + OVERHEAD)
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    best = [0.0] + [float("inf")] * len(order)
    cut = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for start in range(max(0, end - BATCH), end):
            total = best[start] + cost(end - start, lengths[order[start]])
            if total < best[end]:
                best[end], cut[end] = total, start
    groups: list[list[int]] = []
    end = len(order)
    while end:
        groups.append(order[cut[end] : end])
        end = cut[end]
    return groups[::-1]
