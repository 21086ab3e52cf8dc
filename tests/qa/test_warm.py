"""``Assistant.warm`` / ``qa warm`` and the page's background warm-up: after it, a question in a
new process embeds no sentence, and its answer is the one it would have been."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

import qa.cli
from index.sentences import splitter_version
from qa.answer.extractive import ExtractiveComposer
from qa.answer.sentence_store import FILE_NAME, SentenceStore
from qa.assistant import Assistant
from qa.settings import Settings
from qa.ui.backend import Backend
from tests.fakes import FakeEmbedder

OLD = ("Storm Ellen closed the harbour at Dunmore on Monday. Fishing boats stayed in port for "
       "three days. The harbour master said damage was light.")
NEW = ("The council approved a new bridge over the river Suir on Friday. It will cost 40 million "
       "euros. Work begins in the spring and should take two years.")
QUESTION = "How much will the bridge cost?"


def corpus(path: Path) -> Path:
    rows = [{"id": "harbour", "title": "Harbour closed", "published": "2024-01-08", "text": OLD},
            {"id": "bridge", "title": "Bridge approved", "published": "2024-03-01", "text": NEW}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def composer(assistant: Assistant) -> ExtractiveComposer:
    extractive = assistant.chain.composers["extractive"]
    assert isinstance(extractive, ExtractiveComposer)
    return extractive


def test_after_warm_a_new_process_answers_the_same_without_embedding_a_sentence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    writer = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())
    writer.ingest([corpus(tmp_path / "news.jsonl")])
    report = writer.warm()
    sentences = composer(writer).sentence_texts([c.chunk.text for c in writer.store.all_chunks()])
    assert report.chunks == 2 and report.sentences == len(sentences) == 6
    assert report.embedded == 6 and report.read == 0 and report.models == 1

    later = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())
    answer = later.ask(QUESTION)
    caches = composer(later).vector_caches()
    assert sum(c.embedded for c in caches) == 0 and sum(c.read for c in caches) > 0

    without = Assistant(Settings(data_dir=data, sentence_cache=False), embedder=FakeEmbedder())
    expected = without.ask(QUESTION)
    assert sum(c.embedded for c in composer(without).vector_caches()) > 0
    assert (answer.text, answer.confidence) == (expected.text, expected.confidence)
    assert "40 million" in answer.text

    again = Assistant(Settings(data_dir=data), embedder=FakeEmbedder()).warm()
    assert again.embedded == 0 and again.read == 6


def test_warm_with_a_limit_takes_the_newest_chunks_and_prune_drops_what_is_no_longer_indexed(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    assistant = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())
    assistant.ingest([corpus(tmp_path / "news.jsonl")])
    store = SentenceStore(data / FILE_NAME)
    key = composer(assistant).vector_caches()[0].key
    sentences = composer(assistant).sentence_texts

    newest = assistant.warm(limit=1)
    assert newest.chunks == 1 and newest.embedded == 3
    assert set(store.get(key, sentences([NEW]))) == set(sentences([NEW]))
    assert store.get(key, sentences([OLD])) == {}
    assistant.warm(limit=1, prune=True)  # leaves a chunk out: prunes nothing
    assert store.count(key) == 3
    assistant.warm()
    assert store.count(key) == 6

    assert assistant.delete("bridge")  # a deleted article's vectors and spans go with it
    assert store.count(key) == 3 and store.get(key, sentences([NEW])) == {}
    assert list(store.get_spans(splitter_version(), [OLD, NEW])) == [OLD]  # chunk = whole article

    edited = OLD.replace("three days", "a week")
    (tmp_path / "news.jsonl").write_text(json.dumps(
        {"id": "harbour", "title": "Harbour closed", "published": "2024-01-08", "text": edited}) + "\n")
    assistant.ingest([tmp_path / "news.jsonl"])
    pruned = assistant.warm(prune=True)
    assert (pruned.embedded, pruned.removed) == (1, 1)  # the edited sentence in, the old one out
    assert set(store.get(key, sentences([OLD, edited]))) == set(sentences([edited]))
    assert list(store.get_spans(splitter_version(), [OLD, edited])) == [edited]


def test_without_a_usable_store_warm_says_why_and_embeds_nothing(tmp_path: Path) -> None:
    from qa.errors import ConfigError

    data = tmp_path / "data"
    data.mkdir()
    (data / FILE_NAME).write_bytes(b"not a database" * 100)
    embedder = FakeEmbedder()
    assistant = Assistant(Settings(data_dir=data), embedder=embedder)
    assistant.ingest([corpus(tmp_path / "news.jsonl")])
    embedded = len(embedder.embedded)
    with pytest.raises(ConfigError, match=r"cannot keep sentence vectors: cannot open .*sentence-vectors"):
        assistant.warm()
    assert len(embedder.embedded) == embedded
    assert "40 million" in assistant.ask(QUESTION).text  # questions go on, embedding as before
    off = Assistant(Settings(data_dir=tmp_path / "off", sentence_cache=False), embedder=embedder)
    with pytest.raises(ConfigError, match="QA_SENTENCE_CACHE is off"):
        off.warm()


def test_warm_steps_aside_while_a_question_is_being_answered(tmp_path: Path) -> None:
    assistant = Assistant(Settings(data_dir=tmp_path / "data"), embedder=FakeEmbedder())
    assistant.ingest([corpus(tmp_path / "news.jsonl")])
    assert assistant.wait_until_idle(timeout=0)
    answer = assistant.stream(QUESTION)
    next(answer)  # a question under way
    assert not assistant.wait_until_idle(timeout=0.05)
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (assistant.wait_until_idle(), done.set()))
    waiter.start()
    assert not done.wait(0.1)
    list(answer)
    assert done.wait(5)
    waiter.join()


def test_the_page_warms_sentences_in_the_background_after_it_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assistant = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())
    assistant.ingest([corpus(tmp_path / "news.jsonl")])
    backend = Backend(assistant)
    (data / ".sample-offered").touch()  # not the sample article: these two only
    backend.warm_up_in_background()
    backend.assistant(timeout=30)
    settle(backend)
    key = composer(assistant).vector_caches()[0].key
    assert SentenceStore(data / FILE_NAME).count(key) == 6
    assert assistant.delete("bridge")
    assert SentenceStore(data / FILE_NAME).count(key) == 3  # the delete forgot them
    backend.stop_warming()
    assert backend._warming is not None and not backend._warming.is_alive()


def test_the_page_reads_the_duplicate_index_once_ready_so_its_first_upload_does_not(tmp_path: Path) -> None:
    data = tmp_path / "data"
    writer = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())
    writer.ingest([corpus(tmp_path / "news.jsonl")])
    page = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())  # a process starting
    assert page.ingestor.dedup is not None and not page.ingestor.dedup.synced
    backend = Backend(page)
    (data / ".sample-offered").touch()
    backend.warm_up_in_background()
    backend.assistant(timeout=30)
    assert backend._thread is not None
    backend._thread.join(30)  # the start-up thread reads it after the page is ready
    assert page.ingestor.dedup.synced
    backend.close()


def test_the_pages_warm_up_catches_another_processs_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import qa.ui.backend

    monkeypatch.setattr(qa.ui.backend, "WARM_POLL", 0.2)
    data = tmp_path / "data"
    page = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())
    (data / ".sample-offered").parent.mkdir(parents=True, exist_ok=True)
    (data / ".sample-offered").touch()
    backend = Backend(page)
    backend.warm_up_in_background()
    backend.assistant(timeout=30)
    settle(backend)
    elsewhere = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())  # `qa ingest` beside it
    elsewhere.ingest([corpus(tmp_path / "news.jsonl")])
    key = composer(page).vector_caches()[0].key
    store = SentenceStore(data / FILE_NAME)
    for _ in range(100):
        if store.count(key) == 6:
            break
        threading.Event().wait(0.1)
    assert store.count(key) == 6
    backend.stop_warming()


EXIT_SCRIPT = """
import atexit, sys, threading
from pathlib import Path

