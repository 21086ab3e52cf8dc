"""The assistant behind the page: one per process, built on first use, warmed up in the background.

Also the page's start-up policy: a fresh data dir gets the bundled sample article, once; and the
login setting's parsing. No gradio here.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from qa.assistant import Assistant
from qa.settings import Settings

log = logging.getLogger("qa.ui")

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_ARTICLES = SAMPLES / "articles"
SAMPLE_QUESTIONS = SAMPLES / "questions" / "kazakhstan.jsonl"


class Backend:
    """The one ``Assistant`` every session shares: built on first use, warmed up in the background.

    Warming up opens the index, indexes the bundled sample on a fresh data dir, and loads the
    embedding model, so building the page stays cheap and the first question does not wait long.
    """

    def __init__(self, assistant: Assistant | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or (assistant.settings if assistant is not None else Settings())
        self._assistant = assistant
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

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

    def _build(self) -> Assistant:
        with self._lock:
            if self._assistant is None:
                self._assistant = Assistant(self.settings)
            return self._assistant

    def _warm_up(self) -> None:
        try:
            assistant = self._build()
            self._index_sample_on_first_run(assistant)
            assistant.embedder.embed_query("warm up")
            _ = assistant.chain
        except Exception as exc:
            log.exception("warming up the assistant failed")
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()

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


def parse_auth(value: str) -> list[tuple[str, str]]:
    """``"user:password"`` (several separated by commas) -> Gradio's list of credentials."""
    pairs = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        user, sep, password = item.partition(":")
        if not sep or not user or not password:
            raise ValueError("QA_UI_AUTH must look like user:password (several: user1:pw1,user2:pw2)")
        pairs.append((user, password))
    return pairs
