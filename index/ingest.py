"""Load -> chunk -> embed -> store, idempotently.

Per changed article the order is: blank its stored hash, upsert the new chunks (ids come from
the chunk text, so a repeat is harmless and a moved chunk is not re-embedded), refresh the
metadata of chunks it keeps, delete the chunks that are no longer part of it, then record the
article with its hash. A crash at any point leaves a record whose hash matches no file (or no
record), so the next run redoes the article. Unchanged articles (same hash) embed nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from index.chunking import ChunkerConfig, chunk_text
from index.embedder import Embedder
from index.errors import LoadError
from index.loaders import Loaded, expand_paths, iter_loaded, normalize_date
from index.models import Article, Chunk, content_hash
from index.store import ChromaStore


@dataclass(frozen=True)
class Failure:
    """A file (or file:line) that was not ingested, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did: article ids per outcome, failures with reasons, and counts."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    failed: tuple[Failure, ...] = ()
    warnings: tuple[str, ...] = ()
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """A few human lines: counts, then each failure and warning."""
        lines = [
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.failed)} failed "
            f"({self.chunks_added} chunks embedded, {self.seconds:.1f}s)"
        ]
        lines += [f"  failed: {f.path}: {f.reason}" for f in self.failed]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass
class _Run:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    ids_by_path: dict[str, str] = field(default_factory=dict)
    text_hashes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def report(self, started: float) -> IngestReport:
        return IngestReport(
            tuple(self.added), tuple(self.updated), tuple(self.unchanged), tuple(self.removed),
            tuple(self.failed), tuple(self.warnings), self.chunks_added, self.chunks_removed,
            time.perf_counter() - started,
        )


