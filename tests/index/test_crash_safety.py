"""A SIGKILLed ingest leaves nothing the next run cannot repair: each chunk once, none stale."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from index.chunking import ChunkerConfig, chunk_text
from index.dedup import Deduper
from index.ingest import Ingestor
from index.lexicon import Lexicon, lexicon_path, terms
from index.loaders import load_file
from index.store import ChromaStore
from tests.conftest import ROOT
from tests.fakes import FakeEmbedder

ARTICLES = 8


def _story(n: int, *, revised: bool = False) -> str:
    paragraphs = [
        " ".join(f"Story {n} paragraph {p} sentence {s} tells part {s} of the tale." for s in range(10))
        for p in range(5)
    ]
    if revised:
        paragraphs[2] = f"Story {n} was revised: the middle paragraph now says something new."
        paragraphs.append(f"Story {n} gained a closing paragraph in the revision.")
    return f"Story {n}\n\n" + "\n\n".join(paragraphs) + "\n"


def _write_folder(folder: Path, *, revised: frozenset[int] = frozenset()) -> None:
    folder.mkdir(exist_ok=True)
    for n in range(ARTICLES):
        (folder / f"story-{n:02d}.txt").write_text(_story(n, revised=n in revised), encoding="utf-8")


class _Worker:
    """The ingest subprocess; ``run`` answers once it finished, or once it parked and was killed."""

    def __init__(self, index: Path, folder: Path, *, dedup: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.index.crash_worker", str(index), str(folder), "2",
             *(["dedup"] if dedup else [])],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        self.lines: list[str] = []
        self._read_until("ready")

    def _read_until(self, *ends: str) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            if line.startswith(ends):
                return line.strip()
        raise AssertionError(f"worker died: {self.lines[-3:]} {self.proc.communicate()[1][-2000:]}")

    def run(self, operation: str, park_after: int, delete: str = "") -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{operation} {park_after} {delete}\n")
        self.proc.stdin.flush()
        last = self._read_until("parked", "finished")
        if last == "parked":
            self.proc.send_signal(signal.SIGKILL)  # right after a committed call, never mid-call
            self.proc.communicate()
            assert self.proc.returncode == -signal.SIGKILL
        return last

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def _expected(folder: Path, embedder: FakeEmbedder) -> dict[str, set[str]]:
    expected = {}
    for path in sorted(folder.iterdir()):
        (article,) = load_file(path, max_bytes=10**7).articles
        chunks = chunk_text(
            article.id, article.text, config=ChunkerConfig(), count_tokens=embedder.token_counts,
            token_spans=embedder.token_spans, model_name=embedder.name,
        )
        expected[article.id] = {c.id for c in chunks}
    return expected


def _assert_exact(store: ChromaStore, folder: Path, embedder: FakeEmbedder) -> None:
    expected = _expected(folder, embedder)
    hits = store.all_chunks()
    ids = [h.chunk.id for h in hits]
    assert len(ids) == len(set(ids)), "a chunk is stored twice"
    assert set(ids) == set().union(*expected.values()), "stale or missing chunks"
    assert store.count_chunks() == sum(len(v) for v in expected.values())
    records = {r.id: r for r in store.articles()}
    assert {k: r.chunks for k, r in records.items()} == {k: len(v) for k, v in expected.items()}
    texts = store.article_texts(records)
    for hit in hits:
        assert texts[hit.chunk.article_id][hit.chunk.start : hit.chunk.end] == hit.chunk.text
    assert _lexicon_rows(store.location) == {
        h.chunk.id: (h.chunk.article_id, " ".join(terms(h.chunk.text))) for h in hits
    }, "the lexicon disagrees with the store"
    assert not store.generation()[1], "the change marker is left pending"


def _lexicon_rows(location: str) -> dict[str, tuple[str, str]]:
    """What the lexicon file holds, read with plain SQL: chunk id -> (article id, terms)."""
    with closing(sqlite3.connect(lexicon_path(location, location))) as db:
        rows = db.execute(
            "SELECT c.chunk_id, c.article_id, f.terms FROM chunks c JOIN fts f ON f.rowid = c.rowid"
        )
        return {cid: (aid, text) for cid, aid, text in rows}


@pytest.mark.parametrize(
    ("operation", "park_after"),
    [
        pytest.param("upsert", 7, id="new-article-half-upserted"),
        pytest.param("upsert", 3, id="update-half-upserted", marks=pytest.mark.slow),
        pytest.param("delete", 2, id="update-half-deleted", marks=pytest.mark.slow),
        pytest.param("lexicon.put_articles", 1, id="lexicon-written-article-not-recorded"),
        # Article upserts of a fresh run: pending marker, 4 of placeholders (batches of 2), 4 of
        # records, final marker; of an update: pending marker, 2 of records, final marker.
        pytest.param("articles.upsert", 9, id="article-recorded-lexicon-not-synced"),
        pytest.param("articles.upsert", 3, id="update-recorded-marker-pending", marks=pytest.mark.slow),
    ],
)
def test_killed_ingest_is_repaired_by_the_next_run(tmp_path: Path, operation: str, park_after: int) -> None:
    index, folder = tmp_path / "chroma", tmp_path / "articles"
    _write_folder(folder)
    worker = _Worker(index, folder)
    try:
        if (operation, park_after) in {("upsert", 3), ("delete", 2), ("articles.upsert", 3)}:
            # A complete first ingest, then revise half the articles and kill the update.
            assert worker.run("none", 0).startswith(f"finished {ARTICLES} added")
            _write_folder(folder, revised=frozenset(range(0, ARTICLES, 2)))
        assert worker.run(operation, park_after) == "parked"
    finally:
        worker.close()

    embedder = FakeEmbedder()
    store = ChromaStore.persistent(index, model_name=embedder.name)
    if operation == "articles.upsert":
        # Parked where the names say: every record written, the change marker still pending.
        assert len(store.articles()) == ARTICLES and all(r.hash for r in store.articles())
        assert store.generation()[1]
    lexicon = Lexicon(lexicon_path(store.location, index))
    report = Ingestor(store, embedder, lexicon=lexicon).ingest([folder])
    if operation == "articles.upsert":  # recorded: nothing left to redo but the marker
        assert report.ok and len(report.unchanged) == ARTICLES
    else:
        assert report.ok and report.added + report.updated, "the killed run's articles were not redone"
    if operation == "lexicon.put_articles":
        # Every chunk of the window was stored before the lexicon: none is embedded again.
        assert len(report.added) == ARTICLES and report.chunks_added == 0
    _assert_exact(store, folder, embedder)
    embedder.embedded.clear()
    assert len(Ingestor(store, embedder, lexicon=lexicon).ingest([folder]).unchanged) == ARTICLES
    assert embedder.embedded == []


def test_new_articles_killed_after_their_placeholders_are_finished_with_wire_copy_grouping_on(
    tmp_path: Path,
) -> None:
    """The default setup groups wire copies: the next run's duplicate index must take the killed
    run's placeholder records (no signature, a blank version) as stale, not look them up (it
    raised KeyError, and no ingest worked again on that data dir)."""
    index, folder = tmp_path / "chroma", tmp_path / "articles"
    _write_folder(folder)
    worker = _Worker(index, folder, dedup=True)
    try:
        # Article upserts of a fresh run: pending marker, then placeholders in batches of 2.
        assert worker.run("articles.upsert", 2) == "parked"
    finally:
        worker.close()
    embedder = FakeEmbedder()
    store = ChromaStore.persistent(index, model_name=embedder.name)
    assert any(not r.hash and not r.chunks for r in store.articles()), "no placeholder was left"
    lexicon = Lexicon(lexicon_path(store.location, index))
    report = Ingestor(store, embedder, lexicon=lexicon, dedup=Deduper(index / "dedup.npz")).ingest([folder])
    assert report.ok and len(report.added) == ARTICLES, report.summary()
    _assert_exact(store, folder, embedder)
    assert {r.group for r in store.articles()} == {r.id for r in store.articles()}


def test_a_file_deleted_after_a_killed_ingest_leaves_no_chunks_behind(tmp_path: Path) -> None:
    """Killed after every chunk is stored but before any article record; a file is then
    deleted: `--sync` must remove its chunks too (before placeholder records, nothing named them
    and they stayed in search)."""
    index, folder = tmp_path / "chroma", tmp_path / "articles"
    _write_folder(folder)
    worker = _Worker(index, folder)
    try:
        assert worker.run("lexicon.put_articles", 1) == "parked"
    finally:
        worker.close()
    (folder / "story-01.txt").unlink()

    embedder = FakeEmbedder()
    store = ChromaStore.persistent(index, model_name=embedder.name)
    lexicon = Lexicon(lexicon_path(store.location, index))
    report = Ingestor(store, embedder, lexicon=lexicon).ingest([folder], sync=True)
    assert report.ok and report.chunks_added == 0  # every kept chunk was stored: none embedded again
    assert "story-01" not in {h.chunk.article_id for h in store.all_chunks()}
    _assert_exact(store, folder, embedder)


def test_a_killed_delete_is_redone_by_the_next_ingest(tmp_path: Path) -> None:
    """Killed while an article's chunks are deleted, before its record is: the record must not
    still vouch for the file (the next ingest saw it "unchanged" and left it with some or none
    of its chunks in Chroma and with stale rows in the lexicon)."""
    index, folder = tmp_path / "chroma", tmp_path / "articles"
    _write_folder(folder)
    worker = _Worker(index, folder)
    try:
        assert worker.run("none", 0).startswith(f"finished {ARTICLES} added")
        assert worker.run("delete", 1, "story-01") == "parked"
    finally:
        worker.close()

    embedder = FakeEmbedder()
    store = ChromaStore.persistent(index, model_name=embedder.name)
    record = store.article("story-01")
    assert record is not None and len(store.chunk_ids("story-01")) < record.chunks
    lexicon = Lexicon(lexicon_path(store.location, index))
    report = Ingestor(store, embedder, lexicon=lexicon).ingest([folder])
    assert report.ok and report.updated + report.added == ("story-01",)
    _assert_exact(store, folder, embedder)
