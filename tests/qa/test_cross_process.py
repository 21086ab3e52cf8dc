"""A running Assistant sees what another process ingested, edited (same chunk count) or deleted,
dense and keyword search alike, without a restart (embedded Chroma; real processes)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qa.assistant import Assistant
from qa.settings import Settings
from tests.conftest import ROOT
from tests.fakes import FakeEmbedder
from tests.index.test_chroma_server import chroma_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

# Enough chunks that Chroma builds its HNSW graph on disk: a small collection is searched from
# its write log, which hides the stale in-memory index this test is about.
ARTICLES, SENTENCES = 150, 40


def write_corpus(path: Path, *, articles: int = ARTICLES) -> None:
    """Articles of made-up words, none of them the words the tests ask about."""
    rng = random.Random(5)
    words = [f"{a}{b}{c}" for a in "bdfgklmprst" for b in "aeiou" for c in "nrstlk"]
    with path.open("w", encoding="utf-8") as out:
        for n in range(articles):
            text = " ".join(
                " ".join(rng.choice(words) for _ in range(12)).capitalize() + "."
                for _ in range(SENTENCES)
            )
            out.write(json.dumps({"id": f"filler-{n:03d}", "title": f"Filler {n}", "text": text}) + "\n")


class Worker:
    """``tests.qa.assistant_worker`` in a subprocess: a second process with its own Assistant."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        args = [sys.executable, "-m", "tests.qa.assistant_worker", str(data_dir)]
        self.proc = subprocess.Popen(
            args + ([str(port)] if port else []), cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line == "ready", f"worker did not start: {line} {self._stderr()}"

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read()[-3000:]

    def call(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"worker died: {self._stderr()}"
        return dict(json.loads(line))

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def top_texts(asker: Any, question: str, *, hybrid: bool) -> list[tuple[str, str, float | None]]:
    """(article id, text, BM25 score) of the passages a question retrieves, through an
    Assistant or a Worker."""
    if isinstance(asker, Worker):
        got = asker.call(op="ask", question=question, hybrid=hybrid)
        return [(a, t, s) for (a, t), s in zip(got["passages"], got["lexical"], strict=True)]
    answer = asker.ask(question, hybrid=hybrid)
    return [(p.article_id, p.text, p.lexical_score) for p in answer.passages]


STORY = "Quokka orchestra rehearses xylophone concerto. " * 3
EDITED = "Narwhal choir performs bassoon sonata tonight. " * 3


def assert_sees(asker: Any, *, edited: bool = False, deleted: bool = False) -> None:
    """Dense-only and hybrid both retrieve the current version of the story, and nothing else."""
    for hybrid in (False, True):
        new = top_texts(asker, "narwhal choir bassoon sonata", hybrid=hybrid)
        old = top_texts(asker, "quokka orchestra xylophone concerto", hybrid=hybrid)
        story_new = [t for a, t, _ in new if a == "story"]
        story_old = [t for a, t, _ in old if a == "story"]
        mode = "hybrid" if hybrid else "dense-only"
        if deleted:
            assert not story_new and not story_old, f"{mode}: a deleted article is still retrieved"
        elif edited:
            assert new[0][0] == "story" and "Narwhal" in new[0][1], f"{mode}: edit not seen: {new[:2]}"
            assert all("Quokka" not in t for t in story_old), f"{mode}: the old text is still retrieved"
        else:
            assert old[0][0] == "story" and "Quokka" in old[0][1], f"{mode}: new article not seen: {old[:2]}"
        # The keyword side sees the same version: it scores the current text, and only that.
        current = new if edited else old
        if hybrid and not deleted:
            assert current[0][2] is not None, "the keyword index does not know the current text"
        if hybrid and edited:
            assert all(s is None for a, _, s in old if a == "story"), "BM25 still matches the old text"


def test_running_assistant_reloads_after_another_process_ingests_edits_and_deletes(
    tmp_path: Path, reopened: list[object]
) -> None:
    """What does not hang on approximate search, strictly: each write of the other process
    reopens the running process's store (which then holds exactly the current chunk), and the
    keyword side scores the current text only."""
    data, corpus, story = tmp_path / "data", tmp_path / "corpus.jsonl", tmp_path / "story.txt"
    write_corpus(corpus, articles=20)
    running = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())
    running.ingest([corpus])
    running.ask("filler words", hybrid=False)
    writer = Worker(data)
    try:
        for text, words in ((STORY, "quokka orchestra xylophone concerto"),
                            (EDITED, "narwhal choir bassoon sonata")):
            story.write_text(text, encoding="utf-8")
            writer.call(op="ingest", paths=[str(story)])
            before = len(reopened)
            lexical = [(a, s) for a, _, s in top_texts(running, words, hybrid=True) if a == "story"]
            assert len(reopened) == before + 1
            assert lexical and lexical[0][1] is not None, "the keyword side misses the current text"
            held = running.store._chunks.get(where={"article_id": "story"}, include=["documents"])
            assert [d.split()[0] for d in held["documents"]] == [text.split()[0]]
        assert writer.call(op="delete", id="story")["deleted"]
        after = top_texts(running, "narwhal choir bassoon sonata", hybrid=True)
        assert all(a != "story" for a, _, _ in after)
        assert not running.store._chunks.get(where={"article_id": "story"})["ids"]
    finally:
        writer.close()


@pytest.mark.xfail(strict=False, reason=(
    "known bug (issue 13): after reopening the embedded store, Chroma's approximate vector search "
    "sometimes does not reach the one new chunk among ~600 fake-embedder vectors (random, so no "
    "neighbourhood leads to it): its exact similarity 0.76 against 0.30 for the top hit, yet not "
    "in the top 60, while a search by its own vector finds it; 1 run in 4-6 fails, on 300a10b "
    "too. The strict test above checks the reopen and the keyword side; the Chroma-server test "
    "below, the same writes without a reopen."))
def test_running_assistant_sees_another_process_ingest_edit_and_delete(tmp_path: Path) -> None:
    data, corpus, story = tmp_path / "data", tmp_path / "corpus.jsonl", tmp_path / "story.txt"
    write_corpus(corpus)
    running = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())
    running.ingest([corpus])
    running.ask("filler words", hybrid=False)  # the running process has its vectors loaded
    writer = Worker(data)
    try:
        story.write_text(STORY, encoding="utf-8")
        assert "1 added" in writer.call(op="ingest", paths=[str(story)])["summary"]
        assert_sees(running)
        story.write_text(EDITED, encoding="utf-8")
        assert "1 updated" in writer.call(op="ingest", paths=[str(story)])["summary"]
        assert running.store.article("story").chunks == 1  # same chunk count as before
        assert_sees(running, edited=True)
        assert writer.call(op="delete", id="story")["deleted"]
        assert_sees(running, deleted=True)
    finally:
        writer.close()


