"""``qa ingest`` / ``qa list`` / ``qa delete``: summaries that name failures, JSON, --sync."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import qa.cli
from qa.settings import Settings
from tests.fakes import FakeEmbedder

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI as shipped, but with the fast fake embedder behind it."""
    from qa.assistant import Assistant

    def assistant_for(settings: Settings, *, warm_up: bool = False) -> Any:
        return Assistant(settings, embedder=FakeEmbedder())

    monkeypatch.setattr(qa.cli.common, "assistant_for", assistant_for)


def _qa(*args: str) -> Any:
    return runner.invoke(qa.cli.app, list(args))


def _folder(tmp_path: Path) -> Path:
    news = tmp_path / "news"
    news.mkdir()
    (news / "harbour.txt").write_text("Harbour reopens\n\nThe harbour reopened on Saturday.\n")
    (news / "bakery.md").write_text("# Bread prices\n\nBakers raised the price of bread.\n")
    (news / "empty.txt").write_bytes(b"")
    return news


def test_ingest_prints_a_summary_naming_each_failure_and_exits_1(tmp_path: Path) -> None:
    news = _folder(tmp_path)
    result = _qa("ingest", str(news))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("2 added, 0 updated, 0 unchanged, 0 removed, 1 failed (")
    assert f"  failed: {news / 'empty.txt'}: file is empty" in lines
    again = _qa("ingest", str(news))
    assert again.output.startswith("0 added, 0 updated, 2 unchanged, 0 removed, 1 failed (0 chunks embedded")
    assert again.exit_code == 1
    (news / "empty.txt").unlink()
    clean = _qa("ingest", str(news))
    assert clean.exit_code == 0 and "0 failed" in clean.output


def test_ingest_exits_1_when_nothing_could_be_ingested(tmp_path: Path) -> None:
    result = _qa("ingest", str(tmp_path / "missing"), str(tmp_path / "also-missing.txt"))
    assert result.exit_code == 1
    assert f"failed: {tmp_path / 'missing'}: no such file or folder" in result.output


def test_ingest_json_and_max_file_mb(tmp_path: Path) -> None:
    news = _folder(tmp_path)
    (news / "big.txt").write_text("word " * 2000)
    result = _qa("ingest", str(news), "--json", "--max-file-mb", "0.005")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert sorted(report["added"]) == ["bakery", "harbour"]
    reasons = {f["path"]: f["reason"] for f in report["failed"]}
    assert reasons[str(news / "big.txt")] == (
        "file is 10 kB, over the 5 kB limit (raise it with QA_MAX_FILE_MB or --max-file-mb)"
    )


def test_list_json_shows_the_indexed_articles(tmp_path: Path) -> None:
    assert "No articles indexed yet" in _qa("list").output
    _qa("ingest", str(_folder(tmp_path)))
    result = _qa("list", "--json")
    assert result.exit_code == 0
    records = json.loads(result.output)
    assert [(r["id"], r["title"], r["chunks"], r["group"]) for r in records] == [
        ("bakery", "Bread prices", 1, "bakery"), ("harbour", "Harbour reopens", 1, "harbour"),
    ]
    header, *rows = _qa("list").output.splitlines()
    assert header.split() == ["ID", "TITLE", "PUBLISHED", "CHUNKS", "GROUP", "SOURCE"]
    assert rows[0].split()[:6] == ["bakery", "Bread", "prices", "-", "1", "-"]
    assert rows[0].index("Bread") == header.index("TITLE")


def test_delete_removes_one_article_and_names_a_missing_one(tmp_path: Path) -> None:
    _qa("ingest", str(_folder(tmp_path)))
    result = _qa("delete", "harbour")
    assert result.exit_code == 0 and result.output == "deleted harbour\n"
    assert [r["id"] for r in json.loads(_qa("list", "--json").output)] == ["bakery"]
    missing = _qa("delete", "harbour")
    assert missing.exit_code == 1
    assert "error: no article 'harbour' in the index (see: qa list)" in missing.stderr


def test_sync_removes_articles_whose_files_are_gone(tmp_path: Path) -> None:
    news = _folder(tmp_path)
    _qa("ingest", str(news))
    (news / "harbour.txt").unlink()
    assert _qa("ingest", str(news)).output.startswith("0 added, 0 updated, 1 unchanged, 0 removed")
    result = _qa("ingest", str(news), "--sync")
    assert result.output.startswith("0 added, 0 updated, 1 unchanged, 1 removed, 1 failed")
    assert [r["id"] for r in json.loads(_qa("list", "--json").output)] == ["bakery"]


def test_data_dir_flag_chooses_the_index(tmp_path: Path) -> None:
    other = tmp_path / "other-index"
    _qa("ingest", str(_folder(tmp_path)), "--data-dir", str(other))
    assert (other / "chroma").is_dir()
    assert json.loads(_qa("list", "--json").output) == []
    assert len(json.loads(_qa("list", "--json", "--data-dir", str(other)).output)) == 2


def test_domain_errors_become_one_line_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    from index.models import Article, Chunk
    from index.store import ChromaStore

    other = ChromaStore.persistent(tmp_path / "idx" / "chroma", model_name="some-other-model")
    other.upsert_chunks([(Article(id="x", title="X", text="x text"), Chunk("x#1", "x", 0, 0, 6, "x text"))],
                        np.ones((1, 4), np.float32))
    monkeypatch.setattr(sys, "argv", ["qa", "list", "--data-dir", str(tmp_path / "idx")])
    with pytest.raises(SystemExit) as exited:
        qa.cli.main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the index at ") and "'some-other-model'" in err
    assert len(err.strip().splitlines()) == 1


def test_list_marks_the_articles_an_unfinished_ingest_recorded_and_says_how_to_finish_them(
    tmp_path: Path,
) -> None:
    """A killed ingest leaves new articles' records written before their chunks (no chunk count, a
    blank hash): listed as if complete before; some of their chunks may be searchable, so they
    stay listed, marked, with a line saying how to finish them."""
    from index.models import Article, ArticleEntry
    from qa.assistant import Assistant

    data = tmp_path / "data"
    assistant = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())
    assert assistant.ingest([_folder(tmp_path) / "harbour.txt"]).added == ("harbour",)
    assistant.store.put_articles([ArticleEntry(Article("half-done", "Half done", "Some text."), 0, "")])
    assert {r.id: r.unfinished for r in assistant.articles()} == {"harbour": False, "half-done": True}

    listed = _qa("list", "--data-dir", str(data))
    assert listed.exit_code == 0, listed.output
    assert "1 article(s) (half-done) were recorded by an ingest that has not finished them" in listed.stderr
    assert "qa delete ID" in listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("half-done"))
    assert " ? " in row
    as_json = _qa("list", "--json", "--data-dir", str(data))
    assert {r["id"] for r in json.loads(as_json.stdout)} == {"harbour", "half-done"}
