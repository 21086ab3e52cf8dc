"""`qa watch` inside the running page: the subscribed feeds refreshed on an interval in a
background thread, started when the page launches and stopped when it closes. No gradio here.

Off unless the user sets ``QA_WATCH_INTERVAL`` (minutes): the default page never fetches on its
own. A pass that fails (a feed down, a page that is not HTML, anything raised) is recorded in
``status()`` for the page to show and logged; the thread goes on to the next pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from index.report import IngestReport
from qa.ui.render import escape_markdown

log = logging.getLogger("qa.ui")

Refresh = Callable[[], Mapping[str, IngestReport]]


@dataclass(frozen=True)
class WatchStatus:
    """What the last pass did: when it ended, how many passes ran, articles added or updated
    by the last one, and its failures in words (``feed url: reason``); ``changed`` counts the
    articles added or updated by every pass so far (the page re-lists articles when it moves)."""

    passes: int = 0
    last: datetime | None = None
    added: int = 0
    updated: int = 0
    failures: tuple[str, ...] = ()
    feeds: int = 0
    changed: int = 0

    def markdown(self, every_minutes: float) -> str:
        every = f"every {every_minutes:g} min"
        if self.last is None:
            return f"Subscribed feeds are refreshed {every} while this page runs (QA_WATCH_INTERVAL)."
        line = (f"Feeds refreshed {every}; last at {self.last:%H:%M:%S} UTC: {self.feeds} feed(s), "
                f"{self.added} new and {self.updated} updated article(s).")
        if self.failures:
            # The reasons quote what feed servers sent: literal text, never an image or a link.
            line += "\n\n**Failed:**\n" + "\n".join(f"- {escape_markdown(f)}" for f in self.failures)
        return line


class FeedWatcher:
    """Calls ``refresh`` (``Assistant.refresh_feeds``) now and every ``every`` seconds until stopped."""

    def __init__(self, refresh: Refresh, every: float) -> None:
        if every <= 0:
            raise ValueError(f"the refresh interval must be positive, got {every}")
        self.refresh = refresh
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = WatchStatus()
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> WatchStatus:
        with self._lock:
            return self._status

    def start(self) -> None:
        """Start the background thread (once; a second call does nothing)."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="qa-feed-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait for it (a pass under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the feed refresh thread did not stop within %.0fs", timeout)
            else:
                self._thread = None

    def run_once(self) -> WatchStatus:
        """One pass; never raises (a failure is part of the status)."""
        try:
            reports = dict(self.refresh())
            failures = tuple(f"{url}: {f.path}: {f.reason}" if f.path != url else f"{url}: {f.reason}"
                             for url, r in reports.items() for f in r.failed)
            added = sum(len(r.added) for r in reports.values())
            updated = sum(len(r.updated) for r in reports.values())
        except Exception as exc:
            log.exception("refreshing the feeds failed")
            reports, added, updated = {}, 0, 0
            failures = (f"{type(exc).__name__}: {' '.join(str(exc).split()) or 'no details'}",)
        with self._lock:
            self._status = WatchStatus(self._status.passes + 1, datetime.now(UTC), added, updated,
                                       failures, len(reports), self._status.changed + added + updated)
            return self._status

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            if self._stop.wait(self.every):
                break
