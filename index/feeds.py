"""RSS and Atom feeds: parsing (the one module that imports feedparser) and remembered subscriptions.

A feed run fetches the feed with the validators of the last run (ETag / Last-Modified: a 304
ends the run at once), keeps at most ``cap`` items (feed order, newest first in practice),
collapses items that share a GUID or a link, and fetches only the pages of items that are new or
whose entry changed (title, dates, summary). Subscriptions live in one JSON file in the data dir,
written atomically; an item that failed is not remembered, so the next run tries it again; when
its page could not be fetched, the feed's validators are not kept either, so that run is no 304.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin
from xml.sax import SAXException

import feedparser

from index.dates import normalize_date
from index.errors import LoadError
from index.fetch import (
    FEED_TYPES,
    FETCH_FAILURES,
    HTML_TYPES,
    Fetcher,
    canonical_url,
    check_url,
    url_article_id,
)
from index.files import file_lock, write_text_atomic
from index.ingest import Failure, Ingestor, IngestReport
from index.loaders import Loaded, article_from_html

DEFAULT_ITEM_CAP = 50


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed: ``key`` is its GUID (or link), ``fingerprint`` changes when it does."""

    key: str
    link: str
    title: str | None
    published: str | None
    author: str | None
    fingerprint: str


@dataclass(frozen=True)
class Feed:
    """A parsed feed: its title and its items, de-duplicated and capped."""

    title: str
    items: tuple[FeedItem, ...]


@dataclass(frozen=True)
class SeenItem:
    """What a subscription remembers of an item it ingested."""

    link: str
    fingerprint: str
    article_id: str


@dataclass(frozen=True)
class FeedState:
    """A subscription: the feed URL, the validators of its last response, and the items seen."""

    url: str
    title: str = ""
    etag: str | None = None
    last_modified: str | None = None
    checked: str | None = None
    items: dict[str, SeenItem] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _resolve(base: str, link: str) -> str:
    """``link`` made absolute against the feed's URL; a link too broken to join is kept as it is,
    so that its fetch fails as that item's failure, not the whole feed's."""
    try:
        return urljoin(base, link)
    except ValueError:
        return link


def parse_feed(body: bytes, url: str, *, cap: int = DEFAULT_ITEM_CAP) -> Feed:
    """RSS/Atom bytes -> ``Feed``; ``LoadError`` when the body is not a feed."""
    # A stream, never a string: feedparser would treat a string as a URL or a file name.
    parsed = feedparser.parse(io.BytesIO(body))
    if not parsed.get("version"):
        problem = parsed.get("bozo_exception")
        detail = f" ({problem})" if problem else ""
        raise LoadError(url, f"not an RSS or Atom feed: the body is not feed XML{detail}")
    items: list[FeedItem] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        link = _resolve(url, str(entry.get("link") or "").strip()) if entry.get("link") else ""
        key = str(entry.get("id") or link).strip()
        if not link or key in seen or link in seen:
            continue
        seen.update((key, link))
        published = normalize_date(entry.get("published") or entry.get("updated"))
        stamp = "\x1f".join(
            str(entry.get(name) or "") for name in ("title", "published", "updated", "summary")
        )
        items.append(FeedItem(
            key=key, link=link, title=(entry.get("title") or None), published=published,
            author=(entry.get("author") or None),
            fingerprint=hashlib.sha1(f"{link}\x1e{stamp}".encode()).hexdigest()[:16],
        ))
        if len(items) >= cap:
            break
    if parsed.get("bozo") and not items and isinstance(parsed.get("bozo_exception"), SAXException):
        # Broken XML (a truncated download, a page that is no feed) that feedparser read nothing
        # from: said, not subscribed as an empty feed. Broken XML it read items from is kept, as
        # feed readers do.
        raise LoadError(url, f"the feed's XML is broken ({parsed['bozo_exception']}): no item could be read")
    return Feed(title=str(parsed.feed.get("title") or url), items=tuple(items))


