"""The Chroma vector store (the only module that imports chromadb).

Two collections: ``qa_chunks`` (one vector per chunk, cosine) and ``qa_articles`` (each article's
full text and metadata, so answers can quote from it and re-ingest can compare hashes). Nothing
Chroma-shaped leaves this module: callers get ``Chunk``, ``ChunkHit`` and ``ArticleRecord``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from index.errors import IndexMismatchError, StoreError
from index.lexicon import LexicalRow
from index.markers import MarkerChain
from index.models import Article, ArticleEntry, ArticleRecord, Chunk, ChunkHit
from index.records import article_metadata, chunk_metadata, hit_of, new_version, record_of, version_of
from index.store_guard import Guarded, store_failure, translated

log = logging.getLogger(__name__)

CHUNKS = "qa_chunks"
ARTICLES = "qa_articles"
# A record in the articles collection that is no article: the store's change marker. Every write
# ends by giving it a new random token: another process notices any change with one lookup.
MARKER = "__qa_generation__"
# The articles collection is looked up by id only; Chroma still wants a vector per record.
_PLACEHOLDER = [1.0]
# Chroma applies a collection's writes to its vector index from the write log, and saves the
# index only every ``sync_threshold`` writes (default 1000); until then every later write, update,
# delete or count on the collection replays the log since the last save. The articles' log
# entries carry their full texts: at 3.8k articles (the 100k-chunk tier) each such call took
# 0.3-0.45 s, growing until the next save. Their index (one placeholder number per article) costs
# nothing to save, so it is saved every few writes: 0.011-0.027 s a call (BENCHMARKS.md, "The
# articles collection's write log", the probe). The chunks keep Chroma's default: their index is
# the big one.
ARTICLES_SYNC = 10

Where = dict[str, Any]
_T = TypeVar("_T")


def _client_settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


class ChromaStore:
    """Chunks and articles in Chroma; built with ``persistent()`` or ``http()``.

    Every Chroma call goes through ``Guarded``: whatever chromadb, httpx or sqlite raise comes
    out as a ``StoreError`` naming the index and what to do about it.
    """

    def __init__(
        self, client: Any, *, model_name: str, location: str, server: bool = False, path: Path | None = None
    ) -> None:
        self.model_name = model_name
        self.location = location
        self._server = server
        self._path = path
        self._retired: list[Any] = []
        # The change-marker tokens written through this store: its client already holds those
        # writes, so only a change written elsewhere needs ``refresh``.
        self._own = MarkerChain()
        self._open_collections(client)

    def _open_collections(self, client: Any) -> None:
        self._client = Guarded(client, self._failure)
        self._chunks = Guarded(
            self._client.get_or_create_collection(
                CHUNKS, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            ),
            self._failure,
        )
        self._articles = Guarded(
            self._client.get_or_create_collection(
                ARTICLES, configuration={"hnsw": {"space": "l2", "sync_threshold": ARTICLES_SYNC,
                                                  "batch_size": ARTICLES_SYNC}},
                embedding_function=None,
            ),
            self._failure,
        )
        self._save_articles_often()
        built_with = self._recorded_model(self._chunks.metadata)
        # A fresh index is stamped with its model by its first chunks, not when opened: a run
        # that fails before writing (a model that does not load) leaves the folder open to any.
        self._model_recorded = built_with == self.model_name
        self.max_batch = max(1, int(self._client.get_max_batch_size()))

    def _save_articles_often(self) -> None:
        """Give an articles collection made before ``ARTICLES_SYNC`` that setting (once; its first
        save then takes a moment). Best effort: a read-only index is read as it is."""
        # Read-only, a server that refuses, an index of another kind: slower writes, same answers.
        try:
            hnsw = (self._articles.configuration or {}).get("hnsw")
            if hnsw and hnsw.get("sync_threshold") != ARTICLES_SYNC:
                self._articles.modify(configuration={"hnsw": {"sync_threshold": ARTICLES_SYNC,
                                                              "batch_size": ARTICLES_SYNC}})
        except Exception as exc:
            log.info("the articles collection at %s keeps its write setting (%s: %s); writes to "
                     "a large index stay slower", self.location, type(exc).__name__, exc)

    def _recorded_model(self, metadata: Any) -> str | None:
        """The model the index was built with (None while it holds no chunks); refuses another."""
        built_with = (metadata or {}).get("embedding_model")
        if built_with and built_with != self.model_name:
            raise IndexMismatchError(
                f"the index at {self.location} was built with the embedding model {built_with!r}, "
                f"but {self.model_name!r} is configured. Set QA_EMBEDDING_MODEL={built_with} to "
                "use it, or point QA_DATA_DIR at a new folder to build a fresh index."
            )
        return str(built_with) if built_with else None

    @classmethod
    def persistent(cls, path: str | Path, *, model_name: str) -> ChromaStore:
        """An embedded store in a folder (created when missing)."""
        path = Path(path)
        location = str(path)
        for folder in (path, *path.parents):
            if folder.exists():
                if not folder.is_dir():
                    raise StoreError(
                        f"{folder} is a file, not a folder: point QA_DATA_DIR (or --data-dir) at "
                        f"a folder for the index at {location}"
                    )
                break
        with translated(lambda exc: store_failure(exc, location, server=False)):
            path.mkdir(parents=True, exist_ok=True)
            import chromadb

            client = chromadb.PersistentClient(path=location, settings=_client_settings())
        return cls(client, model_name=model_name, location=location, path=path)

    @classmethod
    def http(cls, host: str, port: int, *, model_name: str, ssl: bool = False) -> ChromaStore:
        """A store on a Chroma server (``chroma run``)."""
        location = f"http{'s' if ssl else ''}://{host}:{port}"
        with translated(lambda exc: store_failure(exc, location, server=True)):
            import chromadb

            client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=_client_settings())
        return cls(client, model_name=model_name, location=location, server=True)

    def _failure(self, exc: Exception) -> StoreError:
        return store_failure(exc, self.location, server=self._server)

    # -- articles ------------------------------------------------------------------------------

    def article(self, article_id: str) -> ArticleRecord | None:
        """The stored record of one article, or None."""
        got = self._articles.get(ids=[article_id], include=["metadatas"])
        return record_of(got["ids"][0], got["metadatas"][0]) if got["ids"] else None

    def articles(self) -> list[ArticleRecord]:
        """Every stored article, sorted by id."""
        return sorted((record_of(i, m) for i, m in self._article_rows()), key=lambda r: r.id)

    def _article_rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        # Paged: one get of more than 32,766 rows fails in Chroma's SQLite ("too many SQL variables").
        for offset in range(0, int(self._articles.count()), self.max_batch):
            got = self._articles.get(include=["metadatas"], limit=self.max_batch, offset=offset)
            rows = zip(got["ids"], got["metadatas"], strict=True)
            yield from ((i, dict(m or {})) for i, m in rows if i != MARKER)

    def article_with_text_hash(self, text_hash: str) -> ArticleRecord | None:
        got = self._articles.get(where={"text_hash": text_hash}, include=["metadatas"], limit=1)
        return record_of(got["ids"][0], got["metadatas"][0]) if got["ids"] else None

    def article_groups(self, ids: Iterable[str]) -> dict[str, str]:
        """The duplicate group of each given article (missing ids are left out)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        got = self._articles.get(ids=wanted, include=["metadatas"])
        rows = zip(got["ids"], got["metadatas"], strict=True)
        return {i: str((m or {}).get("group") or i) for i, m in rows}

    def article_texts(self, ids: Iterable[str]) -> dict[str, str]:
        """Full texts of the given articles (missing ids are left out)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        got = self._articles.get(ids=wanted, include=["documents"])
        return dict(zip(got["ids"], got["documents"], strict=True))

    def put_articles(self, entries: Sequence[ArticleEntry]) -> None:
        """Record articles last, after their chunks: a crash before this re-runs them."""
        for batch in _batches(entries, self.max_batch):
            self._articles.upsert(
                ids=[e.article.id for e in batch], documents=[e.article.text for e in batch],
                metadatas=[article_metadata(e) for e in batch],  # type: ignore[misc]
                embeddings=[_PLACEHOLDER] * len(batch),
            )

    def mark_changing(self, article_ids: Sequence[str]) -> None:
        """Blank stored articles' hashes before their chunks change: should the run die half-way,
        the next one sees them as changed, whatever their files hold by then."""
        for batch in _batches(article_ids, self.max_batch):
            self._articles.update(ids=batch, metadatas=[{"hash": "", "version": ""}] * len(batch))

    def article_versions(self) -> dict[str, str]:
        """Each stored article's version ("" while it is being changed)."""
        return {i: version_of(m) for i, m in self._article_rows()}

    # -- change marker -------------------------------------------------------------------------

    def generation(self) -> tuple[str, bool]:
        """The change marker and whether a write was under way when it was set: one lookup."""
        got = self._articles.get(ids=[MARKER], include=["metadatas"])
        if not got["ids"]:
            return "", False
        meta = got["metadatas"][0] or {}
        return str(meta.get("generation", "")), bool(meta.get("pending", False))

    def bump_generation(self, *, pending: bool = False) -> str:
        """Give the change marker a new token (``pending`` before a write, plain after it)."""
        token = new_version()
        previous, _ = self.generation()
        self._articles.upsert(
            ids=[MARKER], documents=[""], embeddings=[_PLACEHOLDER],
            metadatas=[{"generation": token, "pending": pending}],
        )
        self._own.record(previous, token)
        return token

    def written_here(self, since: str, now: str) -> tuple[str, ...] | None:
        """The marker tokens this store object set on the way from ``since`` to ``now``, or None
        when another writer (another process, or another store object) changed it on the way."""
        return self._own.between(since, now)

    def set_here(self, token: str) -> bool:  # this store object set the marker to ``token``
        return token in self._own

    def refresh(self) -> None:
        """See other processes' writes: reopen an embedded store (a server needs nothing). Writes
        made through this store object need none (``written_here``): its client holds them.

        An embedded ``PersistentClient`` keeps its vector index in memory and does not reload it
        when another process writes, so dense search would stay on the old vectors until a restart.
        Chroma shares one ``System`` per folder in a process; it is taken out of that cache so the
        new client loads the folder afresh. The old one (with its copy of the vectors) is stopped
        at the next refresh, so a search running on it in another thread can finish; one another
        store object in this process still uses is left to it."""
        if self._path is None:
            return
        import chromadb
        from chromadb.api.shared_system_client import SharedSystemClient

        identifier = getattr(self._client._target, "_identifier", None)
        old = SharedSystemClient._identifier_to_system.pop(identifier, None) if identifier else None
        users = SharedSystemClient._identifier_to_refcount.pop(identifier, 0) if identifier else 0
        before = (self._client, self._chunks, self._articles, self._model_recorded, self.max_batch)
        try:
            with translated(self._failure):
                client = chromadb.PersistentClient(path=str(self._path), settings=_client_settings())
            self._open_collections(client)
        except BaseException:
            # All or nothing: a failed reopen leaves this store and Chroma's cache as they were.
            self._client, self._chunks, self._articles, self._model_recorded, self.max_batch = before
            if identifier and old is not None:
                SharedSystemClient._identifier_to_system[identifier] = old
                SharedSystemClient._identifier_to_refcount[identifier] = users
            raise
        for retired in self._retired:
            retired.stop()
        # Each client counts twice (itself and its admin client).
        self._retired = [old] if old is not None and users <= 2 else []

    def delete_article(self, article_id: str) -> int:
        """Remove an article and its chunks; returns how many chunks went."""
        ids = self.chunk_ids(article_id)
        self.mark_changing([article_id])  # killed before the record goes, it vouches for nothing
        self.delete_chunks(ids)
        self._articles.delete(ids=[article_id])
        return len(ids)

    # -- chunks --------------------------------------------------------------------------------

    def chunk_ids(self, article_id: str) -> list[str]:
        return list(self._chunks.get(where={"article_id": article_id}, include=[])["ids"])

    def chunk_ids_by_article(self, article_ids: Sequence[str]) -> dict[str, set[str]]:
        """The stored chunk ids of each given article, in one lookup per ``max_batch`` articles."""
        found: dict[str, set[str]] = {i: set() for i in article_ids}
        for batch in _batches(list(found), self.max_batch):
            got = self._chunks.get(where={"article_id": {"$in": batch}}, include=["metadatas"])
            for chunk_id, meta in zip(got["ids"], got["metadatas"], strict=True):
                found[str((meta or {})["article_id"])].add(chunk_id)
        return found

    def existing_chunk_ids(self, ids: Sequence[str]) -> set[str]:
        batches = _batches(ids, self.max_batch)
        return {i for batch in batches for i in self._chunks.get(ids=batch, include=[])["ids"]}

    def upsert_chunks(self, chunks: Sequence[tuple[Article, Chunk]], vectors: np.ndarray) -> None:
        """Upsert chunks of any articles with their vectors, in batches under Chroma's limit (a
        write costs Chroma ~20 ms whatever its size: ingest writes many articles at once)."""
        if not chunks:
            return
        if not self._model_recorded:
            # Another process may have stamped the fresh index since it was opened here.
            self._recorded_model(self._client.get_collection(CHUNKS).metadata)
        metadatas = [chunk_metadata(article, chunk) for article, chunk in chunks]
        for lo in range(0, len(chunks), self.max_batch):
            hi = lo + self.max_batch
            self._chunks.upsert(
                ids=[c.id for _, c in chunks[lo:hi]], documents=[c.text for _, c in chunks[lo:hi]],
                metadatas=metadatas[lo:hi], embeddings=vectors[lo:hi],  # type: ignore[arg-type]
            )
        if not self._model_recorded:
            self._chunks.modify(metadata={"embedding_model": self.model_name})
            self._model_recorded = True

    def refresh_chunks(self, chunks: Sequence[tuple[Article, Chunk]]) -> None:
        """Rewrite the metadata of stored chunks (title, dates) without re-embedding them."""
        for batch in _batches(chunks, self.max_batch):
            self._chunks.update(
                ids=[c.id for _, c in batch], metadatas=[chunk_metadata(a, c) for a, c in batch],
            )

    def delete_chunks(self, ids: Sequence[str]) -> None:
        for batch in _batches(ids, self.max_batch):
            self._chunks.delete(ids=batch)

    def count_chunks(self) -> int:
        return int(self._chunks.count())

    def all_chunks(self) -> list[ChunkHit]:
        """Every chunk with its article metadata (for the lexical index); score is 0."""
        hits: list[ChunkHit] = []
        total = self.count_chunks()
        for offset in range(0, total, self.max_batch):
            got = self._chunks.get(
                include=["documents", "metadatas"], limit=self.max_batch, offset=offset
            )
            hits.extend(
                hit_of(i, d, m, 0.0)
                for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
            )
        return hits

    def chunk_vectors(self) -> dict[str, np.ndarray]:
        """Every stored chunk's vector by chunk id (benchmarks reuse an index's real vectors)."""
        vectors: dict[str, np.ndarray] = {}
        total = self.count_chunks()
        for offset in range(0, total, self.max_batch):
            got = self._chunks.get(include=["embeddings"], limit=self.max_batch, offset=offset)
            for chunk_id, vector in zip(got["ids"], got["embeddings"], strict=True):
                vectors[chunk_id] = np.asarray(vector, dtype=np.float32)
        return vectors

    def chunks_by_ids(self, ids: Sequence[str]) -> dict[str, ChunkHit]:
        """Stored chunks by id with their article metadata (missing ids are left out)."""
        found: dict[str, ChunkHit] = {}
        for batch in _batches(list(dict.fromkeys(ids)), self.max_batch):
            got = self._chunks.get(ids=batch, include=["documents", "metadatas"])
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                found[i] = hit_of(i, d, m, 0.0)
        return found

    def lexical_rows(self, article_id: str) -> list[LexicalRow]:
        """An article's stored chunks as the lexicon keeps them."""
        got = self._chunks.get(where={"article_id": article_id}, include=["documents", "metadatas"])
        return [
            LexicalRow(i, article_id, (m or {}).get("published_ts"), str(d))
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]

    def search(self, vector: np.ndarray, k: int, *, where: Where | None = None) -> list[ChunkHit]:
        """The ``k`` nearest chunks by cosine similarity, best first."""
        if k <= 0:
            return []
        got = self._chunks.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=where or None,
            include=["documents", "metadatas", "distances"],
        )
        rows = zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True)
        return [hit_of(i, d, m, 1.0 - float(dist)) for i, d, m, dist in rows]


def _batches(items: Sequence[_T], size: int) -> Iterable[list[_T]]:
    for lo in range(0, len(items), size):
        yield list(items[lo : lo + size])
