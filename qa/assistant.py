"""The public Python API: ``Assistant`` (ingest, list, delete, ask) and ``ask``."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.chunking import ChunkerConfig
from index.embedder import Embedder
from index.ingest import Ingestor, IngestReport
from index.models import Article, ArticleRecord
from index.store import ChromaStore
from qa.errors import ConfigError, QuestionError
from qa.models import Answer, WarmReport
from qa.settings import Settings

if TYPE_CHECKING:
    from index.feeds import FeedState, Subscriptions
    from index.fetch import Fetcher
    from qa.answer.chain import AnswerChain
    from qa.answer.composer import Composer


class Assistant:
    """Question answering over the indexed news articles, with verified citations.

    Dependencies are passed in (tests use fakes); by default they are built from ``settings``
    (``QA_*`` env vars). Opening the store is cheap; the embedding model loads on first use.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: ChromaStore | None = None,
        embedder: Embedder | None = None,
        composer: Composer | None = None,
        llm: str | None = None,
    ) -> None:
        from qa import wiring

        self.settings = settings or Settings.load()
        if llm is not None:
            self.settings = self.settings.model_copy(update={"llm": llm})
        self.store = store or wiring.build_store(self.settings)
        self.embedder: Embedder = embedder or wiring.build_embedder(self.settings)
        # The keyword index beside the store; questions and ingests keep it in step.
        self.lexicon = wiring.build_lexicon(self.settings, self.store)
        # The answer step's sentence vectors and spans (None with QA_SENTENCE_CACHE=false).
        self.sentence_store = wiring.build_sentence_store(self.settings)
        self._composer = composer
        self._chain: AnswerChain | None = None
        self._lock = threading.Lock()
        self._answering = 0  # questions being answered now (``wait_until_idle``)
        self._idle = threading.Condition()
        self.ingestor = Ingestor(
            self.store,
            self.embedder,
            chunker=ChunkerConfig(
                max_tokens=min(self.settings.chunk_tokens, 510),
                overlap_tokens=self.settings.chunk_overlap_tokens,
            ),
            max_file_bytes=int(self.settings.max_file_mb * 1_000_000),
            lexicon=self.lexicon,
            dedup=wiring.build_deduper(self.settings),
        )
        self._fetcher: Fetcher | None = None

    # -- data in -------------------------------------------------------------------------------

    def ingest(
        self, paths: Sequence[str | Path] | str | Path, *, sync: bool = False,
        progress: bool = False, on_file: Any = None,
    ) -> IngestReport:
        """Index article files and folders (idempotent; ``sync`` also removes gone files)."""
        if isinstance(paths, str | Path):
            paths = [paths]
        return self.ingestor.ingest(paths, sync=sync, progress=progress, on_file=on_file)

    def ingest_articles(self, articles: Sequence[Article], *, progress: bool = False) -> IngestReport:
        """Index already-loaded ``Article`` records."""
        return self.ingestor.ingest_articles(articles, progress=progress)

    def ingest_url(self, url: str) -> IngestReport:
        """Fetch one article page (http/https only) and index it; its ``source`` is the URL."""
        from index.feeds import ingest_url

        return ingest_url(url, ingestor=self.ingestor, fetcher=self.fetcher)

    def ingest_feed(self, url: str) -> IngestReport:
        """Index the new and changed items of an RSS/Atom feed and subscribe to it."""
        from index.feeds import ingest_feed

        return ingest_feed(
            url, ingestor=self.ingestor, fetcher=self.fetcher, subscriptions=self.subscriptions,
            cap=self.settings.feed_item_cap,
        )

    def refresh_feeds(self) -> dict[str, IngestReport]:
        """One pass over every subscribed feed (conditional requests: unchanged feeds cost one 304)."""
        return {feed.url: self.ingest_feed(feed.url) for feed in self.subscriptions.all()}

    def feeds(self) -> list[FeedState]:
        """The subscribed feeds, with what each last run remembered."""
        return self.subscriptions.all()

    def unsubscribe(self, url: str) -> bool:
        """Stop refreshing a feed (its articles stay indexed); False when it was not subscribed."""
        return self.subscriptions.remove(url)

    @property
    def subscriptions(self) -> Subscriptions:
        from index.feeds import Subscriptions

        return Subscriptions(self.settings.data_dir / "feeds.json")

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            from qa import wiring

            self._fetcher = wiring.build_fetcher(self.settings)
        return self._fetcher

    def articles(self) -> list[ArticleRecord]:
        """Every indexed article (id, title, source, published, chunk count), including those an
        unfinished ingest has recorded but not completed (``ArticleRecord.unfinished``)."""
        return self.store.articles()

    def article_text(self, article_id: str) -> str | None:
        """The full text of an indexed article (what citations' offsets point into)."""
        return self.store.article_texts([article_id]).get(article_id)

    def delete(self, article_id: str) -> bool:
        """Remove an article and its chunks, and the sentence vectors kept of them; False when no
        such article is indexed."""
        kept = self.sentence_store
        passages = [] if kept is None else [
            hit.chunk.text for hit in self.store.chunks_by_ids(self.store.chunk_ids(article_id)).values()]
        deleted = self.ingestor.delete(article_id)
        if deleted and passages:
            from qa.answer.sentence_store import PassageSplitter  # pysbd: not on `import qa`

            PassageSplitter(kept).forget(passages)
        return deleted

    # -- answers out ---------------------------------------------------------------------------

    @property
    def chain(self) -> AnswerChain:
        if self._chain is None:
            with self._lock:
                if self._chain is None:
                    from qa.wiring import build_chain

                    self._chain = build_chain(
                        self.store, self.embedder, self.settings, composer=self._composer,
                        lexicon=self.lexicon, sentences=self.sentence_store,
                    )
        return self._chain

    def warm_up(self, *, ingest: bool = False) -> None:
        """Load the models now (the embedding model and the answer step's matcher, each exported
        to ONNX on a first run) instead of on the first question; with ``ingest``, also what the
        first ingest loads (``prepare_ingest``), for a process that will ingest."""
        self.embedder.embed_query("warm up")
        if ingest:
            self.prepare_ingest()
        extractive = self.chain.composers.get("extractive")
        load = getattr(extractive, "load", None)
        if load is not None:
            load()

    def prepare_ingest(self) -> None:
        """Load now what the first ingest would: the wire-copy grouping's library (datasketch and
        scipy, ~1.2 s to import) and the duplicate index (0.7 s at 100k chunks). An ingest
        started meanwhile waits for it."""
        if self.settings.dedup:
            from index.dedup import preload

            preload()
        self.ingestor.prepare()

    def warm(
        self, *, limit: int | None = None, prune: bool = False,
        progress: Callable[[int, int], None] | None = None, pause: Callable[[], object] | None = None,
    ) -> WarmReport:
        """Compute the answer step's sentence vectors of the indexed chunks (newest first, at
        most ``limit``) and keep them in the sentence store, so questions over them embed
        nothing, in this process or a later one. Vectors already stored are not computed again.
        ``prune`` (when ``limit`` covers every chunk) then removes the stored vectors no indexed
        sentence has any more (edited articles, ``--sync`` removals; a deleted article's go with
        it), and other models' unused for 14 days. Raises ``ConfigError`` when there is no
        usable sentence store (``QA_SENTENCE_CACHE=false``, a read-only data dir). ``progress(done,
        total)`` after each batch of chunks; ``pause()`` before each (the page waits there while
        a question is answered)."""
        from qa.answer.extractive import ExtractiveComposer

        started = time.perf_counter()
        store = self.sentence_store
        if store is None:
            raise ConfigError("QA_SENTENCE_CACHE is off: there is nowhere to keep sentence vectors")
        if not store.usable:
            why = store.problem or f"{store.path} is busy (another process is writing it); try again"
            raise ConfigError(f"cannot keep sentence vectors: {why}")
        extractive = self.chain.composers.get("extractive")
        if not isinstance(extractive, ExtractiveComposer):
            return WarmReport(0, 0, 0, 0, 0, 0, 0.0)
        chunks = sorted(self.store.all_chunks(), key=lambda c: c.published or "", reverse=True)
        whole = limit is None or limit >= len(chunks)
        chunks = chunks[:limit]
        caches = extractive.vector_caches()
        embedded = 0
        seen: set[str] = set()  # sentences repeat where chunks overlap
        for lo in range(0, len(chunks), WARM_BATCH):
            if pause is not None:
                pause()
            texts = [t for t in extractive.sentence_texts(
                [c.chunk.text for c in chunks[lo : lo + WARM_BATCH]], remember=False) if t not in seen]
            seen.update(texts)
            embedded += extractive.warm(texts)
            if progress is not None:
                progress(min(lo + WARM_BATCH, len(chunks)), len(chunks))
        removed = 0
        if prune and whole:
            from index.sentences import splitter_version

            removed = store.keep_only({c.key: seen for c in caches if c.store is store},
                                      passages=(splitter_version(), [c.chunk.text for c in chunks]))
        return WarmReport(
            chunks=len(chunks), sentences=len(seen), models=len(caches), embedded=embedded,
            read=len(seen) * len(caches) - embedded, removed=removed,
            seconds=round(time.perf_counter() - started, 3),
        )

    def ask(self, question: str, *, history: Sequence[Any] = (), **options: Any) -> Answer:
        """Answer ``question`` from the indexed articles, citing verified quotes.

        ``history`` holds earlier user questions (strings), ``(question, answer)`` pairs,
        ``{"role", "content"}`` messages or ``Turn`` values. Options: ``k``, ``hybrid``,
        ``article_ids``, ``published_from``, ``published_to`` (ISO dates), ``backend``; any other
        option raises ``QuestionError``. When articles (not copies of one story) disagree on the
        figure asked for, ``Answer.conflicts`` lists each figure, newest first, and every one is
        cited; a "what has happened" question may be answered by several stories in date order
        (``Answer.stories``).
        """
        with self._busy():
            return self.chain.ask(question, history=history, **options)

    def stream(self, question: str, *, history: Sequence[Any] = (), **options: Any) -> Iterator[str | Answer]:
        """Answer text as it is produced, then the final ``Answer`` as the last item."""
        return self._counted(self.chain.stream(question, history=history, **options))

    def _counted(self, answer: Iterator[str | Answer]) -> Iterator[str | Answer]:
        with self._busy():
            yield from answer

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Return once no question is being answered (False if ``timeout`` seconds passed first):
        background work (``warm``) waits here so that it does not slow questions down."""
        with self._idle:
            return self._idle.wait_for(lambda: self._answering == 0, timeout)

    @contextlib.contextmanager
    def _busy(self) -> Iterator[None]:
        with self._idle:
            self._answering += 1
        try:
            yield
        finally:
            with self._idle:
                self._answering -= 1
                self._idle.notify_all()


# Chunks per step of ``Assistant.warm``: ~50 sentences, ~0.8 s of model work on one core (819
# SQuAD chunks took 85 s), so a question shares the cores with the page's background warm-up for
# at most that long before it yields (``wait_until_idle``).
WARM_BATCH = 8

_default: Assistant | None = None


def ask(question: str, *, history: Sequence[Any] = (), **options: Any) -> Answer:
    """One-call shortcut: ``Assistant().ask(...)`` over a shared default assistant."""
    global _default
    if _default is None:
        _default = Assistant()
    if not question:
        raise QuestionError("the question is empty")
    return _default.ask(question, history=history, **options)
