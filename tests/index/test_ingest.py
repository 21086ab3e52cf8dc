"""Ingest against a real embedded Chroma with the fake embedder: idempotent, exact, forgiving."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from index.chunking import ChunkerConfig, chunk_text
from index.ingest import Ingestor
from index.models import Article
from index.store import ChromaStore
from tests.fakes import FakeEmbedder

MB = 1_000_000


def _story(topic: str, paragraphs: int = 6) -> str:
    return f"{topic.title()} news\n\n" + "\n\n".join(
        " ".join(f"The {topic} report {p}.{s} gives detail number {s} of part {p}." for s in range(8))
        for p in range(paragraphs)
    ) + "\n"


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _expected_chunk_ids(article: Article, embedder: FakeEmbedder) -> set[str]:
    chunks = chunk_text(
        article.id, article.text, config=ChunkerConfig(), count_tokens=embedder.token_counts,
        token_spans=embedder.token_spans, model_name=embedder.name,
    )
    return {c.id for c in chunks}


def _stored_chunk_ids(store: ChromaStore) -> list[str]:
    return [h.chunk.id for h in store.all_chunks()]


# -- idempotency -----------------------------------------------------------------------------------


def test_reingest_unchanged_article_embeds_nothing(
    tmp_path: Path, fake_ingestor: Ingestor, fake_embedder: FakeEmbedder, fake_store: ChromaStore
) -> None:
    _write(tmp_path, "news/harbour.txt", _story("harbour"))
    _write(tmp_path, "news/feed.jsonl", json.dumps({"id": "wire-1", "text": _story("wire")}) + "\n")
    first = fake_ingestor.ingest([tmp_path / "news"])
    assert set(first.added) == {"harbour", "wire-1"} and first.ok
    assert first.chunks_added == fake_store.count_chunks() > 2
    fake_embedder.embedded.clear()
    again = fake_ingestor.ingest([tmp_path / "news"])
    assert fake_embedder.embedded == []
    assert set(again.unchanged) == {"harbour", "wire-1"}
    assert (again.added, again.updated, again.removed, again.chunks_added) == ((), (), (), 0)


def test_changed_article_gets_exactly_its_old_chunks_replaced(
    tmp_path: Path, fake_ingestor: Ingestor, fake_embedder: FakeEmbedder, fake_store: ChromaStore
) -> None:
    path = _write(tmp_path, "harbour.txt", _story("harbour"))
    _write(tmp_path, "bakery.txt", _story("bakery"))
    fake_ingestor.ingest([tmp_path])
    bakery_chunks = set(fake_store.chunk_ids("bakery"))
    old = set(fake_store.chunk_ids("harbour"))
    # An edit at the top shifts every offset below it; only the edited chunk's text changes.
    path.write_text(_story("harbour").replace("report 0.0 gives", "report 0.0, revised, gives"))
    fake_embedder.embedded.clear()
    report = fake_ingestor.ingest([tmp_path])
    new = set(fake_store.chunk_ids("harbour"))
    assert report.updated == ("harbour",) and report.unchanged == ("bakery",)
    current = Article(id="harbour", title="Harbour news", text=path.read_text())
    assert new == _expected_chunk_ids(current, fake_embedder)
    assert fake_store.count_chunks() - len(bakery_chunks) == len(new)
    assert fake_store.article("harbour").chunks == len(new)  # type: ignore[union-attr]
    assert report.chunks_removed == len(old - new) == report.chunks_added == 1
    assert len(fake_embedder.embedded) == 1 and "revised" in fake_embedder.embedded[0]
    assert set(fake_store.chunk_ids("bakery")) == bakery_chunks
    text = fake_store.article_texts(["harbour"])["harbour"]
    hits = [h for h in fake_store.all_chunks() if h.chunk.article_id == "harbour"]
    assert sorted(h.chunk.index for h in hits) == list(range(len(hits)))
    for hit in hits:
        assert text[hit.chunk.start : hit.chunk.end] == hit.chunk.text


def test_interrupted_update_is_redone_even_when_the_file_is_reverted(
    tmp_path: Path, fake_ingestor: Ingestor, fake_store: ChromaStore,
    fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _write(tmp_path, "harbour.txt", _story("harbour"))
    fake_ingestor.ingest([path])
    original = set(fake_store.chunk_ids("harbour"))
    path.write_text(_story("harbour").replace("report 3.", "bulletin 3."))

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fake_store, "put_articles", crash)
    with pytest.raises(KeyboardInterrupt):
        fake_ingestor.ingest([path])
    monkeypatch.undo()
    assert set(fake_store.chunk_ids("harbour")) != original
    path.write_text(_story("harbour"))
    report = fake_ingestor.ingest([path])
    assert report.updated == ("harbour",)
    assert set(fake_store.chunk_ids("harbour")) == original


def test_metadata_change_rewrites_chunk_metadata_without_embedding(
    tmp_path: Path, fake_ingestor: Ingestor, fake_embedder: FakeEmbedder, fake_store: ChromaStore
) -> None:
    feed = tmp_path / "feed.jsonl"
    record = {"id": "a", "title": "Old title", "text": _story("alpha"), "published": "2023-01-01"}
    feed.write_text(json.dumps(record) + "\n")
    fake_ingestor.ingest([feed])
    feed.write_text(json.dumps({**record, "title": "New title", "published": "2024-05-06"}) + "\n")
    fake_embedder.embedded.clear()
    report = fake_ingestor.ingest([feed])
    assert report.updated == ("a",) and fake_embedder.embedded == []
    assert {(h.title, h.published) for h in fake_store.all_chunks()} == {("New title", "2024-05-06")}


# -- sync and delete -------------------------------------------------------------------------------


def test_sync_removes_gone_files_and_keeps_present_ones_that_failed(
    tmp_path: Path, fake_ingestor: Ingestor, fake_store: ChromaStore
) -> None:
    root = tmp_path / "news"
    for topic in ("gone", "broken", "kept"):
        _write(root, f"{topic}.txt", _story(topic))
    _write(root, "feed.jsonl", "\n".join(json.dumps({"id": i, "text": _story(i)}) for i in ("f1", "f2")))
    _write(root, "messy.jsonl", "\n".join(json.dumps({"id": i, "text": _story(i)}) for i in ("m1", "m2")))
    outside = _write(tmp_path, "elsewhere/outside.txt", _story("outside"))
    fake_ingestor.ingest([root, outside])
    before = fake_store.count_chunks()

    (root / "gone.txt").unlink()
    (root / "broken.txt").write_bytes(b"")
    _write(root, "feed.jsonl", json.dumps({"id": "f1", "text": _story("f1")}) + "\n")
    _write(root, "messy.jsonl", json.dumps({"id": "m1", "text": _story("m1")}) + "\n{oops\n")
    report = fake_ingestor.ingest([root], sync=True)

    assert sorted(report.removed) == ["f2", "gone"]
    assert {f.path for f in report.failed} == {str(root / "broken.txt"), f"{root / 'messy.jsonl'}:2"}
    # m2 is kept although it left the file, since a line failed: said, not silent.
    messy = (root / "messy.jsonl").resolve()
    said = f"{messy}: kept 1 article(s) not read from it (m2), as some of its lines failed"
    assert report.warnings == (said,)
    assert [r.id for r in fake_store.articles()] == ["broken", "f1", "kept", "m1", "m2", "outside"]
    assert fake_store.chunk_ids("gone") == fake_store.chunk_ids("f2") == []
    assert fake_store.count_chunks() == before - report.chunks_removed
    assert report.chunks_removed == 2 * len(fake_store.chunk_ids("f1"))


def test_without_sync_gone_files_stay_indexed(
    tmp_path: Path, fake_ingestor: Ingestor, fake_store: ChromaStore
) -> None:
    path = _write(tmp_path, "gone.txt", _story("gone"))
    _write(tmp_path, "kept.txt", _story("kept"))
    fake_ingestor.ingest([tmp_path])
    path.unlink()
    report = fake_ingestor.ingest([tmp_path])
    assert report.removed == () and [r.id for r in fake_store.articles()] == ["gone", "kept"]


def test_delete_removes_the_article_and_its_chunks_and_says_when_missing(
    tmp_path: Path, fake_store: ChromaStore, fake_embedder: FakeEmbedder
) -> None:
    changes: list[int] = []
    ingestor = Ingestor(fake_store, fake_embedder, on_change=lambda: changes.append(1))
    _write(tmp_path, "a.txt", _story("alpha"))
    _write(tmp_path, "b.txt", _story("beta"))
    ingestor.ingest([tmp_path])
    b_chunks = set(fake_store.chunk_ids("b"))
    assert ingestor.delete("a") is True
    assert fake_store.article("a") is None and fake_store.chunk_ids("a") == []
    assert set(_stored_chunk_ids(fake_store)) == b_chunks
    assert ingestor.delete("a") is False
    assert changes == [1, 1]


# -- bad input: named, and the rest of the batch still goes in -------------------------------------


BAD_FILES: dict[str, tuple[str, bytes, str]] = {
    "empty": ("empty.txt", b"", "file is empty"),
    "binary": ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)), "binary file"),
    "too big": ("huge.txt", b"word " * 250_000, "over the 1 MB limit (raise it with QA_MAX_FILE_MB"),
    "bad jsonl line": ("feed.jsonl", b'{"id": "x", "text": \n', "malformed JSON"),
    "script-only html": ("page.html", b"<html><script>var x = 1;</script></html>", "no article text"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_named_and_the_rest_of_the_batch_is_ingested(
    tmp_path: Path, fake_store: ChromaStore, fake_embedder: FakeEmbedder, case: str
) -> None:
    name, data, reason = BAD_FILES[case]
    ingestor = Ingestor(fake_store, fake_embedder, max_file_bytes=1 * MB)
    _write(tmp_path, "a-good.txt", _story("good"))
    (tmp_path / name).write_bytes(data)
    _write(tmp_path, "z-good.md", "# Later\n\n" + _story("later"))
    report = ingestor.ingest([tmp_path])
    assert report.added == ("a-good", "z-good")
    (failure,) = report.failed
    assert failure.path.startswith(str(tmp_path / name)) and reason in failure.reason
    assert f"failed: {failure.path}: {failure.reason}" in report.summary()


def test_any_exception_loading_one_file_is_that_files_failure(
    tmp_path: Path, fake_ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import index.loaders

    def broken_lxml(path: Path, data: bytes) -> object:
        raise ImportError(
            "lxml.html.clean module is now a separate project lxml_html_clean.\n"
            "Install lxml[html_clean] or lxml_html_clean directly."
        )

    monkeypatch.setattr(index.loaders, "_load_html", broken_lxml)
    _write(tmp_path, "a.txt", _story("harbour"))
    page = _write(tmp_path, "b.html", "<html><body><p>" + _story("market") + "</p></body></html>")
    _write(tmp_path, "c.txt", _story("bakery"))
    with caplog.at_level("DEBUG", logger="index.loaders"):
        report = fake_ingestor.ingest([tmp_path])
    assert report.added == ("a", "c")
    assert [(f.path, f.reason) for f in report.failed] == [
        (str(page), "ImportError: lxml.html.clean module is now a separate project lxml_html_clean.")
    ]
    assert f"failed: {page}: ImportError: lxml.html.clean module" in report.summary()
    assert any(r.exc_info and r.exc_info[0] is ImportError for r in caplog.records)


def test_any_exception_chunking_one_article_is_that_articles_failure(
    tmp_path: Path, fake_ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.chunking

    real = index.chunking.sentence_spans

    def deep(text: str) -> list[list[tuple[int, int]]]:
        if "recursive" in text:
            raise RecursionError("maximum recursion depth exceeded")
        return real(text)

    monkeypatch.setattr(index.chunking, "sentence_spans", deep)
    _write(tmp_path, "a.txt", _story("harbour"))
    bad = _write(tmp_path, "b.txt", _story("recursive"))
    report = fake_ingestor.ingest([tmp_path])
    assert report.added == ("a",)
    assert [(f.path, f.reason) for f in report.failed] == [
        (str(bad.resolve()), "RecursionError: maximum recursion depth exceeded")
    ]


def test_legacy_encoding_is_ingested_with_a_warning(tmp_path: Path, fake_ingestor: Ingestor) -> None:
    (tmp_path / "cafe.txt").write_bytes("Café\n\nThe café in Zürich was “naïve”.".encode("cp1252"))
    report = fake_ingestor.ingest([tmp_path])
    assert report.added == ("cafe",) and report.ok
    assert report.warnings == (f"{tmp_path / 'cafe.txt'}: not valid UTF-8; decoded as cp1252",)
    assert "warning: " + report.warnings[0] in report.summary()


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_text_with_a_byte_order_mark_is_read_not_called_binary(
    tmp_path: Path, fake_ingestor: Ingestor, fake_store: ChromaStore, codec: str
) -> None:
    text = "Café news\n\nThe café in Zürich reopened on Monday, officials said."
    data = text.encode(codec) if codec != "utf-16-be" else b"\xfe\xff" + text.encode(codec)
    (tmp_path / "cafe.txt").write_bytes(data)
    report = fake_ingestor.ingest([tmp_path])
    assert report.added == ("cafe",) and report.ok and report.warnings == ()
    assert "The café in Zürich reopened" in fake_store.article_texts(["cafe"])["cafe"]


def test_missing_path_is_named_and_the_rest_is_ingested(tmp_path: Path, fake_ingestor: Ingestor) -> None:
    good = _write(tmp_path, "good.txt", _story("good"))
    report = fake_ingestor.ingest([tmp_path / "typo", good])
    assert report.added == ("good",)
    assert [(f.path, f.reason) for f in report.failed] == [(str(tmp_path / "typo"), "no such file or folder")]


def test_unreadable_file_in_a_folder_is_named_and_the_rest_is_ingested(
    tmp_path: Path, fake_ingestor: Ingestor, refuse_reading: Callable[[str], None]
) -> None:
    _write(tmp_path, "good.txt", _story("good"))
    locked = _write(tmp_path, "sub/locked.txt", _story("locked"))
    if os.geteuid() != 0:
        locked.chmod(0)
    else:  # root reads chmod-000 files, so let the OS "refuse" this one
        refuse_reading("locked.txt")
    try:
        report = fake_ingestor.ingest([tmp_path])
    finally:
        locked.chmod(0o644)
    assert report.added == ("good",)
    assert [(f.path, f.reason) for f in report.failed] == [
        (str(locked), "permission denied: the file cannot be read")
    ]


def test_duplicate_text_under_a_second_name_is_refused_naming_the_first(
    tmp_path: Path, fake_ingestor: Ingestor, fake_store: ChromaStore
) -> None:
    _write(tmp_path, "a-original.txt", _story("twin"))
    _write(tmp_path, "b-copy.txt", _story("twin"))
    for _ in range(2):  # the same answer on every run
        report = fake_ingestor.ingest([tmp_path])
        (failure,) = report.failed
        assert failure.path == str((tmp_path / "b-copy.txt").resolve())
        assert failure.reason == (
            f"same text as article 'a-original' ({(tmp_path / 'a-original.txt').resolve()}); "
            "not ingested twice"
        )
    assert [r.id for r in fake_store.articles()] == ["a-original"]


def test_renamed_file_is_not_mistaken_for_a_duplicate(
    tmp_path: Path, fake_ingestor: Ingestor, fake_store: ChromaStore
) -> None:
    old = _write(tmp_path, "draft.txt", _story("renamed"))
    fake_ingestor.ingest([tmp_path])
    old.rename(tmp_path / "final.txt")
    report = fake_ingestor.ingest([tmp_path], sync=True)
    assert report.ok and report.added == ("final",) and report.removed == ("draft",)
    assert [r.id for r in fake_store.articles()] == ["final"]


def test_same_file_name_in_two_folders_gets_two_stable_ids(
    tmp_path: Path, fake_ingestor: Ingestor, fake_store: ChromaStore, fake_embedder: FakeEmbedder
) -> None:
    _write(tmp_path, "a/news.txt", _story("first"))
    _write(tmp_path, "b/news.txt", _story("second"))
    first = fake_ingestor.ingest([tmp_path])
    ids = sorted(first.added)
    assert len(ids) == 2 and ids[0] == "news" and ids[1].startswith("news-")
    fake_embedder.embedded.clear()
    again = fake_ingestor.ingest([tmp_path])
    assert sorted(again.unchanged) == ids and fake_embedder.embedded == []
    paths = {r.id: r.path for r in fake_store.articles()}
    assert paths["news"] == str((tmp_path / "a/news.txt").resolve())


def test_a_file_keeps_its_suffixed_id_when_the_other_file_of_its_name_is_gone(
    tmp_path: Path, fake_ingestor: Ingestor, fake_store: ChromaStore, fake_embedder: FakeEmbedder
) -> None:
    """b/news.txt got "news-<hash>" because a/news.txt had "news"; once a/news.txt is deleted, a
    sync must not store b/news.txt a second time under the bare id."""
    _write(tmp_path, "a/news.txt", _story("first"))
    _write(tmp_path, "b/news.txt", _story("second"))
    fake_ingestor.ingest([tmp_path])
    kept = next(r.id for r in fake_store.articles() if r.path.endswith("b/news.txt"))
    (tmp_path / "a/news.txt").unlink()
    for _ in range(2):
        fake_embedder.embedded.clear()
        report = fake_ingestor.ingest([tmp_path], sync=True)
        assert report.ok and fake_embedder.embedded == []
    assert [r.id for r in fake_store.articles()] == [kept]
    assert len(_stored_chunk_ids(fake_store)) == fake_store.articles()[0].chunks


def test_jsonl_lines_break_at_newlines_only_and_upper_case_jsonl_syncs(
    tmp_path: Path, fake_ingestor: Ingestor, fake_store: ChromaStore
) -> None:
    """U+2028 inside a JSON string (json.dumps(..., ensure_ascii=False) leaves it raw) is text,
    not a line break; a .JSONL file is a JSONL file for --sync too."""
    records = [{"id": "alpha", "text": _story("alpha") + "Line\u2028separated.\u0085"},
               {"id": "beta", "text": _story("beta")}]
    ends = ("\r", "\r\n")  # a CR alone ends a line too
    lines = "".join(json.dumps(r, ensure_ascii=False) + end for r, end in zip(records, ends, strict=True))
    feed = _write(tmp_path, "FEED.JSONL", lines)
    report = fake_ingestor.ingest([tmp_path], sync=True)
    assert report.ok and sorted(report.added) == ["alpha", "beta"]
    assert "Line\u2028separated." in fake_store.article_texts(["alpha"])["alpha"]
    feed.write_text(json.dumps(records[0], ensure_ascii=False) + "\n", encoding="utf-8")
    report = fake_ingestor.ingest([tmp_path], sync=True)
    assert report.removed == ("beta",) and [r.id for r in fake_store.articles()] == ["alpha"]


def test_jsonl_ids_in_other_scripts_stay_distinct_and_latin_ones_keep_their_slug(
    tmp_path: Path, fake_ingestor: Ingestor, fake_store: ChromaStore
) -> None:
    """"北京-1" and "上海-1" both slugified to "1": the second was refused as a duplicate."""
    records = [{"id": i, "text": _story(t)} for i, t in (("北京-1", "beijing"), ("上海-1", "shanghai"),
                                                        ("café-2", "cafe"))]
    _write(tmp_path, "wire.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    report = fake_ingestor.ingest([tmp_path])
    assert report.ok and len(report.added) == 3
    ids = sorted(report.added)
    assert "cafe-2" in ids and all(i.startswith("1-") for i in ids if i != "cafe-2")


def test_jsonl_id_used_by_another_file_is_refused_naming_it(
    tmp_path: Path, fake_ingestor: Ingestor, fake_store: ChromaStore, fake_embedder: FakeEmbedder
) -> None:
    first = _write(tmp_path, "1.jsonl", json.dumps({"id": "story", "text": _story("one")}) + "\n")
    second = _write(tmp_path, "2.jsonl", json.dumps({"id": "story", "text": _story("two")}) + "\n")
    for _ in range(2):  # no ping-pong between the two versions
        fake_embedder.embedded.clear()
        report = fake_ingestor.ingest([tmp_path])
        (failure,) = report.failed
        assert failure.path == str(second.resolve())
        assert failure.reason == (
            f"article id 'story' is already used by {first.resolve()}; give one of them another id"
        )
    assert fake_embedder.embedded == []
    assert "One news" in fake_store.article_texts(["story"])["story"]


def test_article_with_an_unparseable_date_is_refused_not_crashing_the_batch(
    fake_ingestor: Ingestor, fake_store: ChromaStore
) -> None:
    report = fake_ingestor.ingest_articles([
        Article(id="bad", title="Bad", text="Some text.", published="the other day"),
        Article(id="good", title="Good", text="Other text.", published="5 Jan 2024"),
    ])
    assert report.added == ("good",)
    assert [(f.path, f.reason) for f in report.failed] == [("bad", "published 'the other day' is not a date")]
    assert fake_store.article("good").published == "2024-01-05"  # type: ignore[union-attr]


def test_copying_a_folder_elsewhere_and_syncing_there_keeps_the_original(
    tmp_path: Path, fake_ingestor: Ingestor, fake_store: ChromaStore
) -> None:
    _write(tmp_path, "one/story.txt", _story("story"))
    fake_ingestor.ingest([tmp_path / "one"])
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    report = fake_ingestor.ingest([tmp_path / "two"], sync=True)
    assert report.removed == ()
    assert [r.id for r in fake_store.articles()] == ["story"]
