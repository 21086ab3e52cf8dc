"""The page's handlers and launch defaults, without a browser (fast: the fake embedder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qa import ui
from qa.settings import Settings
from qa.ui import page as page_module
from qa.ui.backend import Backend
from qa.ui.handlers import Handlers
from tests.conftest import ROOT, SAMPLE_ARTICLE


def _ready(assistant: Any) -> Handlers:
    handlers = Handlers(Backend(assistant))
    handlers.backend.assistant(timeout=60)
    assert handlers.backend.error is None
    return handlers


def _chat(handlers: Handlers, question: str, history: list[dict[str, Any]] | None = None) -> list[tuple]:
    choices = Handlers.choices(5, True, [], None, None, "extractive", "", "")
    return list(handlers.chat(question, history or [], choices, {}))


def test_building_the_page_loads_no_model_and_opens_no_index(tmp_path: Path) -> None:
    code = (
        "import sys, app; "
        "print(type(app.demo).__name__, sorted(m for m in ('torch', 'sentence_transformers', 'chromadb') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "QA_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip().splitlines()[-1] == "QAPage []"
    assert not (tmp_path / "data").exists()


def test_a_fresh_data_dir_gets_the_sample_once(fake_assistant: Any) -> None:
    _ready(fake_assistant)
    assert [r.id for r in fake_assistant.articles()] == [SAMPLE_ARTICLE.stem]
    fake_assistant.delete(SAMPLE_ARTICLE.stem)
    _ready(fake_assistant)
    assert fake_assistant.articles() == []


def test_chat_streams_then_shows_the_answer_and_its_sources(fake_assistant: Any) -> None:
    handlers = _ready(fake_assistant)
    *streamed, (final, panel, turns) = _chat(handlers, "How many policemen were killed in Almaty?")
    assert all(isinstance(s[0], str) for s in streamed)
    assert "(#src-1-1" in final
    assert '<mark class="qa-quote">' in panel and 'id="src-1-1"' in panel
    assert set(turns) == {1}


def test_a_failing_request_shows_an_error_in_that_chat_and_the_next_works(
    fake_assistant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    handlers = _ready(fake_assistant)
    real_stream = fake_assistant.stream

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(fake_assistant, "stream", broken)
    (message, *_), = _chat(handlers, "How many policemen were killed?")
    assert "Could not answer" in message and "the disk is on fire" in message
    monkeypatch.setattr(fake_assistant, "stream", real_stream)
    assert "src-1-1" in _chat(handlers, "How many policemen were killed?")[-1][1]


def test_a_domain_error_reads_as_a_message(fake_assistant: Any) -> None:
    handlers = _ready(fake_assistant)
    (message, *_), = _chat(handlers, "   ")
    assert message.startswith("**Could not answer:**") and "empty" in message


def test_bad_uploads_are_reported_by_name_and_lose_nothing(tmp_path: Path, fake_embedder: Any) -> None:
    from qa.assistant import Assistant

    settings = Settings(data_dir=tmp_path / "qa-data", max_file_mb=0.001)
    handlers = _ready(Assistant(settings, embedder=fake_embedder))
    files = {"empty.txt": b"", "binary.txt": b"\x00\x01\x02" * 50, "big.txt": b"word " * 400,
             "good.md": b"# Ferry\n\nQuillby approved a new ferry."}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "kept.md").write_bytes(b"# Bridge\n\nMarrow reopened its bridge.")
    handlers.upload([str(tmp_path / "kept.md")])
    cleared, summary, table, *_ = handlers.upload([str(tmp_path / n) for n in files])
    assert cleared is None
    assert summary.startswith("1 added")
    assert "failed: empty.txt: file is empty" in summary
    assert "failed: binary.txt:" in summary
    assert "failed: big.txt: file is 2 kB, over the 1 kB limit" in summary
    assert str(tmp_path) not in summary
    assert "kept" in table and "good" in table


def test_delete_removes_the_article_and_its_uploaded_copy(fake_assistant: Any, tmp_path: Path) -> None:
    handlers = _ready(fake_assistant)
    (tmp_path / "ferry.txt").write_text("Ferry news\n\nQuillby approved a new ferry.")
    handlers.upload([str(tmp_path / "ferry.txt")])
    assert (handlers.backend.uploads / "ferry.txt").exists()
    message, table, *_ = handlers.delete("ferry")
    assert message.startswith("Deleted") and "ferry" not in table
    assert not (handlers.backend.uploads / "ferry.txt").exists()
    assert "No article" in handlers.delete("ferry")[0]


def test_a_refused_upload_keeps_the_copy_its_article_was_read_from(
    tmp_path: Path, fake_embedder: Any
) -> None:
    """A binary file uploaded under an indexed upload's name overwrote the stored copy before it
    was refused: the index kept the article, its source file was junk."""
    from qa.assistant import Assistant

    handlers = _ready(Assistant(Settings(data_dir=tmp_path / "qa-data"), embedder=fake_embedder))
    good, junk = tmp_path / "good" / "note.txt", tmp_path / "junk" / "note.txt"
    for path, data in ((good, b"Ferry news\n\nQuillby approved a new ferry."), (junk, b"\x00\x01" * 80)):
        path.parent.mkdir()
        path.write_bytes(data)
    handlers.upload([str(good)])
    _, summary, *_ = handlers.upload([str(junk)])
    assert "failed: note.txt:" in summary
    assert (handlers.backend.uploads / "note.txt").read_bytes() == good.read_bytes()
    (tmp_path / "new.txt").write_bytes(b"")
    handlers.upload([str(tmp_path / "new.txt")])
    assert sorted(p.name for p in handlers.backend.uploads.iterdir()) == ["note.txt"]


def test_an_upload_stopped_part_way_keeps_the_copies_its_stored_articles_were_read_from(
    tmp_path: Path, fake_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store failure after some files of a batch were indexed put every earlier copy back,
    also those whose articles the index now held from the new copy."""
    from qa.assistant import Assistant
    from qa.errors import StoreError

    assistant = Assistant(Settings(data_dir=tmp_path / "qa-data"), embedder=fake_embedder)
    handlers = _ready(assistant)
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, word in ((first, "old"), (second, "new")):
        folder.mkdir()
        (folder / "a.txt").write_text(f"Ferry news\n\nQuillby approved the {word} ferry.")
        (folder / "b.txt").write_text(f"Bridge news\n\nQuillby approved the {word} bridge.")
    handlers.upload([str(first / "a.txt"), str(first / "b.txt")])
    real = assistant.ingest

    def stops_after_the_first_file(paths: list[Path], **options: Any) -> Any:
        real(paths[:1], **options)
        raise StoreError("the disk is full")

    monkeypatch.setattr(assistant, "ingest", stops_after_the_first_file)
    _, summary, *_ = handlers.upload([str(second / "a.txt"), str(second / "b.txt")])
    assert summary == "Indexing stopped after a.txt: the disk is full"
    uploads = handlers.backend.uploads
    assert "new ferry" in assistant.article_text("a")
    assert (uploads / "a.txt").read_text() == (second / "a.txt").read_text()  # the index's source
    assert (uploads / "b.txt").read_text() == (first / "b.txt").read_text()  # not reached: put back
    assert sorted(p.name for p in uploads.iterdir()) == ["a.txt", "b.txt"]


