"""Corpora of 1k to 100k chunks for ``bench.scale_bench``, written through the real ingest path.

Embedding 100k chunks with the real model takes hours on two busy cores, so the vectors are
taken from an index the real model already built (``/tmp/answers-work/bbc``: every BBC article,
real vectors), and only the vectors: the Chroma writes, the FTS5 lexicon, the change marker and
near-duplicate grouping are the ones ``qa ingest`` runs, because ``ReusedVectors`` is an
ordinary ``Embedder`` handed to the ``Ingestor`` (no hook in ingest).

- BBC text (``bbc_subset``): a seeded sample of BBC articles, chunked by the real chunker; each
  chunk gets the real vector stored for the same chunk text, so the index equals a real ingest.
- Synthetic (``synthetic_articles``): new articles, each paragraph a seeded mix of BBC sentences
  drawn across the corpus, so no two are copies and de-duplication keeps them all. Each
  paragraph is one chunk, given to ``Prechunked`` whole (the sentence splitter would be a third
  of the build's time). A chunk's vector is the mean of the real vectors of the chunks its
  sentences come from, plus small seeded noise, normalised: vectors spread like real ones, near
  their text.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.chunking import CHUNKER_VERSION, chunk_id
from index.embedder import Embedder
from index.ingest import Ingestor
from index.models import Article, Chunk
from index.report import IngestReport
from index.sentences import sentence_spans
from index.store import ChromaStore

# Sentence keys: the first characters of a sentence find it again inside a chunk's text (a
# sentence shorter than that is not found; the chunk's other sentences make its vector).
KEY = 48
NOISE = 0.01  # per dimension; about 0.2 of a unit vector's length over 384 dimensions
_STARTS = re.compile(r"(?:^|(?<=[.!?\"'\u201d)])\s+|\n\n)(?=\S)")


@dataclass(frozen=True)
class Pool:
    """BBC sentences with the real vector of the chunk each came from."""

    sentences: list[str]
    vectors: np.ndarray  # one row per sentence
    chunk_vectors: dict[str, np.ndarray]  # real vectors by chunk text
    lengths: list[int]  # sentences per BBC article, for synthetic lengths


def load_pool(source: Path, articles: Sequence[dict[str, str]], model_name: str, cache: Path) -> Pool:
    """Read the real vectors of ``source`` (a data dir built by the real model) and split its
    articles into sentences; cached in ``cache`` (the split takes a minute)."""
    if cache.exists():
        with cache.open("rb") as handle:
            pool: Pool = pickle.load(handle)
        return pool
    store = ChromaStore.persistent(source / "chroma", model_name=model_name)
    hits = store.all_chunks()
    by_id = store.chunk_vectors()
    by_article: dict[str, list[tuple[int, int, np.ndarray]]] = {}
    chunk_vectors: dict[str, np.ndarray] = {}
    for hit in hits:
        vector = by_id[hit.chunk.id]
        chunk_vectors[hit.chunk.text] = vector
        by_article.setdefault(hit.chunk.article_id, []).append((hit.chunk.start, hit.chunk.end, vector))
    sentences: list[str] = []
    rows: list[np.ndarray] = []
    lengths: list[int] = []
    for record in articles:
        spans = by_article.get(record["id"])
        if not spans:
            continue  # refused as a copy of another article
        text = record["text"]
        found = [span for paragraph in sentence_spans(text) for span in paragraph]
        lengths.append(len(found))
        for start, end in found:
            home = next((v for a, b, v in spans if a <= start < b), spans[-1][2])
            sentences.append(text[start:end])
            rows.append(home)
    pool = Pool(sentences, np.stack(rows).astype(np.float32), chunk_vectors, lengths)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("wb") as handle:
        pickle.dump(pool, handle)
    return pool


class ReusedVectors:
    """An ``Embedder`` that tokenizes with the real model but takes document vectors from the
    pool: a stored chunk's own vector when the text is a BBC chunk, else the noisy mean of its
    sentences' vectors. Queries go to the real model."""

    def __init__(self, real: Embedder, pool: Pool, *, seed: int = 13, noise: float = NOISE) -> None:
        self.real = real
        self.pool = pool
        self.seed = seed
        self.noise = noise
        self._by_key: dict[str, int] = {}
        for i, sentence in enumerate(pool.sentences):
            self._by_key.setdefault(sentence[:KEY], i)
        self.reused = 0  # chunks whose exact real vector was stored
        self.mixed = 0  # chunks given a sentence mix's vector

    @property
    def name(self) -> str:
        return self.real.name

    @property
    def max_tokens(self) -> int:
        return self.real.max_tokens

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self.real.token_spans(text)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        counter = getattr(self.real, "token_counts", None)
        if counter is not None:
            return list(counter(texts))
        return [len(self.real.token_spans(t)) for t in texts]

    def embed_query(self, text: str) -> np.ndarray:
        return self.real.embed_query(text)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def _vector(self, text: str) -> np.ndarray:
        exact = self.pool.chunk_vectors.get(text)
        if exact is not None:
            self.reused += 1
            return exact
        self.mixed += 1
        digest = int(hashlib.sha1(text.encode()).hexdigest()[:12], 16)
        rng = np.random.default_rng(digest ^ self.seed)
        rows = [
            self._by_key[key] for m in _STARTS.finditer(text)
            if (key := text[m.end() : m.end() + KEY]) in self._by_key
        ]
        base = (
            self.pool.vectors[rows].mean(axis=0) if rows
            else self.pool.vectors[rng.integers(len(self.pool.vectors))]
        )
        vector = base + rng.normal(0.0, self.noise, base.shape)
        return np.asarray(vector / np.linalg.norm(vector), dtype=np.float32)