class Ingestor:
    """Keeps a ``ChromaStore`` in step with article files."""

    def __init__(
        self,
        store: ChromaStore,
        embedder: Embedder,
        *,
        chunker: ChunkerConfig | None = None,
        max_file_bytes: int = 10_000_000,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunker = chunker or ChunkerConfig()
        self.max_file_bytes = max_file_bytes
        self._on_change = on_change

    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        sync: bool = False,
        progress: bool = False,
        on_file: Callable[[int, int, str], None] | None = None,
    ) -> IngestReport:
        """Ingest files and folders; with ``sync``, drop articles whose files are gone.

        ``on_file(done, total, path)`` is called after each file (for UI progress bars).
        """
        started = time.perf_counter()
        run = _Run()
        files, missing = expand_paths(list(paths))
        run.failed += [Failure(e.path, e.reason) for e in missing]
        seen_paths: set[str] = set()
        bar = tqdm(total=len(files), unit="file", disable=not progress, desc="ingest")
        for done, loaded in enumerate(iter_loaded(files, max_bytes=self.max_file_bytes), 1):
            seen_paths.add(str(Path(loaded.path).resolve()))
            self._ingest_loaded(loaded, run)
            bar.update(1)
            if on_file:
                on_file(done, len(files), loaded.path)
        bar.close()
        if sync:
            self._sync(paths, seen_paths, run)
        if self._on_change and (run.added or run.updated or run.removed):
            self._on_change()
        return run.report(started)

    def ingest_articles(self, articles: Iterable[Article], *, progress: bool = False) -> IngestReport:
        """Ingest already-loaded articles (benchmarks, evaluation corpora)."""
        started = time.perf_counter()
        run = _Run()
        for article in tqdm(list(articles), unit="article", disable=not progress, desc="ingest"):
            self._ingest_article(article, run)
        if self._on_change and (run.added or run.updated):
            self._on_change()
        return run.report(started)

    def delete(self, article_id: str) -> bool:
        """Remove one article and its chunks; False when it was not indexed."""
        if self.store.article(article_id) is None:
            return False
        self.store.delete_article(article_id)
        if self._on_change:
            self._on_change()
        return True

    # -- internals -----------------------------------------------------------------------------

    def _ingest_loaded(self, loaded: Loaded, run: _Run) -> None:
        run.failed += [Failure(e.path, e.reason) for e in loaded.failures]
        run.warnings += loaded.warnings
        for article in loaded.articles:
            unique = self._with_unique_id(article, run)
            if unique is not None:
                self._ingest_article(unique, run)

    def _with_unique_id(self, article: Article, run: _Run) -> Article | None:
        """File-name ids are stable; two different files with one name get a path suffix.

        JSONL ids are the user's own, so a clash with another file's article is refused (None).
        """
        if not article.path:
            return article
        taken_by = run.ids_by_path.get(article.id)
        stored = self.store.article(article.id)
        other = taken_by if taken_by not in (None, article.path) else None
        if other is None and stored is not None and stored.path not in ("", article.path):
            other = stored.path if Path(stored.path).exists() else None
        if other is not None and article.path.endswith(".jsonl"):
            run.failed.append(Failure(
                article.path, f"article id {article.id!r} is already used by {other}; "
                "give one of them another id",
            ))
            return None
        if other is not None:
            suffix = hashlib.sha1(article.path.encode()).hexdigest()[:6]
            article = Article(**{**asdict(article), "id": f"{article.id}-{suffix}"})
        run.ids_by_path[article.id] = article.path
        return article

    def _ingest_article(self, article: Article, run: _Run) -> None:
        where = article.path or article.id
        published = normalize_date(article.published)
        if article.published and published is None:
            run.failed.append(Failure(where, f"published {article.published!r} is not a date"))
            return
        if published != article.published:
            article = replace(article, published=published)
        text_hash = content_hash(article.text)
        twin = run.text_hashes.get(text_hash) or self._stored_twin(text_hash)
        if twin is not None and twin[0] != article.id:
            first = f"{twin[0]!r}" + (f" ({twin[1]})" if twin[1] else "")
            run.failed.append(Failure(where, f"same text as article {first}; not ingested twice"))
            return
        run.text_hashes[text_hash] = (article.id, article.path)
        stored = self.store.article(article.id)
        if stored is not None and stored.hash == article.hash:
            run.unchanged.append(article.id)
            return
        try:
            chunks = self._chunk(article)
        except LoadError as exc:
            run.failed.append(Failure(exc.path, exc.reason))
            return
        if stored is not None:
            self.store.mark_changing(article.id)
        run.chunks_added += self._store_chunks(article, chunks)
        stale = set(self.store.chunk_ids(article.id)) - {c.id for c in chunks}
        self.store.delete_chunks(sorted(stale))
        run.chunks_removed += len(stale)
        self.store.put_article(article, chunks=len(chunks), text_hash=text_hash)
        (run.added if stored is None else run.updated).append(article.id)

    def _stored_twin(self, text_hash: str) -> tuple[str, str] | None:
        record = self.store.article_with_text_hash(text_hash)
        # A twin whose file is gone was renamed or moved: the new name is the article now.
        if record is None or (record.path and not Path(record.path).exists()):
            return None
        return record.id, record.path

    def _chunk(self, article: Article) -> list[Chunk]:
        chunks = chunk_text(
            article.id, article.text, config=self.chunker,
            count_tokens=self._count_tokens, token_spans=self.embedder.token_spans,
            model_name=self.embedder.name,
        )
        if not chunks:
            raise LoadError(article.path or article.id, "no text to index")
        return chunks

    def _count_tokens(self, texts: Sequence[str]) -> list[int]:
        counter = getattr(self.embedder, "token_counts", None)
        if counter is not None:
            return list(counter(texts))
        return [len(self.embedder.token_spans(t)) for t in texts]

    def _store_chunks(self, article: Article, chunks: list[Chunk]) -> int:
        # After a crash some of these may already be stored: embed only the missing ones.
        present = self.store.existing_chunk_ids([c.id for c in chunks])
        todo = [c for c in chunks if c.id not in present]
        # Kept chunks still get the article's current title and dates (filters read them).
        self.store.refresh_chunks(article, [c for c in chunks if c.id in present])
        if todo:
            vectors = self.embedder.embed_documents([c.text for c in todo])
            self.store.add_chunks(article, todo, vectors)
        return len(todo)

    def _sync(self, roots: Sequence[str | Path], seen: set[str], run: _Run) -> None:
        resolved = [Path(r).expanduser().resolve() for r in roots]
        kept = set(run.added + run.updated + run.unchanged)
        failed_files = {f.path.rsplit(":", 1)[0] for f in run.failed} | {f.path for f in run.failed}
        for record in self.store.articles():
            path = Path(record.path)
            if not record.path or record.id in kept:
                continue
            if not any(path == root or root in path.parents for root in resolved):
                continue
            # Gone from disk, or gone from a multi-article file that loaded cleanly. A file that
            # is still there but failed to load this time keeps its articles: nothing is lost.
            gone_from_file = (
                record.path in seen
                and record.path.endswith(".jsonl")
                and not any(Path(f).resolve() == path for f in failed_files if f)
            )
            if not path.exists() or gone_from_file:
                run.chunks_removed += self.store.delete_article(record.id)
                run.removed.append(record.id)
