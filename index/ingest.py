"""Load -> chunk -> embed -> store, idempotently.

Changed articles are chunked as they come and written a window at a time, each step one Chroma
write for the whole window: record the new articles and blank every stored hash (so a crash
leaves no chunk without a record), refresh the metadata of kept chunks, embed and upsert the new
ones (ids come from the chunk text: a repeat is harmless, a moved chunk is not re-embedded),
delete the chunks no longer part of them, write their keyword rows, then record each article
with its hash. A crash anywhere leaves records whose hash matches no file, so the next run
redoes them (and `--sync` removes those whose file is gone). Unchanged articles embed nothing.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from index.chunking import ChunkerConfig, chunk_text
from index.dates import date_to_timestamp, normalize_date
from index.dedup import Deduper, Stored
from index.embedder import Embedder
from index.errors import LoadError, QAError
from index.lexicon import LexicalRow, Lexicon
from index.loaders import Loaded, expand_paths, is_jsonl, iter_loaded, unexpected
from index.models import Article, ArticleEntry, Chunk, content_hash
from index.report import Failure, IngestReport, Run, first_few
from index.store import ChromaStore, new_version
from index.window import Pending, Window

# Chunks embedded per call. Embedding article by article padded its batches ~10% more; a
# thread chunking the next window while the model embeds was measured no faster on 2 cores,
# which torch already keeps busy. A crash loses at most one window of work.
EMBED_WINDOW = 512

__all__ = ["EMBED_WINDOW", "Failure", "IngestReport", "Ingestor"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _one_at_a_time(method: _F) -> _F:
    """``method`` under the ingestor's lock: a process's uploads, feeds, start-up go one by one."""

    @functools.wraps(method)
    def locked(self: Ingestor, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


class Ingestor:
    """Keeps a ``ChromaStore`` in step with article files."""

    def __init__(
        self, store: ChromaStore, embedder: Embedder, *, chunker: ChunkerConfig | None = None,
        max_file_bytes: int = 10_000_000, on_change: Callable[[], None] | None = None,
        dedup: Deduper | None = None, lexicon: Lexicon | None = None,
    ) -> None:
        """``dedup`` groups near-duplicate articles (and stores byte-identical texts under two ids,
        grouped); without it a second id with the same text is refused."""
        self.store = store
        self.dedup = dedup
        self.lexicon = lexicon
        self.embedder = embedder
        self.chunker = chunker or ChunkerConfig()
        self.max_file_bytes = max_file_bytes
        self._on_change = on_change
        self._lock = threading.RLock()
        # The store's change marker the duplicate index is known to match (None: not known), and
        # the marker tokens this ingestor set since: a way from the one to the store's current
        # marker made of these alone means no other writer changed the store meanwhile.
        self._dedup_at: str | None = None
        self._mine: set[str] = set()

    @_one_at_a_time
    def ingest(
        self, paths: Sequence[str | Path], *, sync: bool = False, progress: bool = False,
        on_file: Callable[[int, int, str], None] | None = None,
    ) -> IngestReport:
        """Ingest files and folders; with ``sync``, drop articles whose files are gone;
        ``on_file(done, total, path)`` after each file (for UI progress bars)."""
        started = time.perf_counter()
        run = Run()
        self._catch_up()
        files, missing = expand_paths(list(paths))
        run.failed += [Failure(e.path, e.reason) for e in missing]
        seen_paths: set[str] = set()
        bar = tqdm(total=len(files), unit="file", disable=not progress, desc="ingest")
        window = self._window(run)
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
        self._save_dedup()
        if self._on_change and (run.added or run.updated or run.removed):
            self._on_change()
        return run.report(started)

    @_one_at_a_time
    def ingest_articles(self, articles: Iterable[Article], *, progress: bool = False) -> IngestReport:
        """Ingest already-loaded articles (benchmarks, evaluation corpora)."""
        started = time.perf_counter()
        run = Run()
        self._catch_up()
        articles = list(articles)
        bar = tqdm(total=len(articles), unit="article", disable=not progress, desc="ingest")
        window = self._window(run)
        for article in articles:
            self._ingest_article(article, run, window)
            window.then(bar.update, 1)
        window.flush()
        bar.close()
        self._save_dedup()
        if self._on_change and (run.added or run.updated):
            self._on_change()
        return run.report(started)

    @_one_at_a_time
    def ingest_loaded(self, items: Iterable[Loaded]) -> IngestReport:
        """Ingest articles loaded elsewhere (fetched pages, feed items) with their failures: their
        ``path`` is empty, so ``--sync`` never removes them; their ids are the caller's."""
        started = time.perf_counter()
        run = Run()
        self._catch_up()
        window = self._window(run)
        for loaded in items:
            self._ingest_loaded(loaded, run, window)
        window.flush()
        self._save_dedup()
        if self._on_change and (run.added or run.updated):
            self._on_change()
        return run.report(started)

    @_one_at_a_time
    def delete(self, article_id: str) -> bool:
        """Remove one article and its chunks; False when it was not indexed."""
        if self.store.article(article_id) is None:
            return False
        self._catch_up()
        pending = self._bump(pending=True)
        self._delete_article(article_id)
        self._finish(pending)
        self._save_dedup()
        if self._on_change:
            self._on_change()
        return True

    def prepare(self) -> None:
        """Read the duplicate index now, as the first ingest would (0.7 s at 100k chunks), for a
        process that will ingest (the page); not behind an ingest under way, which reads it."""
        if self.dedup is None or not self._lock.acquire(blocking=False):
            return
        try:
            if self.store.generation()[0] != self._dedup_at:
                self.dedup.invalidate()  # written since this ingestor last looked (as ``_catch_up``)
            if not self.dedup.synced:
                self._sync_dedup()  # reads only: the side file is saved by the next ingest
        finally:
            self._lock.release()

    # -- internals -----------------------------------------------------------------------------

    def _catch_up(self) -> None:
        """Repair what an earlier run left half-done: lexicon rows whose article versions differ
        from the store's, and a change marker still pending from a writer that died."""
        generation, pending = self.store.generation()
        if self.dedup is not None and generation != self._dedup_at:
            # Someone else wrote since this ingestor's last write (another process, or this one
            # starting): its articles must be in the duplicate index before new ones are grouped.
            self.dedup.invalidate()
            self._dedup_at = None
        if self.lexicon is not None:
            self.lexicon.catch_up(self.store, generation)
        if pending:
            if self.lexicon is not None:
                self.lexicon.reconcile(self.store)
            self._finish(generation)

    def _finish(self, pending: str) -> None:
        """End a write: a fresh marker; the lexicon is in step with it unless another writer
        moved the marker meanwhile (then the next ``catch_up`` compares versions)."""
        generation = self._bump()
        if self._dedup_at is not None:
            way = self.store.written_here(self._dedup_at, generation)
            mine = way is not None and all(token in self._mine for token in way)
            self._dedup_at = generation if mine else None
        self._mine.clear()
        if self.store.written_here(pending, generation) == (generation,) and self.lexicon is not None:
            self.lexicon.mark_synced(generation)

    def _bump(self, *, pending: bool = False) -> str:
        token = self.store.bump_generation(pending=pending)
        self._mine.add(token)
        return token

    def _delete_article(self, article_id: str) -> int:
        removed = self.store.delete_article(article_id)
        if self.lexicon is not None:
            self.lexicon.delete_article(article_id)
        if self.dedup is not None:
            self.dedup.remove(article_id)
        return removed

    def _ingest_loaded(self, loaded: Loaded, run: Run, window: Window) -> None:
        run.failed += [Failure(e.path, e.reason) for e in loaded.failures]
        run.warnings += loaded.warnings
        for article in loaded.articles:
            unique = self._with_unique_id(article, run)
            if unique is not None:
                self._ingest_article(unique, run, window)

    def _with_unique_id(self, article: Article, run: Run) -> Article | None:
        """File-name ids are stable; two different files with one name get a path suffix, for
        good. JSONL ids are the user's own: a clash with another file's article is refused."""
        if not article.path:
            return article
        taken_by = run.ids_by_path.get(article.id)
        stored = self.store.article(article.id)
        other = taken_by if taken_by not in (None, article.path) else None
        if other is None and stored is not None and stored.path not in ("", article.path):
            other = stored.path if Path(stored.path).exists() else None
        if other is not None and is_jsonl(article.path):
            run.failed.append(Failure(article.path, f"article id {article.id!r} is already used by "
                                                    f"{other}; give one of them another id"))
            return None
        suffixed = f"{article.id}-{hashlib.sha1(article.path.encode()).hexdigest()[:6]}"
        if other is None and not is_jsonl(article.path) and (stored is None or stored.path != article.path):
            # Once suffixed (its name was taken), always: the bare id would store it twice.
            earlier = self.store.article(suffixed)
            other = "its earlier id" if earlier is not None and earlier.path == article.path else None
        if other is not None:
            article = Article(**{**asdict(article), "id": suffixed})
        run.ids_by_path[article.id] = article.path
        return article

    def _ingest_article(self, article: Article, run: Run, window: Window) -> None:
        where = article.path or article.id
        published = normalize_date(article.published)
        if article.published and published is None:
            run.failed.append(Failure(where, f"published {article.published!r} is not a date"))
            return
        if published != article.published:
            article = replace(article, published=published)
        text_hash = content_hash(article.text)
        twin = None if self.dedup else run.text_hashes.get(text_hash) or self._stored_twin(text_hash)
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
        except QAError:
            raise  # the model or the store, not this article: every other one would fail too
        except Exception as exc:
            failure = unexpected(where, exc)
            run.failed.append(Failure(failure.path, failure.reason))
            return
        group = self._group(article)
        # A record without chunks is a new article's placeholder from a run that died.
        window.add(Pending(article, text_hash, stored is not None and stored.chunks > 0, chunks, group))

    def _window(self, run: Run) -> Window:
        def write(items: list[Pending]) -> None:
            pending = self._bump(pending=True)
            self._write_window(items, run)
            self._finish(pending)

        return Window(write, limit=EMBED_WINDOW)

    def _write_window(self, items: list[Pending], run: Run) -> None:
        """Embed the missing chunks of a window's articles in one call, then store them."""
        # Chroma spends ~20 ms a write whatever its size: one per step for the whole window (in
        # batches under its limit). New articles get a placeholder record first (no orphans),
        # its hash already blank; the stored ones of replaced articles are blanked.
        if fresh := [ArticleEntry(i.article, 0, "", group=i.group) for i in items if not i.replaces]:
            self.store.put_articles(fresh)
        self.store.mark_changing([item.article.id for item in items if item.replaces])
        # After a crash some chunks may already be stored: embed only the missing ones.
        present = self.store.existing_chunk_ids([c.id for item in items for c in item.chunks])
        new = [(item.article, c) for item in items for c in item.chunks if c.id not in present]
        kept = [(item.article, c) for item in items for c in item.chunks if c.id in present]
        # Kept chunks still get the article's current title and dates (filters read them).
        self.store.refresh_chunks(kept)
        if new:
            self.store.upsert_chunks(new, self.embedder.embed_documents([c.text for _, c in new]))
        stored = self.store.chunk_ids_by_article([item.article.id for item in items])
        stale = [stored[item.article.id] - {c.id for c in item.chunks} for item in items]
        self.store.delete_chunks(sorted(set().union(*stale)))
        entries = [
            ArticleEntry(item.article, len(item.chunks), item.text_hash, new_version(), item.group)
            for item in items
        ]
        if self.lexicon is not None:
            self.lexicon.put_articles([
                (e.article.id, e.version, [
                    LexicalRow(c.id, c.article_id, date_to_timestamp(e.article.published), c.text)
                    for c in item.chunks
                ])
                for e, item in zip(entries, items, strict=True)
            ])
        self.store.put_articles(entries)
        run.chunks_added += len(new)
        run.chunks_removed += sum(len(gone) for gone in stale)
        for item in items:
            (run.updated if item.replaces else run.added).append(item.article.id)

    def _sync_dedup(self) -> None:
        assert self.dedup is not None
        marker, pending = self.store.generation()
        # The side file saved at the store's current marker is the whole state: no listing.
        if pending or not self.dedup.load(marker):
            stored = [Stored(r.id, r.hash, r.group) for r in self.store.articles()]
            self.dedup.sync(stored, self._texts)
        self._dedup_at = None if pending else marker  # halfway through another's: unsaveable

    def _group(self, article: Article) -> str | None:
        if self.dedup is None:
            return None
        if not self.dedup.synced:
            self._sync_dedup()
        return self.dedup.assign(article.id, article.text, article.hash, skip=self._file_gone)

    def _file_gone(self, article_id: str) -> bool:
        """A stored article whose file is gone was renamed or moved: it is no copy to group with."""
        record = self.store.article(article_id)
        return record is not None and bool(record.path) and not Path(record.path).exists()

    def _texts(self, ids: list[str]) -> dict[str, str]:
        texts: dict[str, str] = {}
        for lo in range(0, len(ids), 500):
            texts.update(self.store.article_texts(ids[lo : lo + 500]))
        return texts

    def _save_dedup(self) -> None:
        if self.dedup is not None:
            self.dedup.save(marker=self._dedup_at if self.dedup.synced else None)

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

    def _sync(self, roots: Sequence[str | Path], seen: set[str], run: Run) -> None:
        gone = self._gone(roots, seen, run)
        if not gone:
            return
        pending = self._bump(pending=True)
        for article_id in gone:
            run.chunks_removed += self._delete_article(article_id)
            run.removed.append(article_id)
        self._finish(pending)

    def _gone(self, roots: Sequence[str | Path], seen: set[str], run: Run) -> list[str]:
        gone: list[str] = []
        held: dict[str, list[str]] = {}  # a --sync told, not silent: the user expected them gone
        resolved = [Path(r).expanduser().resolve() for r in roots]
        kept = set(run.added + run.updated + run.unchanged)
        failed_files = {f.path.rsplit(":", 1)[0] for f in run.failed} | {f.path for f in run.failed}
        whole = {Path(f.path).resolve() for f in run.failed}  # files that failed as a whole
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
                and is_jsonl(record.path)
                and not any(Path(f).resolve() == path for f in failed_files if f)
            )
            if not path.exists() or gone_from_file:
                gone.append(record.id)
            elif record.path in seen and is_jsonl(record.path) and path not in whole:
                held.setdefault(record.path, []).append(record.id)
        for where, ids in held.items():
            run.warnings.append(f"{where}: kept {len(ids)} article(s) not read from it ({first_few(ids)}), "
                                "as some of its lines failed")
        return gone
