"""`qa watch` while the chat runs: subscribed feeds refreshed on an interval in a background thread
the page starts and stops, against a loopback feed server; failures shown, never fatal."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from qa import ui
from qa.assistant import Assistant
from qa.settings import Settings
from qa.ui.backend import Backend
from qa.ui.handlers import Handlers
from qa.ui.watcher import FeedWatcher
from tests.fakes import FakeEmbedder
from tests.index.loopback import (  # noqa: F401 - fixtures
    Route,
    Site,
    article_html,
    loopback_only_fixture,
    rss,
    serve_site,
    site_fixture,
)

RFC822 = "Tue, 01 Dec 2026 09:30:00 GMT"



def _page(topic: str) -> Route:
    paragraphs = [f"The {topic} story, part {p}: officials said the {topic} work would go on, and "
                  f"residents described how the {topic} changes affected street number {p}."
                  for p in range(4)]
    return Route(article_html(f"{topic.title()} news", "Ana Ruiz", "2026-11-30", paragraphs))


def _feed(site: Site, topics: list[str]) -> None:
    items = [(f"g-{t}", site.url(f"/{t}.html"), t, RFC822) for t in topics]
    site.routes["/rss.xml"] = Route(rss(items), content_type="application/rss+xml")
    for t in topics:
        site.routes[f"/{t}.html"] = _page(t)


def _assistant(tmp_path: Path, **settings: Any) -> Assistant:
    return Assistant(Settings(data_dir=tmp_path / "qa-data", **settings), embedder=FakeEmbedder())


def _until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_watcher_ingests_new_items_on_its_interval_and_stops(tmp_path: Path, site: Site) -> None:
    assistant = _assistant(tmp_path)
    _feed(site, ["harbour"])
    assert assistant.ingest_feed(site.url("/rss.xml")).ok
    watcher = FeedWatcher(assistant.refresh_feeds, every=0.2)
    watcher.start()
    try:
        _until(lambda: watcher.status().passes >= 1)
        _feed(site, ["harbour", "bridge"])  # a new item appears while the page runs
        _until(lambda: any("bridge" in r.source for r in assistant.articles()))
        _until(lambda: watcher.status().changed >= 1)
    finally:
        watcher.stop()
    assert not watcher.running
    passes = watcher.status().passes
    time.sleep(0.5)
    assert watcher.status().passes == passes  # stopped means no more fetching
    assert len(assistant.articles()) == 2


def test_a_failing_feed_is_reported_and_the_watcher_goes_on(tmp_path: Path, site: Site) -> None:
    assistant = _assistant(tmp_path)
    _feed(site, ["harbour"])
    assert assistant.ingest_feed(site.url("/rss.xml")).ok
    site.routes["/rss.xml"] = Route(b"<h1>down</h1>", status=500)
    watcher = FeedWatcher(assistant.refresh_feeds, every=0.1)
    watcher.start()
    try:
        _until(lambda: bool(watcher.status().failures))
        status = watcher.status()
        assert status.failures[0].startswith(site.url("/rss.xml"))
        assert "Failed:" in status.markdown(5) and "500" in status.markdown(5)
        _feed(site, ["harbour", "bridge"])  # the feed is back: the next pass fetches it
        _until(lambda: not watcher.status().failures and len(assistant.articles()) == 2)
        assert watcher.running
    finally:
        watcher.stop()


def test_an_exception_in_a_pass_is_a_status_not_a_crash() -> None:
    calls: list[int] = []

    def refresh() -> dict[str, Any]:
        calls.append(1)
        raise RuntimeError("the index is locked")

    watcher = FeedWatcher(refresh, every=0.05)
    watcher.start()
    try:
        _until(lambda: len(calls) >= 2)
        assert watcher.running
        assert watcher.status().failures == ("RuntimeError: the index is locked",)
    finally:
        watcher.stop()
    with pytest.raises(ValueError, match="positive"):
        FeedWatcher(refresh, every=0)


def test_the_page_watches_only_when_asked(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).watch_interval is None
    assert Backend(settings=Settings(data_dir=tmp_path)).watcher is None  # default: offline
    assert Backend(settings=Settings(data_dir=tmp_path, watch_interval=0)).watcher is None
    with pytest.raises(ValueError, match="watch_interval"):
        Settings(data_dir=tmp_path, watch_interval=-1)
    handlers = Handlers(Backend(settings=Settings(data_dir=tmp_path)))
    assert handlers.watch_status(0)[1] == 0


def test_the_page_starts_the_watcher_on_launch_and_stops_it_on_close(tmp_path: Path, site: Site) -> None:
    assistant = _assistant(tmp_path, watch_interval=0.005)  # 0.3 s
    _feed(site, ["harbour"])
    assert assistant.ingest_feed(site.url("/rss.xml")).ok
    page = ui.create_app(assistant)
    watcher = page.backend.watcher
    assert watcher is not None and not watcher.running  # building the page fetches nothing
    _feed(site, ["harbour", "bridge"])
    page.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        assert watcher.running
        _until(lambda: any("bridge" in r.source for r in assistant.articles()))
        _until(lambda: watcher.status().changed >= 1)
        text, seen, *views = Handlers(page.backend).watch_status(0)
        assert "Feeds refreshed every 0.005 min" in text and seen == watcher.status().changed
        assert "Bridge news" in views[0]
        assert Handlers(page.backend).watch_status(seen)[2:] == (gr.skip(),) * 3  # nothing new: unchanged
    finally:
        page.close(verbose=False)
    assert not watcher.running
    # Launched again, closed again: the refresh stops again (a close ran its stops only once).
    page.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        assert watcher.running
    finally:
        page.close(verbose=False)
    assert not watcher.running
