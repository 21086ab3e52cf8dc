"""The data commands: ingest (files, URLs, feeds), watch, feeds, list, delete, warm."""

from __future__ import annotations

import re
import sys
from collections import Counter
from typing import Annotated, Any

import typer

from index.report import first_few
from qa.cli import common
from qa.cli.common import (
    DataDir,
    JsonOut,
    PlainCommand,
    app,
    fail,
    print_json,
    settings_for,
)


def _is_url(value: str) -> bool:
    """``scheme://...``: fetched when http(s), refused with a reason otherwise (file://, ftp://)."""
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", value) is not None


def _merge(reports: list[Any]) -> Any:
    """One report of several runs (files, URLs, feeds), counts added up."""
    from dataclasses import fields

    from index.ingest import IngestReport

    if len(reports) == 1:
        return reports[0]
    values: dict[str, Any] = {}
    for f in fields(IngestReport):
        parts = [getattr(r, f.name) for r in reports]
        values[f.name] = sum(parts, ()) if isinstance(parts[0], tuple) else sum(parts)
    return IngestReport(**values)


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        print_json(report.to_dict())
    else:
        typer.echo(report.summary())


@app.command(cls=PlainCommand)
def ingest(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="PATH", help="Article files or folders, or http(s) URLs of article pages.")] = None,
    feed: Annotated[list[str] | None, typer.Option(
        "--feed", metavar="URL", help="An RSS/Atom feed: ingest its items and subscribe to it.")] = None,
    sync: Annotated[bool, typer.Option("--sync", help="Also remove articles whose files are gone.")] = False,
    max_file_mb: Annotated[float | None, typer.Option(
        "--max-file-mb", metavar="MB", help="Refuse larger files (default: QA_MAX_FILE_MB or 10).")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Index articles: .txt, .md, .html, .jsonl files, folders of them, article URLs, feeds.

    Re-running is cheap and safe: unchanged articles are skipped. Exits 1 when anything failed
    (the summary says which and why).

    \b
    Examples:
      qa ingest news/
      qa ingest story.html archive.jsonl --json
      qa ingest news/ --sync           also drop articles whose files are gone
      qa ingest https://example.com/news/story.html --feed https://example.com/rss.xml
    """
    paths, feed = paths or [], feed or []
    if not paths and not feed:
        fail("give article files, folders or URLs, or --feed URL")
    assistant = common.assistant_for(settings_for(data_dir, max_file_mb=max_file_mb))
    files = [p for p in paths if not _is_url(p)]
    reports = []
    if files:
        reports.append(assistant.ingest(files, sync=sync, progress=not as_json and sys.stderr.isatty()))
    reports += [assistant.ingest_url(p) for p in paths if _is_url(p)]
    reports += [assistant.ingest_feed(url) for url in feed]
    report = _merge(reports)
    _print_report(report, as_json)
    if report.failed:
        raise typer.Exit(1)


@app.command(cls=PlainCommand)
def watch(
    every: Annotated[float, typer.Option("--every", metavar="MINUTES", help="Minutes between passes.",
                                         min=0.1)] = 30.0,
    once: Annotated[bool, typer.Option("--once", help="One pass over the feeds, then exit.")] = False,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Refresh every subscribed feed now and then every N minutes (Ctrl+C stops).

    Only new or changed items are fetched; an unchanged feed costs one request.

    \b
    Examples:
      qa watch --every 30
      qa watch --once --json
    """
    import time

    settings = settings_for(data_dir)
    if common.no_index(settings):
        fail(f"no feeds subscribed yet: {common.nothing_indexed(settings)}")
    assistant = common.assistant_for(settings)
    if not assistant.feeds():
        fail("no feeds subscribed yet; add one with: qa ingest --feed URL")
    while True:
        reports = assistant.refresh_feeds()
        if as_json:
            print_json({url: r.to_dict() for url, r in reports.items()})
        else:
            for url, r in reports.items():
                typer.echo(f"{url}: {r.summary()}")
        if once:
            if any(r.failed for r in reports.values()):
                raise typer.Exit(1)  # what was fetched is in; scripts still learn what was not
            return
        time.sleep(every * 60)


@app.command(cls=PlainCommand)
def feeds(
    remove: Annotated[str | None, typer.Option(
        "--remove", metavar="URL", help="Unsubscribe from this feed URL.")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Show the subscribed feeds (or unsubscribe one; its articles stay indexed).

    \b
    Examples:
      qa feeds
      qa feeds --remove https://example.com/rss.xml
    """
    settings = settings_for(data_dir)
    if common.no_index(settings):
        # Subscriptions live in the data dir beside the index: none here (and none created).
        if remove is not None:
            fail(f"not subscribed to {remove}: {common.nothing_indexed(settings)}")
        if as_json:
            print_json([])
        else:
            typer.echo(f"No feeds subscribed yet (no index in {settings.data_dir}). Add one with: "
                       "qa ingest --feed URL")
        return
    assistant = common.assistant_for(settings)
    if remove is not None:
        if not assistant.unsubscribe(remove):
            fail(f"not subscribed to {remove} (see: qa feeds)")
        typer.echo(f"unsubscribed {remove}")
        return
    subscribed = assistant.feeds()
    if as_json:
        print_json([f.to_dict() for f in subscribed])
        return
    if not subscribed:
        typer.echo("No feeds subscribed yet. Add one with: qa ingest --feed URL")
    for f in subscribed:
        items = f"{len(f.items)} item{'' if len(f.items) == 1 else 's'}"
        typer.echo(f"{f.url}\t{f.title}\t{items}\tchecked {f.checked or '-'}")


@app.command("list", cls=PlainCommand)
def list_articles(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """Show the indexed articles: id, title, published date, chunks, group, source.

    GROUP is the id of the first copy of a story seen under several ids ("-" when alone).

    \b
    Examples:
      qa list
      qa list --json | jq '.[].id'
    """
    settings = settings_for(data_dir)
    # Nothing is created for a data dir with no index (a mistyped path).
    records = [] if common.no_index(settings) else common.assistant_for(settings).articles()
    if unfinished := [r.id for r in records if r.unfinished]:
        common.warn(f"{len(unfinished)} article(s) ({first_few(unfinished)}) were recorded by an ingest "
                    "that has not finished them (stopped, or still running): they may be incomplete. "
                    "Run the same qa ingest again to finish them, or qa delete ID")
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    if not records:
        where = f" (no index in {settings.data_dir})" if common.no_index(settings) else ""
        typer.echo(f"No articles indexed yet{where}. Add some with: qa ingest PATH")
        return
    # The first copy's group is its own id: shown too, when another article shares it.
    sizes = Counter(r.group or r.id for r in records)
    rows = [("ID", "TITLE", "PUBLISHED", "CHUNKS", "GROUP", "SOURCE")] + [
        (r.id, _short(r.title, 50), (r.published or "-")[:10], "?" if r.unfinished else str(r.chunks),
         (r.group or r.id) if sizes[r.group or r.id] > 1 else "-", r.source)
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        typer.echo("  ".join([*(cell.ljust(w) if i != 3 else cell.rjust(w)
                                for i, (cell, w) in enumerate(zip(row, widths, strict=False))), row[5]]))


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@app.command(cls=PlainCommand)
def delete(
    article_id: Annotated[str, typer.Argument(metavar="ARTICLE_ID", help="The article's id.")],
    data_dir: DataDir = None,
) -> None:
    """Remove one article and its chunks from the index (ids: see qa list).

    \b
    Example:
      qa delete kazakhstan-unrest
    """
    settings = settings_for(data_dir)
    if common.no_index(settings):
        fail(f"no article {article_id!r} in the index: {common.nothing_indexed(settings)}")
    if not common.assistant_for(settings).delete(article_id):
        fail(f"no article {article_id!r} in the index (see: qa list)")
    typer.echo(f"deleted {article_id}")


@app.command(cls=PlainCommand)
def warm(
    limit: Annotated[int | None, typer.Option(
        "--limit", metavar="N", min=1, help="Only the newest N chunks (default: all).")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Compute the answer step's sentence vectors of every indexed chunk now, so questions (from
    any process on this data dir) embed nothing; also removes those of edited articles (unless
    --limit leaves chunks out; a deleted article's go with it).

    Questions keep the vectors they compute anyway (QA_SENTENCE_CACHE); this does all of them
    at once, e.g. after a large ingest. Re-running computes only what is missing. The chat page
    does the same in the background (QA_WARM_CHUNKS).

    \b
    Examples:
      qa warm
      qa warm --limit 5000 --json
    """
    settings = settings_for(data_dir)
    if not settings.sentence_cache:
        fail("QA_SENTENCE_CACHE is off: there is nowhere to keep the vectors")
    if common.no_index(settings):
        fail(common.nothing_indexed(settings))
    assistant = common.assistant_for(settings)

    def progress(done: int, total: int) -> None:
        typer.echo(f"\r{done}/{total} chunks", nl=False, err=True)

    shown = not as_json and sys.stderr.isatty()
    report = assistant.warm(limit=limit, prune=True, progress=progress if shown else None)
    if shown:
        typer.echo("", err=True)
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(
        f"{report.sentences} sentences in {report.chunks} chunks, {report.models} model(s): "
        f"{report.embedded} vectors computed, {report.read} already kept, {report.removed} "
        f"removed ({report.seconds:.1f} s)"
    )
