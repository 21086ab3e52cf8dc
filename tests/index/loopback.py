"""A news site on 127.0.0.1 for fetch and feed tests: routes set by the test, requests recorded."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.index import netguard


@dataclass
class Route:
    """What one path answers. ``etag``/``last_modified`` make it honour conditional requests."""

    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class Site:
    """Routes by path; every request's path and headers are kept in ``seen``."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.routes: dict[str, Route | Callable[[], Route]] = {}
        self.seen: list[Seen] = []

    def url(self, path: str) -> str:
        return self.base + path

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = site.routes.get(self.path)
            if callable(route):
                route = route()
            if route is None:
                route = Route(b"<h1>Not found</h1>", status=404)
            if route.delay:
                time.sleep(route.delay)
            match_etag = route.etag and self.headers.get("If-None-Match") == route.etag
            match_date = route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
            if match_etag or match_date:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that stops reading early (a size limit, a 304) breaks the pipe: expected, and
        # the default handler prints a traceback to stderr, inside the output a CLI test parses.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextmanager
def serve_site() -> Iterator[Site]:
    """Start the site on a free loopback port; stopped when the block ends."""
    server = _QuietServer(("127.0.0.1", 0), _handler(Site(0)))
    site = Site(server.server_address[1])
    server.RequestHandlerClass = _handler(site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)


def article_html(title: str, author: str, date: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html><head><title>{title} | Loopback News</title>"
        f'<meta name="author" content="{author}"><meta property="og:title" content="{title}">'
        f'<meta property="article:published_time" content="{date}"></head>'
        f"<body><nav>Home | World | Sport</nav><article><h1>{title}</h1>{body}</article>"
        "<footer>Copyright Loopback News</footer><script>track()</script></body></html>"
    ).encode()


def rss(items: list[tuple[str, str, str, str]], title: str = "Loopback News") -> bytes:
    """RSS 2.0 with items (guid, link, title, pubDate)."""
    entries = "".join(
        f"<item><guid>{g}</guid><link>{link}</link><title>{t}</title><pubDate>{d}</pubDate></item>"
        for g, link, t, d in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://127.0.0.1/</link><description>d</description>{entries}</channel></rss>"
    ).encode()


def atom(items: list[tuple[str, str, str, str]], title: str = "Loopback Atom") -> bytes:
    """Atom 1.0 with entries (id, link, title, updated)."""
    entries = "".join(
        f'<entry><id>{g}</id><link href="{link}"/><title>{t}</title><updated>{d}</updated>'
        "<author><name>Feed Author</name></author></entry>"
        for g, link, t, d in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{title}</title><id>urn:loopback</id><updated>2026-12-01T00:00:00Z</updated>"
        f"{entries}</feed>"
    ).encode()


# Fixtures for the modules that fetch (import them by name; pytest finds them there).


@pytest.fixture(autouse=True, name="loopback_only")
def loopback_only_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every fetch must stay on 127.0.0.1: anything else fails the test."""
    blocked = netguard.install(monkeypatch.setattr)
    yield
    assert blocked == []


@pytest.fixture(name="site")
def site_fixture() -> Iterator[Site]:
    """A loopback news site, stopped after the test."""
    with serve_site() as served:
        yield served
