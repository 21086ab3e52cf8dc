"""One running app per session on a free loopback port, and one headless Chromium to drive it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = ROOT / "screenshots"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass
class LiveApp:
    url: str
    assistant: Any
    data_dir: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory, real_embedder: Any) -> Iterator[LiveApp]:
    """The real app over a fresh data dir (so it indexes the bundled sample itself)."""
    from qa import ui
    from qa.assistant import Assistant
    from qa.settings import Settings

    data_dir = tmp_path_factory.mktemp("app-data")
    assistant = Assistant(Settings(data_dir=data_dir), embedder=real_embedder)
    page = ui.create_app(assistant)
    page.backend.assistant(timeout=120)
    _, url, _ = page.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True,
                            quiet=True)
    try:
        yield LiveApp(url.rstrip("/"), assistant, data_dir)
    finally:
        page.close()


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and async tests that run later (tests/qa) need to start their own.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def outside_requests() -> list[str]:
    """Every request the page makes to a host that is not this machine (should stay empty)."""
    return []


@pytest.fixture
def page(browser: Any, live_app: LiveApp, outside_requests: list[str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    context.on("request", lambda r: _note_outside(r.url, outside_requests))
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    context.close()
    assert outside_requests == [], "the page called a host other than this machine"


def _note_outside(url: str, seen: list[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOOPBACK:
        seen.append(url)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