def bbc_subset(
    records: Sequence[dict[str, str]], chunks: int, stored: dict[str, int], *, seed: int = 13
) -> list[Article]:
    """A seeded sample of BBC articles holding about ``chunks`` chunks (``stored``: chunks per
    article in the full index; copies it refused are left out)."""
    order = [r for r in records if r["id"] in stored]
    random.Random(seed).shuffle(order)
    picked: list[Article] = []
    total = 0
    for record in order:
        if total >= chunks:
            break
        picked.append(Article(id=record["id"], title=record["title"], text=record["text"]))
        total += stored[record["id"]]
    return picked


@dataclass(frozen=True)
class Synthetic:
    """A synthetic article and its chunks (one paragraph each, whole sentences)."""

    article: Article
    chunks: list[Chunk]


def synthetic_articles(
    pool: Pool, count: int, embedder: ReusedVectors, *, start: int = 0, per_article: int = 20,
    max_tokens: int = 254, seed: int = 13,
) -> list[Synthetic]:
    """``count`` new articles (ids ``synth-000000``...), each ``per_article`` paragraphs of BBC
    sentences drawn at random across the corpus (as many per paragraph as fit the chunk size),
    each paragraph one chunk. Long articles (~18k characters) keep the build's per-article store
    writes (two upserts of ~0.1 s each on the busy machine) to hours less."""
    made: list[Synthetic] = []
    version = f"{CHUNKER_VERSION}:{embedder.name}:scale-bench"
    for number in range(start, start + count):
        rng = random.Random(f"{seed}:{number}")
        article_id = f"synth-{number:06d}"
        drafts = [
            [pool.sentences[rng.randrange(len(pool.sentences))] for _ in range(rng.randint(4, 9))]
            for _ in range(per_article)
        ]
        counts = iter(embedder.token_counts([s for d in drafts for s in d]))
        paragraphs = [_fitting(d, [next(counts) for _ in d], max_tokens) for d in drafts]
        text = "\n\n".join(paragraphs)
        chunks, cursor = [], 0
        for index, piece in enumerate(paragraphs):
            chunks.append(Chunk(chunk_id(article_id, piece, version), article_id, index, cursor,
                                cursor + len(piece), piece))
            cursor += len(piece) + 2
        title = " ".join(paragraphs[0].split()[:8])
        made.append(Synthetic(Article(id=article_id, title=title, text=text), chunks))
    return made


def _fitting(sentences: list[str], counts: list[int], max_tokens: int) -> str:
    kept: list[str] = []
    total = 0
    for sentence, count in zip(sentences, counts, strict=True):
        if kept and total + count > max_tokens:
            break
        kept.append(sentence)
        total += count
    return " ".join(kept)


class Prechunked(Ingestor):
    """The real ingest (dedup, Chroma writes, lexicon, change marker) with the chunks of
    synthetic articles given, not cut by the sentence splitter (a third of the build's time)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.given: dict[str, list[Chunk]] = {}

    def ingest_synthetic(self, items: Sequence[Synthetic]) -> IngestReport:
        self.given.update({item.article.id: item.chunks for item in items})
        try:
            return self.ingest_articles([item.article for item in items])
        finally:
            self.given.clear()

    def _chunk(self, article: Article) -> list[Chunk]:
        return self.given.get(article.id) or super()._chunk(article)


def load_records(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