@pytest.mark.server
def test_processes_sharing_a_chroma_server_see_each_others_writes(
    chroma_server: int, tmp_path: Path  # noqa: F811 - the imported fixture
) -> None:
    """Two Assistant processes and one ingest process on one ``chroma run``, each with its own
    data dir (so its own lexicon): a write through one is retrieved by the others."""
    corpus, story = tmp_path / "corpus.jsonl", tmp_path / "story.txt"
    write_corpus(corpus, articles=20)
    ingest = Worker(tmp_path / "ingest", chroma_server)
    first = Worker(tmp_path / "first", chroma_server)
    second = Worker(tmp_path / "second", chroma_server)
    try:
        assert "20 added" in ingest.call(op="ingest", paths=[str(corpus)])["summary"]
        for asker in (first, second):
            top_texts(asker, "filler words", hybrid=True)  # both have answered before the writes
        story.write_text(STORY, encoding="utf-8")
        assert "1 added" in ingest.call(op="ingest", paths=[str(story)])["summary"]
        assert_sees(first)
        assert_sees(second)
        story.write_text(EDITED, encoding="utf-8")
        assert "1 updated" in first.call(op="ingest", paths=[str(story)])["summary"]
        assert_sees(second, edited=True)
        assert_sees(first, edited=True)
        assert second.call(op="delete", id="story")["deleted"]
        assert_sees(first, deleted=True)
        assert_sees(second, deleted=True)
        lexicons = sorted(p.name for p in tmp_path.glob("*/lexicon-*.sqlite"))
        assert len(lexicons) == 3, lexicons  # one derived copy per process's data dir
    finally:
        for worker in (ingest, first, second):
            worker.close()
