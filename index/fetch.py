"""HTTP fetching for URLs and feeds the user gave: the one module that imports httpx.

Only http(s); each hop of a redirect is checked again (scheme, count); bodies are streamed and cut
at a size limit; the content type must be one the caller accepts. Every problem is a ``LoadError``
naming the URL, so a feed's bad item is one line in the ingest report, never a crash. Nothing here
runs unless the user asked for a URL: the default stays offline.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

import httpx

from index.decoding import BOMS
from index.errors import LoadError
from index.loaders import describe_size, over_limit, slugify

HTML_TYPES = ("text/html", "application/xhtml+xml")
# How a page that could not be got is worded below (an HTTP error status, a timeout, no
# connection), unlike a page that came but is no article: a feed retries only the former.
FETCH_FAILURES = ("HTTP ", "timed out", "cannot fetch")
# Feeds are often served as text/plain or octet-stream; the parser decides whether it is XML.
FEED_TYPES = (
    "application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml",
    "text/xml", "application/feed+json", "text/plain", "application/octet-stream",
)


_REDIRECTS = {301, 302, 303, 307, 308}


def _version() -> str:
    try:
        return metadata.version("newsqa")
    except metadata.PackageNotFoundError:
        return "0"


USER_AGENT = f"newsqa/{_version()} (+local)"


@dataclass(frozen=True)
class FetchConfig:
    """Limits of one fetch. ``timeout`` is per connect/read, in seconds."""

    timeout: float = 15.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    user_agent: str = USER_AGENT


@dataclass(frozen=True)
class Fetched:
    """A response body (empty when ``not_modified``), where it finally came from, and its validators."""

    url: str
    final_url: str
    status: int
    content_type: str
    body: bytes
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def text(self) -> str:
        """The body decoded as a browser would, mostly: the byte order mark, else the charset
        the headers declare, else UTF-8 when it is valid UTF-8, else the page's own
        ``<meta charset>``, else UTF-8 with replacements."""
        for mark, codec in BOMS:
            if self.body.startswith(mark):
                return self.body[len(mark):].decode(codec, errors="replace")
        for charset in (self.charset, "utf-8", _meta_charset(self.body)):
            if charset:
                try:
                    return self.body.decode(charset)
                except (LookupError, UnicodeDecodeError):
                    continue
        return self.body.decode("utf-8", errors="replace")


# Labels browsers read otherwise (WHATWG Encoding): a page that says Latin-1 or ASCII is cp1252
# (curly quotes, dashes), and a <meta> cannot switch to UTF-16/32 (its own bytes are ASCII).
_LABELS = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "l1": "cp1252",
           "ascii": "cp1252", "us-ascii": "cp1252", "iso8859-1": "cp1252"}


# <meta charset="iso-8859-1"> or <meta http-equiv="Content-Type" content="text/html; charset=...">
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([\w.:-]{1,40})", re.IGNORECASE)


def _meta_charset(body: bytes) -> str | None:
    """The charset an HTML page declares in its head (the first 4 KB, where browsers look)."""
    found = _META_CHARSET.search(body[:4096])
    if not found:
        return None
    label = found.group(1).decode("ascii", errors="ignore").lower()
    return "utf-8" if label.startswith(("utf-16", "utf-32", "ucs-2")) else _LABELS.get(label, label)


def check_url(url: str) -> str:
    """The URL stripped, or ``LoadError`` when it is not an absolute http(s) URL."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is no number ("host:abc") raises here, not mid-fetch
    except ValueError as exc:
        raise LoadError(url, f"not a valid URL ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https"):
        # "ftp://" as written; "urn:" (a feed entry's id standing in for its link) has no "//".
        slashes = "//" if url[len(parts.scheme) + 1 :].startswith("//") else ""
        scheme = f"{parts.scheme}:{slashes}" if parts.scheme else "a bare path"
        raise LoadError(url, f"only http:// and https:// URLs are fetched, not {scheme}")
    if not parts.hostname:
        raise LoadError(url, "the URL has no host name")
    return url


# Query parameters that say where a reader came from, never which page: a link shared with them
# is the same article (it became a second article, grouped as a copy of the first).
_TRACKING = re.compile(r"utm_\w*|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|_gl",
                       re.IGNORECASE)


