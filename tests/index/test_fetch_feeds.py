"""URLs and feeds in, from a news site the test serves on 127.0.0.1: limits, failures, re-runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import qa.cli
from index.fetch import USER_AGENT, url_article_id
from qa.assistant import Assistant
from qa.settings import Settings
from tests.fakes import FakeEmbedder
from tests.index.loopback import (  # noqa: F401 - fixtures
    Route,
    Site,
    article_html,
    atom,
    closed_port,
    http_date,
    loopback_only_fixture,
    rss,
    serve_site,
    site_fixture,
)

RFC822 = "Tue, 01 Dec 2026 09:30:00 GMT"


def _paragraphs(topic: str, n: int = 4) -> list[str]:
    return [
        f"The {topic} story, part {p}: officials said on Monday that the {topic} work would go on, "
        f"and residents described how the {topic} changes affected their street, number {p}."
        for p in range(n)
    ]


def _page(topic: str, author: str = "Ana Ruiz", date: str = "2026-11-30") -> Route:
    return Route(article_html(f"{topic.title()} news", author, date, _paragraphs(topic)))



def _assistant(tmp_path: Path, **settings: Any) -> Assistant:
    return Assistant(Settings(data_dir=tmp_path / "qa-data", **settings), embedder=FakeEmbedder())


def test_one_url_is_ingested_with_title_author_and_date(tmp_path: Path, site: Site) -> None:
    site.routes["/world/harbour.html"] = _page("harbour")
    assistant = _assistant(tmp_path)
    url = site.url("/world/harbour.html")
    report = assistant.ingest_url(url)
    assert report.ok and report.added == (url_article_id(url),)
    (record,) = assistant.articles()
    assert (record.title, record.author, record.published) == ("Harbour news", "Ana Ruiz", "2026-11-30")
    assert record.source == url and record.path == ""
    assert record.id.startswith("127.0.0.1-world-harbour.html-")
    text = assistant.article_text(record.id) or ""
    assert "The harbour story, part 0" in text and "track()" not in text and "Copyright" not in text
    assert site.requests_to("/world/harbour.html")[0].headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("newsqa/") and USER_AGENT.endswith(" (+local)")
    again = assistant.ingest_url(url)
    assert again.unchanged == (record.id,) and not again.added


def test_a_link_with_tracking_parameters_or_a_fragment_is_one_article(tmp_path: Path, site: Site) -> None:
    """"?utm_source=x" made a second article (grouped as a copy); "#comments" an update."""
    from index.fetch import canonical_url

    site.routes["/world/harbour.html"] = _page("harbour")
    assistant = _assistant(tmp_path)
    url = site.url("/world/harbour.html")
    assert assistant.ingest_url(url).added == (url_article_id(url),)
    for shared in (f"{url}?utm_source=x&utm_medium=social&fbclid=abc", f"{url}#comments"):
        report = assistant.ingest_url(shared)
        assert report.ok and (report.added, report.updated) == ((), ()), shared
    assert [r.source for r in assistant.articles()] == [url]
    assert canonical_url("https://x.org/a?page=2&utm_campaign=z&id=7#top") == "https://x.org/a?page=2&id=7"
    # What stays is kept as written: re-encoded, the same link would name another article.
    for plain in ("https://x.org/a?q=a/b", "https://x.org/a?b=%20c", "https://x.org/a?amp", "https://x.org/a?x=1;y=2"):
        assert canonical_url(plain) == plain
        assert canonical_url(plain + "&utm_source=t#c") == plain
        assert url_article_id(plain + "&utm_source=t") == url_article_id(plain)


def test_a_page_without_a_header_charset_is_decoded_by_its_meta_charset(tmp_path: Path, site: Site) -> None:
    page = article_html("Café news", "Ana Ruiz", "2026-11-30", _paragraphs("café"))
    page = page.replace(b"<head>", b'<head><meta charset="iso-8859-1">').decode().encode("latin-1")
    site.routes["/cafe.html"] = Route(page, content_type="text/html")
    assistant = _assistant(tmp_path)
    report = assistant.ingest_url(site.url("/cafe.html"))
    assert report.ok and report.added
    assert "The café story, part 0" in (assistant.article_text(report.added[0]) or "")


BOM = b"\xef\xbb\xbf"
QUOTES = "\u201cno\u201d \u2014"


@pytest.mark.parametrize(("body", "header", "text"), [
    (BOM + "<meta charset='windows-1252'>Café".encode(), None, "<meta charset='windows-1252'>Café"),
    ("<meta charset='iso-8859-1'>Café".encode(), None, "<meta charset='iso-8859-1'>Café"),  # valid UTF-8
    (f"<meta charset='iso-8859-1'>{QUOTES}".encode("cp1252"), None, f"<meta charset='iso-8859-1'>{QUOTES}"),
    (b"<meta charset='utf-16'>ab", None, "<meta charset='utf-16'>ab"),  # its own bytes are ASCII
    ("<meta charset='utf-8'>Café".encode("latin-1"), "latin-1", "<meta charset='utf-8'>Café"),
])
def test_a_fetched_page_is_decoded_as_a_browser_would(body: bytes, header: str | None, text: str) -> None:
    """The byte order mark, then the header's charset, then valid UTF-8, then the page's own
    <meta charset> (Latin-1 and ASCII labels read as cp1252, as browsers do)."""
    from index.fetch import Fetched

    assert Fetched("u", "u", 200, "text/html", body, charset=header).text() == text


def test_url_articles_survive_sync_of_a_folder(tmp_path: Path, site: Site) -> None:
    site.routes["/a.html"] = _page("bridge")
    assistant = _assistant(tmp_path)
    assistant.ingest_url(site.url("/a.html"))
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "local.txt").write_text("Local news\n\nThe council met on Friday to discuss parking.\n")
    report = assistant.ingest([folder], sync=True)
    assert report.removed == () and len(assistant.articles()) == 2


def test_rss_feed_is_ingested_and_a_rerun_is_one_304(tmp_path: Path, site: Site) -> None:
    site.routes["/one.html"] = _page("harbour")
    site.routes["/two.html"] = _page("bakery", author="Li Wei", date="2026-11-29")
    items = [
        ("g1", site.url("/one.html"), "Harbour reopens", RFC822),
        ("g2", site.url("/two.html"), "Bread prices", RFC822),
        ("g1", site.url("/one.html"), "Harbour reopens (dup guid)", RFC822),
        ("g3", site.url("/one.html"), "Harbour again (dup link)", RFC822),
    ]
    site.routes["/rss.xml"] = Route(rss(items), content_type="application/rss+xml", etag='"v1"')
    assistant = _assistant(tmp_path)
    first = assistant.ingest_feed(site.url("/rss.xml"))
    ids = sorted(url_article_id(site.url(p)) for p in ("/one.html", "/two.html"))
    assert first.ok and sorted(first.added) == ids
    records = {r.id: r for r in assistant.articles()}
    # The feed's pubDate wins over the page's guess; the title is the page's own.
    assert records[url_article_id(site.url("/one.html"))].published == "2026-12-01T09:30:00"
    assert [f.url for f in assistant.feeds()] == [site.url("/rss.xml")]

    pages_before = len(site.seen)
    again = assistant.ingest_feed(site.url("/rss.xml"))
    assert again.added == () and again.updated == () and sorted(again.unchanged) == ids
    second_request = site.requests_to("/rss.xml")[-1]
    assert second_request.headers["if-none-match"] == '"v1"'
    assert len(site.seen) == pages_before + 1  # the feed's 304, no page fetched


def test_an_item_that_failed_is_retried_although_the_feed_did_not_change(tmp_path: Path, site: Site) -> None:
    """The feed's validators made every later run a 304, so an item whose page failed once was
    never fetched again while the feed stayed the same (and lost once it dropped off it)."""
    site.routes["/one.html"] = _page("harbour")
    items = [("g1", site.url("/one.html"), "Harbour", RFC822), ("g2", site.url("/late.html"), "Late", RFC822)]
    site.routes["/rss.xml"] = Route(rss(items), content_type="application/rss+xml", etag='"v1"')
    assistant = _assistant(tmp_path)
    first = assistant.ingest_feed(site.url("/rss.xml"))
    assert first.added == (url_article_id(site.url("/one.html")),) and len(first.failed) == 1
    site.routes["/late.html"] = _page("bakery")
    retry = assistant.ingest_feed(site.url("/rss.xml"))
    assert retry.added == (url_article_id(site.url("/late.html")),)
    assert len(site.requests_to("/one.html")) == 1  # what succeeded is not fetched again
    # Nothing failed now: the validators are kept, and the next run is one 304 again.
    assistant.ingest_feed(site.url("/rss.xml"))
    assert site.requests_to("/rss.xml")[-1].headers["if-none-match"] == '"v1"'


def test_an_item_that_can_never_be_an_article_keeps_the_feed_a_304(tmp_path: Path, site: Site) -> None:
    """A page that came but is no article (an image) would fail again: the feed's validators are
    kept, so an unchanged feed stays one request per refresh (README)."""
    site.routes["/one.html"] = _page("harbour")
    site.routes["/image.png"] = Route(b"\x89PNG\r\n\x1a\n" + b"0" * 100, content_type="image/png")
    items = [("g1", site.url("/one.html"), "Harbour", RFC822), ("g2", site.url("/image.png"), "Pic", RFC822)]
    site.routes["/rss.xml"] = Route(rss(items), content_type="application/rss+xml", etag='"v1"')
    assistant = _assistant(tmp_path)
    assert len(assistant.ingest_feed(site.url("/rss.xml")).failed) == 1
    pages_before = len(site.seen)
    assistant.ingest_feed(site.url("/rss.xml"))
    assert site.requests_to("/rss.xml")[-1].headers["if-none-match"] == '"v1"'
    assert len(site.seen) == pages_before + 1  # the feed's 304, nothing else


def test_atom_feed_changed_item_updates_and_last_modified_is_sent(tmp_path: Path, site: Site) -> None:
    site.routes["/story.html"] = _page("harbour")
    site.routes["/other.html"] = _page("bakery")
    stamp = http_date(1_790_000_000)

    def entries(updated: str) -> list[tuple[str, str, str, str]]:
        return [("urn:1", site.url("/story.html"), "Harbour", updated),
                ("urn:2", site.url("/other.html"), "Bakery", "2026-11-01T08:00:00Z")]

    site.routes["/atom.xml"] = Route(atom(entries("2026-12-01T08:00:00Z")),
                                     content_type="application/atom+xml", last_modified=stamp)
    assistant = _assistant(tmp_path)
    first = assistant.ingest_feed(site.url("/atom.xml"))
    assert first.ok and len(first.added) == 2
    story = url_article_id(site.url("/story.html"))
    assert {r.id: r.author for r in assistant.articles()}[story] == "Ana Ruiz"

    assistant.ingest_feed(site.url("/atom.xml"))
    assert site.requests_to("/atom.xml")[-1].headers["if-modified-since"] == stamp

    # The story is revised: its page and its <updated> change, so does the feed's date.
    site.routes["/story.html"] = _page("lighthouse")
    site.routes["/atom.xml"] = Route(atom(entries("2026-12-02T08:00:00Z")),
                                     content_type="application/atom+xml",
                                     last_modified=http_date(1_790_100_000))
    other_fetches = len(site.requests_to("/other.html"))
    changed = assistant.ingest_feed(site.url("/atom.xml"))
    assert changed.updated == (story,) and changed.added == ()
    assert "lighthouse" in (assistant.article_text(story) or "")
    assert len(site.requests_to("/other.html")) == other_fetches  # unchanged entry: not fetched


def test_the_item_cap_keeps_the_first_items_and_relative_links_resolve(tmp_path: Path, site: Site) -> None:
    for n in range(5):
        site.routes[f"/s{n}.html"] = _page(f"topic{n}")
    site.routes["/rss.xml"] = Route(rss([(f"g{n}", f"/s{n}.html", f"S{n}", RFC822) for n in range(5)]),
                                    content_type="application/rss+xml")
    report = _assistant(tmp_path, feed_item_cap=2).ingest_feed(site.url("/rss.xml"))
    assert sorted(report.added) == sorted(url_article_id(site.url(f"/s{n}.html")) for n in range(2))
    assert site.requests_to("/s2.html") == []


def test_each_bad_item_is_one_failure_and_the_rest_is_ingested(tmp_path: Path, site: Site) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/gone.html"
    site.routes["/ok.html"] = _page("harbour")
    site.routes["/image.png"] = Route(b"\x89PNG\r\n\x1a\n" + b"0" * 100, content_type="image/png")
    site.routes["/huge.html"] = Route(article_html("Huge", "A", "2026-11-30", _paragraphs("huge", 400)))
    site.routes["/loop.html"] = Route(status=302, headers={"Location": "/loop.html"})
    site.routes["/to-ftp.html"] = Route(status=301, headers={"Location": "ftp://127.0.0.1/x"})
    links = ["/ok.html", "/missing.html", "/image.png", "/huge.html", "/loop.html", "/to-ftp.html"]
    items = [(f"g{i}", site.url(p), p, RFC822) for i, p in enumerate(links)]
    items.append(("dead", dead, "Dead", RFC822))
    items += [("port", "http://127.0.0.1:abc/x", "Port", RFC822),
              ("bracket", "http://[::1/x", "Bracket", RFC822)]
    site.routes["/rss.xml"] = Route(rss(items), content_type="text/xml")
    assistant = _assistant(tmp_path, fetch_max_mb=0.02, fetch_max_redirects=3)
    report = assistant.ingest_feed(site.url("/rss.xml"))
    assert report.added == (url_article_id(site.url("/ok.html")),)
    reasons = {f.path.replace(site.base, ""): f.reason for f in report.failed}
    assert reasons["/missing.html"] == "HTTP 404 Not Found"
    assert reasons["/image.png"] == "not an HTML page: the server sent 'image/png'"
    assert re.fullmatch(r"over the 20 kB limit|\d+(\.\d)? kB, over the 20 kB limit", reasons["/huge.html"])
    assert reasons["/loop.html"] == "more than 3 redirects"
    assert reasons["/to-ftp.html"] == (
        "redirected to ftp://127.0.0.1/x: only http:// and https:// URLs are fetched, not ftp://"
    )
    assert reasons[dead].startswith("cannot fetch: ")
    assert reasons["http://127.0.0.1:abc/x"].startswith("not a valid URL")
    assert reasons["http://[::1/x"].startswith("not a valid URL")
    assert len(report.failed) == 8 and all("\n" not in f.reason for f in report.failed)
    # Failed items are not remembered: the next run tries them again (and only them).
    site.routes["/missing.html"] = _page("bakery")
    retry = assistant.ingest_feed(site.url("/rss.xml"))
    assert retry.added == (url_article_id(site.url("/missing.html")),)
    assert len(site.requests_to("/ok.html")) == 1


def test_a_page_that_does_not_answer_in_time_is_a_timeout(tmp_path: Path, site: Site) -> None:
    site.routes["/slow.html"] = Route(article_html("Slow", "A", "2026-11-30", _paragraphs("slow")), delay=2.0)
    (failure,) = _assistant(tmp_path, fetch_timeout=0.3).ingest_url(site.url("/slow.html")).failed
    assert failure.reason == "timed out after 0.3s"


def test_a_feed_that_is_not_xml_is_one_failure(tmp_path: Path, site: Site) -> None:
    site.routes["/feed"] = Route(b"{this is: not xml", content_type="text/plain")
    site.routes["/page-feed"] = _page("harbour")
    assistant = _assistant(tmp_path)
    (failure,) = assistant.ingest_feed(site.url("/feed")).failed
    assert failure.path == site.url("/feed")
    assert failure.reason.startswith("not an RSS or Atom feed: the body is not feed XML")
    (html,) = assistant.ingest_feed(site.url("/page-feed")).failed
    assert html.reason == "not an RSS or Atom feed: the server sent 'text/html'"
    assert assistant.feeds() == [] and assistant.articles() == []


def test_a_page_reached_through_a_redirect_is_one_article_named_where_it_ended(
    tmp_path: Path, site: Site
) -> None:
    """A short link and the page itself were two articles (grouped as copies); a feed's item
    behind a click-tracking redirect is that same article too, and its next run is unchanged."""
    site.routes["/story.html"] = _page("harbour")
    site.routes["/go"] = Route(status=302, headers={"Location": "/story.html"})
    feed = rss([("s1", site.url("/go"), "Harbour", RFC822)])
    site.routes["/rss.xml"] = Route(feed, content_type="text/xml")
    assistant = _assistant(tmp_path)
    page = url_article_id(site.url("/story.html"))
    report = assistant.ingest_url(site.url("/go"))
    assert report.added == (page,)
    assert [(a.id, a.source) for a in assistant.articles()] == [(page, site.url("/story.html"))]
    assert assistant.ingest_url(site.url("/story.html")).unchanged == (page,)
    first = assistant.ingest_feed(site.url("/rss.xml"))  # the feed's date is the article's now
    assert first.added == () and first.failed == () and {*first.updated, *first.unchanged} == {page}
    assert assistant.ingest_feed(site.url("/rss.xml")).unchanged == (page,)
    assert [s.article_id for s in assistant.feeds()[0].items.values()] == [page]
    assert [a.id for a in assistant.articles()] == [page]


def test_a_feed_whose_xml_is_broken_is_one_failure_unless_items_can_be_read(
    tmp_path: Path, site: Site
) -> None:
    """Broken XML that gives no item (a truncated download) is said and not subscribed; it was
    "0 added, 0 failed" and a subscription. Broken XML with items is read, as feed readers do."""
    site.routes["/broken"] = Route(b"<rss><channel><item>broken", content_type="application/rss+xml")
    site.routes["/story"] = _page("harbour")
    truncated = (f'<rss version="2.0"><channel><title>Town</title><item><title>Harbour</title>'
                 f'<link>{site.url("/story")}</link></item><item><title>Cut off').encode()
    site.routes["/truncated"] = Route(truncated, content_type="application/rss+xml")
    assistant = _assistant(tmp_path)
    (failure,) = assistant.ingest_feed(site.url("/broken")).failed
    assert failure.path == site.url("/broken")
    assert failure.reason.startswith("the feed's XML is broken (")
    assert failure.reason.endswith("no item could be read")
    assert assistant.feeds() == []
    report = assistant.ingest_feed(site.url("/truncated"))
    assert report.failed == () and len(report.added) == 1
    assert [f.url for f in assistant.feeds()] == [site.url("/truncated")]


@pytest.mark.parametrize(("url", "reason"), [
    ("file:///etc/passwd", "only http:// and https:// URLs are fetched, not file://"),
    ("ftp://127.0.0.1/news.html", "only http:// and https:// URLs are fetched, not ftp://"),
    ("/tmp/x.html", "only http:// and https:// URLs are fetched, not a bare path"),
    # A feed entry's id standing in for a missing link: it said "not urn://".
    ("urn:entry-2", "only http:// and https:// URLs are fetched, not urn:"),
    # Malformed: one failure each, never a traceback (urllib's and httpx's ValueErrors).
    *((url, "not a valid URL") for url in ("http://[::1", "http://127.0.0.1:abc/x", "http://a\x00b.com/")),
])
def test_non_http_and_malformed_urls_are_refused_without_touching_them(
    tmp_path: Path, url: str, reason: str
) -> None:
    assistant = _assistant(tmp_path)
    for report in (assistant.ingest_url(url), assistant.ingest_feed(url)):
        (failure,) = report.failed
        assert failure.path == url
        assert failure.reason == reason if "fetched" in reason else failure.reason.startswith(reason)
    assert assistant.articles() == [] and assistant.feeds() == []


def test_cli_ingests_urls_and_feeds_and_watch_refreshes(tmp_path: Path, site: Site,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qa.cli.common, "assistant_for", lambda s, **_: Assistant(s, embedder=FakeEmbedder()))
    runner = CliRunner()
    site.routes["/one.html"] = _page("harbour")
    site.routes["/two.html"] = _page("bakery")
    site.routes["/rss.xml"] = Route(rss([("g2", site.url("/two.html"), "Bread", RFC822)]),
                                    content_type="application/rss+xml", etag='"e"')
    data = ["--data-dir", str(tmp_path / "cli-data")]
    result = runner.invoke(qa.cli.app, ["ingest", site.url("/one.html"), "file:///etc/hosts",
                                        "--feed", site.url("/rss.xml"), *data])
    assert result.exit_code == 1, result.output  # one URL failed: the rest is in, and it says so
    assert result.output.splitlines()[0].startswith("2 added, 0 updated, 0 unchanged, 0 removed, 1 failed")
    assert "failed: file:///etc/hosts: only http:// and https:// URLs are fetched" in result.output
    watched = runner.invoke(qa.cli.app, ["watch", "--once", "--json", *data])
    assert watched.exit_code == 0, watched.output
    refreshed = json.loads(watched.output)[site.url("/rss.xml")]
    assert refreshed["unchanged"] == [url_article_id(site.url("/two.html"))]
    listed = runner.invoke(qa.cli.app, ["feeds", *data])
    assert listed.output.startswith(f"{site.url('/rss.xml')}\tLoopback News\t1 item\t")
    assert runner.invoke(qa.cli.app, ["feeds", "--remove", site.url("/rss.xml"), *data]).exit_code == 0
    nothing = runner.invoke(qa.cli.app, ["watch", "--once", *data])
    assert nothing.exit_code == 1 and "no feeds subscribed yet" in nothing.output


def test_two_processes_subscribing_at_once_keep_every_subscription(tmp_path: Path) -> None:
    """`qa watch` beside the page: the shared temp file name made one writer's rename fail
    (FileNotFoundError, a traceback) and read-change-write without a lock lost subscriptions."""
    import subprocess
    import sys

    script = """
import sys
from pathlib import Path
from index.feeds import FeedState, Subscriptions
subs = Subscriptions(Path(sys.argv[1]))
for n in range(40):
    subs.put(FeedState(f"http://127.0.0.1/{sys.argv[2]}/{n}.xml"))
"""
    path = tmp_path / "feeds.json"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), name], stderr=subprocess.PIPE,
                              text=True) for name in ("a", "b")]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    from index.feeds import Subscriptions

    assert len(Subscriptions(path).all()) == 80
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.json", "feeds.json.lock"]