class Subscriptions:
    """The feeds the user subscribed to, in ``feeds.json`` in the data dir."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self) -> list[FeedState]:
        """Every subscription, in the order they were added."""
        if not self.path.exists():
            return []
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise LoadError(str(self.path), f"cannot read the feed subscriptions: {exc}") from exc
        return [
            FeedState(**{**f, "items": {k: SeenItem(**v) for k, v in f.get("items", {}).items()}})
            for f in raw.get("feeds", [])
        ]

    def get(self, url: str) -> FeedState | None:
        return next((f for f in self.all() if f.url == url), None)

    def put(self, state: FeedState) -> None:
        """Add or replace one subscription (written to a temp file, then renamed into place)."""
        with self._locked():
            known = self.all()
            feeds = [f for f in known if f.url != state.url]
            urls = [f.url for f in known]
            feeds.insert(urls.index(state.url) if state.url in urls else len(feeds), state)
            self._write(feeds)

    def remove(self, url: str) -> bool:
        """Forget a subscription (its articles stay indexed); False when there was none."""
        with self._locked():
            feeds = self.all()
            kept = [f for f in feeds if f.url != url]
            if len(kept) == len(feeds):
                return False
            self._write(kept)
            return True

    def _locked(self) -> contextlib.AbstractContextManager[bool]:
        # Read, change, write: two processes (`qa watch` beside the page) must take turns, or
        # one's subscription is lost to the other's write.
        return file_lock(self.path.with_name(self.path.name + ".lock"))

    def _write(self, feeds: list[FeedState]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, json.dumps({"feeds": [f.to_dict() for f in feeds]}, indent=1))


def load_url(url: str, fetcher: Fetcher, *, item: FeedItem | None = None) -> Loaded:
    """Fetch one page and extract its article; a problem becomes the ``Loaded``'s failure."""
    try:
        url = canonical_url(check_url(url))
        fetched = fetcher.get(url, accept=HTML_TYPES)
        # Named where the redirects ended (a short link, a moved page, a feed's click tracker):
        # one page reached by two links is one article, not two grouped as copies.
        final = canonical_url(fetched.final_url or url)
        article = article_from_html(
            fetched.text(), article_id=url_article_id(final), where=url, source=final,
            fallback_title=item.title if item else None,
        )
    except LoadError as exc:
        return Loaded(url, failures=[exc])
    if item is not None:
        # The feed's own date and author are cleaner than what a page scraper guesses.
        article = replace(
            article, published=item.published or article.published, author=article.author or item.author
        )
    return Loaded(url, [article])


def ingest_url(url: str, *, ingestor: Ingestor, fetcher: Fetcher) -> IngestReport:
    """Fetch, extract and index the article at ``url`` (re-running changes nothing)."""
    return ingestor.ingest_loaded([load_url(url, fetcher)])


def ingest_feed(
    url: str, *, ingestor: Ingestor, fetcher: Fetcher, subscriptions: Subscriptions,
    cap: int = DEFAULT_ITEM_CAP,
) -> IngestReport:
    """Index the new and changed items of one feed and remember it as a subscription."""
    try:
        url = check_url(url)
    except LoadError as exc:
        return IngestReport(failed=(_failure(exc),))
    state = subscriptions.get(url) or FeedState(url)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        fetched = fetcher.get(
            url, accept=FEED_TYPES, what="an RSS or Atom feed", etag=state.etag,
            last_modified=state.last_modified,
        )
        if fetched.not_modified:
            subscriptions.put(replace(state, checked=now))
            return IngestReport(unchanged=tuple(sorted({s.article_id for s in state.items.values()})))
        feed = parse_feed(fetched.body, url, cap=cap)
    except LoadError as exc:
        return IngestReport(failed=(_failure(exc),))

    skipped: list[FeedItem] = []
    todo: list[FeedItem] = []
    for item in feed.items:
        seen = state.items.get(item.key)
        still_stored = seen is not None and ingestor.store.article(seen.article_id) is not None
        unchanged = seen is not None and seen.fingerprint == item.fingerprint and still_stored
        (skipped if unchanged else todo).append(item)

    # Every page is fetched before the write starts: the ingestor's lock is held while it writes,
    # and an upload on the page must not wait behind a feed's downloads.
    pages = [load_url(item.link, fetcher, item=item) for item in todo]
    report = ingestor.ingest_loaded(pages)
    stored = set(report.added) | set(report.updated) | set(report.unchanged)
    items = {i.key: state.items[i.key] for i in skipped}
    for item, page in zip(todo, pages, strict=True):
        article_id = page.articles[0].id if page.articles else url_article_id(item.link)
        if article_id in stored:
            items[item.key] = SeenItem(item.link, item.fingerprint, article_id)
    # An item whose page could not be fetched (a 404 before the page is up, a 5xx, a timeout) is
    # retried by the next run: the feed's validators would turn that run into a 304 for as long as
    # the feed stays the same, and the item would be lost once it drops off. A page that came but
    # cannot be an article (not HTML, too large, no text) keeps the validators: it would fail again.
    retry = any(f.reason.startswith(FETCH_FAILURES) for f in report.failed)
    subscriptions.put(FeedState(
        url, title=feed.title, etag=None if retry else fetched.etag,
        last_modified=None if retry else fetched.last_modified, checked=now, items=items,
    ))
    kept = {items[i.key].article_id for i in skipped}
    return replace(report, unchanged=tuple(sorted({*report.unchanged, *kept})))


def _failure(exc: LoadError) -> Failure:
    return Failure(exc.path, exc.reason)