# Registered before the page's own hook, so it runs after it (atexit runs last-in, first-out).
atexit.register(lambda: print("ALIVE", sorted(t.name for t in threading.enumerate()
                                              if t.name.startswith("qa-"))))
from qa.assistant import Assistant
from qa.settings import Settings
from qa.ui.backend import Backend
from tests.fakes import FakeEmbedder

data = Path(sys.argv[1])
(data / ".sample-offered").parent.mkdir(parents=True, exist_ok=True)
(data / ".sample-offered").touch()
backend = Backend(Assistant(Settings(data_dir=data), embedder=FakeEmbedder()))
backend.warm_up_in_background()
backend.assistant(timeout=30)
backend._thread.join(30)  # the start-up warm-up, which starts the sentence warm-up as it ends
assert backend.warm_settled.wait(30)
print("READY", sorted(t.name for t in threading.enumerate() if t.name.startswith("qa-")))
"""


def test_the_pages_threads_are_stopped_before_the_interpreter_tears_down(tmp_path: Path) -> None:
    # A daemon thread left inside Chroma or onnxruntime while the interpreter tears down can end
    # the process with a segfault after all its work is done (CI saw one after the whole suite).
    from tests.conftest import ROOT

    run = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(tmp_path / "data")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "READY ['qa-warm-sentences']" in run.stdout  # the thread ran: the check means something
    assert "ALIVE []" in run.stdout, run.stdout


def test_closing_the_backend_ends_a_warm_pass_after_its_current_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import qa.assistant

    monkeypatch.setattr(qa.assistant, "WARM_BATCH", 1)  # a batch per chunk: two or more batches
    data = tmp_path / "data"
    assistant = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())
    assistant.ingest([corpus(tmp_path / "news.jsonl")])
    (data / ".sample-offered").touch()
    backend = Backend(assistant)
    batches: list[int] = []
    real = assistant.wait_until_idle

    def idle(timeout: float | None = None) -> bool:  # the pause before each batch: the close
        batches.append(1)                              # comes during the first
        if len(batches) == 1:
            threading.Thread(target=backend.close).start()
            backend._stop_warming.wait(5)
        return real(timeout)

    assistant.wait_until_idle = idle  # type: ignore[method-assign]
    backend.warm_up_in_background()
    backend.assistant(timeout=30)
    assert backend._stop_warming.wait(30)
    assert backend._warming is not None
    backend._warming.join(30)
    assert not backend._warming.is_alive()
    assert batches == [1]  # no batch after the close


def test_closing_the_backend_does_not_wait_for_a_long_question(tmp_path: Path) -> None:
    """The warm-up waits while a question is answered (an LLM can stream for a minute): a close
    during that wait sat out its whole timeout, and the exit hook waited again."""
    import time

    data = tmp_path / "data"
    assistant = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())
    assistant.ingest([corpus(tmp_path / "news.jsonl")])
    (data / ".sample-offered").touch()
    backend = Backend(assistant)
    waiting = threading.Event()
    real = assistant.wait_until_idle

    def idle(timeout: float | None = None) -> bool:
        waiting.set()
        return real(timeout)

    assistant.wait_until_idle = idle  # type: ignore[method-assign]
    with assistant._busy():  # a question being answered for as long as the test wants
        backend.warm_up_in_background()
        assert waiting.wait(30)  # the warm pass waits for the question
        started = time.monotonic()
        backend.close(timeout=20)
        first = time.monotonic() - started
        started = time.monotonic()
        backend.close(timeout=20)
        again = time.monotonic() - started
    assert backend._warming is not None and not backend._warming.is_alive()
    assert first < 10 and again < 1, (first, again)


def settle(backend: Backend) -> None:
    assert backend.warm_settled.wait(30), "the background warm-up did not finish"


def test_qa_warm_reports_what_it_did(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assistant = Assistant(Settings(data_dir=tmp_path / "data"), embedder=FakeEmbedder())
    assistant.ingest([corpus(tmp_path / "news.jsonl")])
    monkeypatch.setattr(qa.cli.common, "assistant_for", lambda settings, **_: assistant)
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "data"))  # the index the command finds
    runner = CliRunner()
    first = runner.invoke(qa.cli.app, ["warm", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["embedded"] == 6
    second = runner.invoke(qa.cli.app, ["warm"])
    assert second.exit_code == 0
    assert "6 sentences in 2 chunks" in second.stdout
    assert "0 vectors computed, 6 already kept" in second.stdout
    off = runner.invoke(qa.cli.app, ["warm"], env={"QA_SENTENCE_CACHE": "off"})
    assert off.exit_code == 1 and "QA_SENTENCE_CACHE is off" in off.stderr


PRELOAD = """
import sys
from pathlib import Path
from qa.assistant import Assistant
from qa.settings import Settings
from tests.fakes import FakeEmbedder
assistant = Assistant(Settings(data_dir=Path(sys.argv[1])), embedder=FakeEmbedder())
assistant.warm_up(ingest=sys.argv[2] == "ingest")
print("datasketch" in sys.modules)
"""


@pytest.mark.parametrize(("how", "loaded"), [("ingest", "True"), ("ask", "False")])
def test_a_warm_up_for_ingest_loads_the_grouping_library_and_one_for_questions_does_not(
    tmp_path: Path, how: str, loaded: str
) -> None:
    """The page warms up for ingest too: its first upload no longer waits ~1.5 s for datasketch
    and scipy; `qa ask` must not pay for them at all."""
    from tests.conftest import ROOT

    done = subprocess.run([sys.executable, "-c", PRELOAD, str(tmp_path / "d"), how], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == loaded