@pytest.mark.parametrize("name", ["a.txt", "x.jsonl"])
def test_an_upload_whose_embedding_fails_puts_every_earlier_copy_back(
    tmp_path: Path, fake_embedder: Any, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A failure inside the ingest's write (the embedding) left blanked records behind; they
    counted as "indexed" and the new copies were kept though the index still held the old text.
    A JSONL file (several articles, one path) was misread the same way."""
    import json

    from qa.assistant import Assistant
    from qa.errors import StoreError

    assistant = Assistant(Settings(data_dir=tmp_path / "qa-data"), embedder=fake_embedder)
    handlers = _ready(assistant)
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, word in ((first, "old"), (second, "new")):
        folder.mkdir()
        text = f"Ferry news\n\nQuillby approved the {word} ferry."
        if name.endswith(".jsonl"):
            text = "\n".join(json.dumps({"id": f"x{i}", "title": "Ferry", "text": f"Quillby approved "
                                                                                f"the {word} ferry {i}."})
                             for i in (1, 2))
        (folder / name).write_text(text)
    handlers.upload([str(first / name)])
    kept = {r.id: assistant.article_text(r.id) for r in assistant.articles()}

    def out_of_memory(texts: Any) -> Any:
        raise StoreError("embedding failed: out of memory")

    monkeypatch.setattr(fake_embedder, "embed_documents", out_of_memory)
    _, summary, *_ = handlers.upload([str(second / name)])
    assert summary.startswith("Nothing was indexed") and "out of memory" in summary, summary
    assert (handlers.backend.uploads / name).read_text() == (first / name).read_text()
    assert {r.id: assistant.article_text(r.id) for r in assistant.articles()} == kept
    assert sorted(p.name for p in handlers.backend.uploads.iterdir()) == [name]


def test_delete_removes_the_uploaded_copy_under_a_relative_data_dir(
    tmp_path: Path, fake_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.assistant import Assistant

    monkeypatch.chdir(tmp_path)
    handlers = _ready(Assistant(Settings(data_dir=Path("qa-data")), embedder=fake_embedder))
    (tmp_path / "ferry.txt").write_text("Ferry news\n\nQuillby approved a new ferry.")
    handlers.upload([str(tmp_path / "ferry.txt")])
    assert handlers.delete("ferry")[0].startswith("Deleted")
    assert not (tmp_path / "qa-data" / "uploads" / "ferry.txt").exists()


def test_a_page_that_could_not_start_says_why_once_and_stops_polling(tmp_path: Path) -> None:
    (tmp_path / "chroma").write_text("not a folder")  # the store cannot open here
    handlers = Handlers(Backend(settings=Settings(data_dir=tmp_path)))
    handlers.backend.warm_up_in_background()
    assert handlers.backend._ready.wait(60)
    status, *_views, timer = handlers.on_load()
    assert status.startswith("**The assistant could not start:**")
    assert timer.active is False


def test_api_answer_is_the_answer_as_json(fake_assistant: Any) -> None:
    result = _ready(fake_assistant).ask_api("How many policemen were killed in Almaty?", k=3)
    json.dumps(result)
    article = fake_assistant.article_text("kazakhstan-unrest")
    assert result["answered"] and result["citations"][0]["quote"] in article


def test_settings_become_ask_options(fake_assistant: Any) -> None:
    handlers = Handlers(Backend(fake_assistant))
    choices = Handlers.choices(3, False, ["a"], "2022-01-05 00:00:00", None, "extractive", "", "")
    assert handlers.options(choices) == {
        "k": 3, "hybrid": False, "article_ids": ["a"], "published_from": "2022-01-05", "published_to": None,
        "backend": "extractive",
    }


def test_launch_is_local_private_and_themed(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(page_module.gr.Blocks, "launch", lambda self, *a, **kw: seen.update(kw))
    monkeypatch.setenv("QA_UI_AUTH", "ann:secret,bob:pw")
    ui.create_app().launch()
    assert seen["share"] is False and seen["theme"] is page_module.THEME
    assert seen["auth"] == [("ann", "secret"), ("bob", "pw")]
    assert seen["max_file_size"] == 10_000_000
    assert page_module.THEME._stylesheets == []  # no web font for the browser to fetch from another host


def test_settings_passed_in_code_decide_the_login(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(page_module.gr.Blocks, "launch", lambda self, *a, **kw: seen.update(kw))
    ui.create_app(settings=Settings(data_dir=tmp_path / "d", ui_auth="carol:pw")).launch()
    assert seen["auth"] == [("carol", "pw")]


def test_auth_must_be_user_colon_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.errors import ConfigError
    from qa.settings import parse_auth

    with pytest.raises(ConfigError, match=r"^--auth must look like user:password"):
        parse_auth("justaname", "--auth")
    monkeypatch.setenv("QA_UI_AUTH", "ann:secret,justaname")
    with pytest.raises(ConfigError, match=r"^QA_UI_AUTH must look like user:password") as refused:
        parse_auth(Settings.load().ui_auth or "")  # a command that serves no page is not stopped
    assert "secret" not in str(refused.value)  # a password is never repeated in a message


def test_a_failing_upload_says_why_in_the_summary(fake_assistant: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.errors import StoreError

    handlers = _ready(fake_assistant)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("the index at /x is read-only")

    monkeypatch.setattr(fake_assistant, "ingest", broken)
    (tmp_path / "ferry.txt").write_text("Ferry news\n\nQuillby approved a new ferry.")
    _, summary, *_ = handlers.upload([str(tmp_path / "ferry.txt")])
    assert summary == "Nothing was indexed: the index at /x is read-only"


def test_a_failing_delete_and_evaluation_say_why(fake_assistant: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    handlers = _ready(fake_assistant)
    monkeypatch.setattr(fake_assistant, "delete", lambda _id: (_ for _ in ()).throw(OSError("disk full")))
    message, *_ = handlers.delete("kazakhstan-unrest")
    assert message.startswith("Could not delete kazakhstan-unrest: OSError: disk full")
    bad = tmp_path / "questions.jsonl"
    bad.write_text("{not json\n")
    html = handlers.evaluate(str(bad), {"top_k": 5, "hybrid": True})
    assert 'class="qa-error"' in html and "Could not evaluate questions.jsonl" in html


def test_citations_carry_their_articles_author(fake_assistant: Any) -> None:
    from index.models import Article

    text = ("Quillby ferry\n\nThe Quillby council approved a budget of 7 million crowns for a new electric "
            "ferry on Tuesday, the mayor said.")
    fake_assistant.ingest_articles([Article(id="ferry", title="Quillby ferry", text=text, source="wire",
                                            published="2024-03-05", author="Ann Reporter")])
    answer = fake_assistant.ask("What budget did the Quillby council approve for the ferry?")
    assert answer.citations and {c.author for c in answer.citations} == {"Ann Reporter"}
    assert "Ann Reporter" in ui.render.sources_html(answer, turn=1)


def test_evaluation_explains_each_metric(fake_assistant: Any) -> None:
    html = _ready(fake_assistant).evaluate(None, {"top_k": 3, "hybrid": True})
    assert "<th>what it means</th>" in html
    assert "citations verbatim at their offsets (must be 1)" in html


def test_the_chat_kept_in_the_browser_is_signed_with_a_key_that_outlives_a_restart(tmp_path: Path) -> None:
    """gr.BrowserState without a secret picks a random one each start: after a restart the page
    could not read the conversation it kept, and the next answer overwrote it."""
    from qa.settings import BROWSER_SECRET

    def secret_of_a_launched_page() -> str:
        demo = page_module.create_app(settings=Settings(data_dir=tmp_path))
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        try:
            return str(demo.config["components"][[c["id"] for c in demo.config["components"]].index(
                demo.saved_chat._id)]["props"]["secret"])
        finally:
            demo.close(verbose=False)

    first, again = secret_of_a_launched_page(), secret_of_a_launched_page()
    kept = tmp_path / BROWSER_SECRET
    assert first == again == kept.read_text().strip() and len(first) == 32
    assert kept.stat().st_mode & 0o077 == 0