def canonical_url(url: str) -> str:
    """``url`` without its fragment ("#comments") and tracking parameters ("utm_source=...")."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    # The other parameters stay exactly as written ("a/b", "%20", a bare key): re-encoded, the
    # same link would name another article.
    kept = [p for p in parts.query.split("&")
            if p and not _TRACKING.fullmatch(unquote_plus(p.split("=", 1)[0]))]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), ""))


def url_article_id(url: str) -> str:
    """A stable, readable id for the article at ``url`` (``canonical_url``): host+path slug and
    a short hash."""
    try:
        parts = urlsplit(canonical_url(url))
        host, path, query = (parts.hostname or "").lower(), parts.path, parts.query
    except ValueError:  # never fetched (``check_url`` refuses it), but a feed may still list it
        host, path, query = "", url.strip(), ""
    canonical = f"{host}{path}{'?' + query if query else ''}"
    readable = slugify(f"{host.removeprefix('www.')}{path}")[:80].strip("-._")
    return f"{readable}-{hashlib.sha1(canonical.encode()).hexdigest()[:8]}"


class Fetcher:
    """Fetches with the limits of a ``FetchConfig`` over one connection pool."""

    def __init__(self, config: FetchConfig | None = None) -> None:
        self.config = config or FetchConfig()
        self._client = httpx.Client(
            follow_redirects=False,
            timeout=httpx.Timeout(self.config.timeout),
            headers={"User-Agent": self.config.user_agent},
            # Proxies and .netrc from the environment stay out: only the URL the user gave is asked.
            trust_env=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self, url: str, *, accept: tuple[str, ...], what: str = "an HTML page",
        etag: str | None = None, last_modified: str | None = None,
    ) -> Fetched:
        """GET ``url`` following at most ``max_redirects`` redirects; 304 when the validators match."""
        start = check_url(url)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = start
        for _ in range(self.config.max_redirects + 1):
            fetched = self._once(start, current, headers, accept, what)
            if isinstance(fetched, Fetched):
                return fetched
            try:
                current = check_url(urljoin(current, fetched))
            except LoadError as exc:
                raise LoadError(start, f"redirected to {exc.path}: {exc.reason}") from exc
        raise LoadError(start, f"more than {self.config.max_redirects} redirects")

    def _once(
        self, start: str, url: str, headers: dict[str, str], accept: tuple[str, ...], what: str
    ) -> Fetched | str:
        """A ``Fetched``, or the next URL of a redirect."""
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return Fetched(start, url, 304, "", b"", etag=response.headers.get("ETag"),
                                   last_modified=response.headers.get("Last-Modified"))
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("Location")
                    if not location:
                        raise LoadError(start, f"HTTP {response.status_code} redirect without a Location")
                    return location
                if response.status_code >= 400:
                    raise LoadError(start, f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
                content_type = response.headers.get("Content-Type", "")
                kind = content_type.split(";", 1)[0].strip().lower()
                if kind and kind not in accept:
                    raise LoadError(start, f"not {what}: the server sent {kind!r}")
                body = self._read_limited(start, response)
                return Fetched(
                    start, str(response.url), response.status_code, kind, body,
                    charset=response.charset_encoding, etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                )
        except httpx.TimeoutException as exc:
            raise LoadError(start, f"timed out after {self.config.timeout:g}s") from exc
        except (httpx.InvalidURL, UnicodeError) as exc:  # a host name httpx cannot encode (IDNA, NUL)
            raise LoadError(start, f"not a valid URL ({_short(exc)})") from exc
        except httpx.HTTPError as exc:
            raise LoadError(start, f"cannot fetch: {_short(exc)}") from exc

    def _read_limited(self, start: str, response: httpx.Response) -> bytes:
        limit = self.config.max_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise LoadError(start, over_limit(int(declared), limit))
        body = bytearray()
        for part in response.iter_bytes():
            body += part
            if len(body) > limit:
                raise LoadError(start, f"over the {describe_size(limit)} limit")
        return bytes(body)


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    # httpx puts the errno text after "[Errno N]"; that part is what a reader needs.
    return re.sub(r"^\[Errno -?\d+\]\s*", "", text)
