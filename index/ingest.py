"""Load -> chunk -> embed -> store, idempotently.

Per changed article the order is: blank its stored hash, upsert the new chunks (ids come from
the chunk text, so a repeat is harmless and a moved chunk is not re-embedded), refresh the
metadata of chunks it keeps, delete the chunks that are no longer part of it, then record the
article with its hash. A crash at any point leaves a record whose hash matches no file (or no
record), so the next run redoes the article. Unchanged articles (same hash) embed nothing.

Changed articles are chunked as they come and embedded a window at a time, in one call, so the
embedder sorts its batches by length across articles; the order above holds per article.
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
from index.dates import date_to_timestamp, normalize_date
from index.embedder import Embedder
from index.errors import LoadError
from index.lexicon import LexicalRow, Lexicon
from index.loaders import Loaded, expand_paths, iter_loaded
from index.models import Article, Chunk, content_hash
from index.store import ChromaStore, new_version

# Chunks embedded per call. Embedding article by article padded its batches ~10% more; a
# thread chunking the next window while the model embeds was measured no faster on 2 cores,
# which torch already keeps busy. A crash loses at most one window of work.
EMBED_WINDOW = 512


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
        lexicon: Lexicon | None = None,
    ) -> None:
        self.store = store
        self.lexicon = lexicon
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
        self._catch_up()
        files, missing = expand_paths(list(paths))
        run.failed += [Failure(e.path, e.reason) for e in missing]
        seen_paths: set[str] = set()
        bar = tqdm(total=len(files), unit="file", disable=not progress, desc="ingest")
        window = _Window(self, run)
        for done, loaded in enumerate(iter_loaded(files, max_bytes=self.max_file_bytes), 1):
            seen_paths.add(str(Path(loaded.path).resolve()))
            self._ingest_loaded(loaded, run, window)
            window.then(bar.update, 1)
            if on_file:
                window.then(on_file, done, len(files), loaded.path)
        window.flush()
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
        self._catch_up()
        articles = list(articles)
        bar = tqdm(total=len(articles), unit="article", disable=not progress, desc="ingest")
        window = _Window(self, run)
        for article in articles:
            self._ingest_article(article, run, window)
            window.then(bar.update, 1)
        window.flush()
        bar.close()
        if self._on_change and (run.added or run.updated):
            self._on_change()
        return run.report(started)

    def delete(self, article_id: str) -> bool:
        """Remove one article and its chunks; False when it was not indexed."""
        if self.store.article(article_id) is None:
            return False
        self._catch_up()
        pending = self.store.bump_generation(pending=True)
        self._delete_article(article_id)
        self._finish(pending)
        if self._on_change:
            self._on_change()
        return True

    # -- internals -----------------------------------------------------------------------------

    def _catch_up(self) -> None:
        """Repair what an earlier run left half-done: lexicon rows whose article versions differ
        from the store's, and a change marker still pending from a writer that died."""
        generation, pending = self.store.generation()
        if self.lexicon is not None:
            self.lexicon.catch_up(self.store, generation)
        if pending:
            if self.lexicon is not None:
                self.lexicon.reconcile(self.store)
            self._finish(generation)

    def _finish(self, pending: str) -> None:
        """End a write: a fresh marker; the lexicon is in step with it unless another writer
        moved the marker meanwhile (then the next ``catch_up`` compares versions)."""
        current, _ = self.store.generation()
        generation = self.store.bump_generation()
        if self.lexicon is not None and current == pending:
            self.lexicon.mark_synced(generation)

    def _delete_article(self, article_id: str) -> int:
        removed = self.store.delete_article(article_id)
        if self.lexicon is not None:
            self.lexicon.delete_article(article_id)
        return removed

    def _ingest_loaded(self, loaded: Loaded, run: _Run, window: _Window) -> None:
        run.failed += [Failure(e.path, e.reason) for e in loaded.failures]
        run.warnings += loaded.warnings
        for article in loaded.articles:
            unique = self._with_unique_id(article, run)
            if unique is not None:
                self._ingest_article(unique, run, window)

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

    def _ingest_article(self, article: Article, run: _Run, window: _Window) -> None:
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
        window.settle(article.id)
        stored = self.store.article(article.id)
        if stored is not None and stored.hash == article.hash:
            run.unchanged.append(article.id)
            return
        try:
            chunks = self._chunk(article)
        except LoadError as exc:
            run.failed.append(Failure(exc.path, exc.reason))
            return
        window.add(_Pending(article, text_hash, stored is not None, chunks))

    def _store_window(self, items: list[_Pending], run: _Run) -> None:
        """Embed the missing chunks of a window's articles in one call, then store each in turn."""
        pending = self.store.bump_generation(pending=True)
        self._write_window(items, run)
        self._finish(pending)

    def _write_window(self, items: list[_Pending], run: _Run) -> None:
        for item in items:
            if item.replaces:
                self.store.mark_changing(item.article.id)
        # After a crash some chunks may already be stored: embed only the missing ones.
        present = self.store.existing_chunk_ids([c.id for item in items for c in item.chunks])
        todo = [c.text for item in items for c in item.chunks if c.id not in present]
        vectors = self.embedder.embed_documents(todo) if todo else None
        done = 0
        for item in items:
            chunks = item.chunks
            new = [c for c in chunks if c.id not in present]
            # Kept chunks still get the article's current title and dates (filters read them).
            self.store.refresh_chunks(item.article, [c for c in chunks if c.id in present])
            if new and vectors is not None:
                self.store.add_chunks(item.article, new, vectors[done : done + len(new)])
                done += len(new)
            stale = set(self.store.chunk_ids(item.article.id)) - {c.id for c in chunks}
            self.store.delete_chunks(sorted(stale))
            run.chunks_added += len(new)
            run.chunks_removed += len(stale)
            version = new_version()
            if self.lexicon is not None:
                stamp = date_to_timestamp(item.article.published)
                self.lexicon.put_article(item.article.id, version, [
                    LexicalRow(c.id, c.article_id, stamp, c.text) for c in chunks
                ])
            self.store.put_article(
                item.article, chunks=len(chunks), text_hash=item.text_hash, version=version
            )
            (run.updated if item.replaces else run.added).append(item.article.id)

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

    def _sync(self, roots: Sequence[str | Path], seen: set[str], run: _Run) -> None:
        gone = self._gone(roots, seen, run)
        if not gone:
            return
        pending = self.store.bump_generation(pending=True)
        for article_id in gone:
            run.chunks_removed += self._delete_article(article_id)
            run.removed.append(article_id)
        self._finish(pending)

    def _gone(self, roots: Sequence[str | Path], seen: set[str], run: _Run) -> list[str]:
        gone: list[str] = []
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
                gone.append(record.id)
        return gone


@dataclass
class _Pending:
    """A changed article, chunked; ``then`` runs once it is stored (progress callbacks)."""

    article: Article
    text_hash: str
    replaces: bool
    chunks: list[Chunk]
    then: list[Callable[[], None]] = field(default_factory=list)


class _Window:
    """Changed articles waiting to be embedded together, then stored in order."""

    def __init__(self, ingestor: Ingestor, run: _Run) -> None:
        self._ingestor = ingestor
        self._run = run
        self._items: list[_Pending] = []
        self._chunks = 0

    def add(self, item: _Pending) -> None:
        self._items.append(item)
        self._chunks += len(item.chunks)
        if self._chunks >= EMBED_WINDOW:
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
            self._ingestor._store_window(items, self._run)
        for item in items:
            for callback in item.then:
                callback()
