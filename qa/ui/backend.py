"""The assistant behind the page: one per process, built on first use, warmed up in the background.

Also the page's start-up policy: a fresh data dir gets the bundled sample article, once; and the
login setting's parsing. No gradio here.
"""

from __future__ import annotations

import atexit
import functools
import logging
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

from index.report import IngestReport
from qa import wiring
from qa.assistant import Assistant
from qa.errors import ConfigError
from qa.llm.backends import DEFAULT_MODELS, DEFAULT_URLS, backend_url, list_models
from qa.settings import Settings
from qa.ui.prefs import EXTRACTIVE
from qa.ui.watcher import FeedWatcher

log = logging.getLogger("qa.ui")

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_ARTICLES = SAMPLES / "articles"
SAMPLE_QUESTIONS = SAMPLES / "questions" / "kazakhstan.jsonl"
# Seconds between the background warm-up's looks at the store's change marker (one lookup each).
WARM_POLL = 60.0


class _Stopped(Exception):
    """The background warm-up was asked to stop (``Backend.close``) between two batches."""


class Backend:
    """The one ``Assistant`` every session shares: built on first use, warmed up in the background.

    Warming up opens the index, indexes the bundled sample on a fresh data dir, and loads the
    embedding model, so building the page stays cheap and the first question does not wait long.
    """

    def __init__(self, assistant: Assistant | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or (assistant.settings if assistant is not None else Settings.load())
        self._assistant = assistant
        self._lock = threading.Lock()
        self._ready = threading.Event()
        # The data dir's secret as this page read it at launch (qa.cli.remote checks it).
        self.serve_token: str | None = None
        # The port the page serves on, once launched (``qa.ui.page.QAPage.launch``).
        self.port_of_page: Callable[[], int | None] = lambda: None
        self._thread: threading.Thread | None = None
        self._warming: threading.Thread | None = None
        self._warm_wanted = threading.Event()  # a pass is asked for (start-up, an ingest here)
        self.warm_settled = threading.Event()  # no pass running or asked for (tests wait on it)
        self.warm_settled.set()
        self._stop_warming = threading.Event()
        self._closed = threading.Event()
        self._llms: dict[tuple[str, str, str], str] = {}
        self.error: str | None = None
        # Feeds refreshed while the page runs, only when QA_WATCH_INTERVAL asks for it.
        minutes = self.settings.watch_interval
        self.watcher = FeedWatcher(self.refresh_feeds, minutes * 60) if minutes else None
        _OPEN.add(self)

    @property
    def uploads(self) -> Path:
        return self.settings.data_dir / "uploads"

    def is_ready(self) -> bool:
        return self._ready.is_set()

    def warm_up_in_background(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._warm_up, name="qa-warm-up", daemon=True)
                self._thread.start()

    def assistant(self, timeout: float | None = None) -> Assistant:
        """The shared assistant, once warmed up (a failed warm-up raises here, per request)."""
        self.warm_up_in_background()
        self._ready.wait(timeout)
        return self._build()

    def refresh_feeds(self) -> dict[str, IngestReport]:
        """One pass over the subscribed feeds (the watcher's job), once the assistant is ready."""
        reports = self.assistant().refresh_feeds()
        if any(r.added or r.updated for r in reports.values()):
            self.warm_sentences_in_background()
        return reports

    def warm_sentences_in_background(self) -> None:
        """Compute the sentence vectors of the newest ``QA_WARM_CHUNKS`` chunks in a background
        thread that steps aside while a question is answered, so first questions embed nothing.
        The thread stays: every ``WARM_POLL`` seconds it looks at the store's change marker and
        warms again when another process (a ``qa ingest`` beside the page) wrote to the index."""
        if not self.settings.warm_chunks or not self.settings.sentence_cache:
            return
        with self._lock:
            self.warm_settled.clear()
            self._warm_wanted.set()
            if self._warming is None:
                self._warming = threading.Thread(target=self._warm_sentences, name="qa-warm-sentences",
                                                 daemon=True)
                self._warming.start()

    def _warm_sentences(self) -> None:
        seen: str | None = None  # the store's change marker at the start of the last pass
        while True:
            asked = self._warm_wanted.wait(WARM_POLL)
            self._warm_wanted.clear()
            if self._stop_warming.is_set():
                return
            try:
                assistant = self.assistant()
                marker = assistant.store.generation()[0]
                if asked or marker != seen:
                    # The marker read before the pass: a write during it brings another pass.
                    seen = marker
                    report = assistant.warm(limit=self.settings.warm_chunks, prune=True,
                                            pause=functools.partial(self._pause, assistant))
                    log.info("sentence vectors of %d chunks ready: %d computed, %d kept from before "
                             "(%.1f s)", report.chunks, report.embedded, report.read, report.seconds)
            except _Stopped:
                return
            except ConfigError as exc:  # no usable sentence store: nothing to warm, ever
                log.warning("sentence vectors are not computed ahead: %s", exc)
                with self._lock:
                    self._warming = None
                    self.warm_settled.set()
                return
            except Exception:
                # Questions embed what they need, as without the warm-up; nothing is lost.
                log.exception("computing sentence vectors in the background failed")
            with self._lock:
                if not self._warm_wanted.is_set():
                    self.warm_settled.set()

    def _pause(self, assistant: Assistant) -> None:
        # Between two batches of a warm pass: a question goes first, and a close ends the pass
        # (also while it waits for a long question, an LLM's streamed answer).
        while True:
            if self._stop_warming.is_set():
                raise _Stopped
            if assistant.wait_until_idle(0.25):
                return

    def stop_warming(self, timeout: float = 30.0) -> None:
        """End the background warm-up thread (a pass under way stops after its current batch)."""
        self._stop_warming.set()
        self._warm_wanted.set()
        thread = self._warming
        if thread is not None:
            thread.join(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Stop this page's background threads: the feed refresh and the sentence warm-up, and
        wait for a start-up warm-up still loading the model. Runs at interpreter exit too: a
        daemon thread still inside Chroma or onnxruntime when the interpreter tears down can
        crash the process (a segfault after the work is done)."""
        if self.watcher is not None:  # every time: a page launched again starts it again
            self.watcher.stop()
        if self._closed.is_set():  # once: the exit hook after a page's own close waits for nothing
            return
        self._closed.set()
        self.stop_warming(timeout)
        if self._thread is not None:
            self._thread.join(timeout)

    # -- answer backends picked in the page ------------------------------------------------------

    def llm_settings(self, kind: str, base_url: str, model: str, *, need_model: bool = True) -> Settings:
        """The settings for an LLM picked in the page, or a ``ConfigError`` saying what is missing."""
        if kind not in DEFAULT_URLS:
            raise ConfigError(f"unknown answer backend {kind!r}: pick extractive, openai or ollama")
        if need_model and not model and kind not in DEFAULT_MODELS:
            raise ConfigError(
                f"pick a model for {kind} in Settings (Test connection lists the server's models)"
            )
        return wiring.llm_settings(self.settings, kind=kind, base_url=base_url, model=model)

    def answer_backend(self, kind: str, base_url: str = "", model: str = "") -> str | None:
        """The ``backend=`` option for the page's choice (None: the assistant's own default).

        An LLM other than the configured one is built once per (kind, URL, model) and added to
        the chain, so the next question uses it; the extractive composer stays its fallback.
        """
        if not kind or kind == EXTRACTIVE:
            return EXTRACTIVE
        settings = self.llm_settings(kind, base_url, model)
        assistant = self.assistant()
        key = (kind, backend_url(settings), settings.llm_model or DEFAULT_MODELS.get(kind, ""))
        configured = self.settings
        if configured.llm == kind and (backend_url(configured), configured.llm_model or
                                       DEFAULT_MODELS.get(kind, "")) == key[1:]:
            return None
        with self._lock:
            if key not in self._llms:
                self._llms[key] = wiring.add_llm_composer(assistant.chain, assistant.embedder, settings)
            return self._llms[key]

    def test_connection(self, kind: str, base_url: str, model: str) -> tuple[str, list[str]]:
        """Ask the server for its models: a sentence for the page, and the models it offers."""
        if not kind or kind == EXTRACTIVE:
            return "The extractive backend runs here, offline: nothing to connect to.", []
        settings = self.llm_settings(kind, base_url, model, need_model=False)
        models = list_models(settings, timeout=min(settings.llm_timeout, 10.0))
        url = backend_url(settings)
        if not models:
            return f"Connected to {kind} at {url}, but it offers no models.", []
        shown = ", ".join(models[:8]) + (f" and {len(models) - 8} more" if len(models) > 8 else "")
        message = f"Connected to {kind} at {url}: {len(models)} model(s): {shown}."
        if model and model not in models:
            message += f" The model {model!r} is not among them: pick one of these."
        return message, models

    def _build(self) -> Assistant:
        with self._lock:
            if self._assistant is None:
                self._assistant = Assistant(self.settings)
            return self._assistant

    def _warm_up(self) -> None:
        try:
            assistant = self._build()
            self._index_sample_on_first_run(assistant)
            assistant.warm_up()
        except Exception as exc:
            log.exception("warming up the assistant failed")
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()
        if self.error is None:
            self.warm_sentences_in_background()
            try:
                # After ready: a question need not wait for it; the page's first upload or feed
                # refresh then does not load it (nor wait: it is skipped behind an upload).
                if not self._closed.is_set():
                    assistant.prepare_ingest()
            except Exception:  # the upload will meet it and say what it is
                log.exception("reading the duplicate index ahead failed")

    def _index_sample_on_first_run(self, assistant: Assistant) -> None:
        # A marker, not "the index is empty": whoever deletes every article must not get the sample back.
        marker = self.settings.data_dir / ".sample-offered"
        if marker.exists():
            return
        if not assistant.articles() and SAMPLE_ARTICLES.is_dir():
            log.info("fresh data dir: indexing the sample articles in %s", SAMPLE_ARTICLES)
            assistant.ingest([SAMPLE_ARTICLES])
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


# Every Backend not yet collected; their threads are stopped before the interpreter tears down
# (atexit runs after the main thread ends, while daemon threads still run).
_OPEN: weakref.WeakSet[Backend] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for backend in list(_OPEN):
        backend.close()
