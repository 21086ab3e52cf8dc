"""Wire copies grouped at ingest: near and exact duplicates, a persistent incremental side file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import qa.cli
from index.dedup import Deduper, Stored
from index.ingest import Ingestor
from index.models import Article, ArticleRecord
from index.store import ChromaStore
from qa.assistant import Assistant
from qa.settings import Settings
from tests.fakes import FakeEmbedder

WIRE = (
    "Police in Almaty said on Tuesday that twelve officers were killed when gunmen attacked a "
    "station on the edge of the city before dawn. The interior ministry said the attackers fled "
    "towards the mountains and that a search involving helicopters was under way. Residents "
    "described hearing gunfire for more than an hour. The president called an emergency meeting "
    "of the security council and promised that those responsible would be found. Schools in the "
    "district were closed and roads leading out of the city were blocked by armoured vehicles. "
    "It is the deadliest attack on the police in the country for more than a decade, officials said."
)
# The same wire story as a second outlet runs it: a new first line, two words changed.
COPY = "By our correspondent. " + WIRE.replace("on Tuesday", "early on Tuesday").replace(
    "armoured vehicles", "army trucks"
)
OTHER = (
    "The central bank raised its main interest rate by half a point on Thursday, citing "
    "inflation that has stayed above its target for eighteen months. Economists had expected a "
    "smaller rise. The currency strengthened after the decision, while shares in banks and "
    "builders fell. The governor said further rises could follow if prices kept climbing, and "
    "that the bank would watch wages closely over the winter months before its next meeting."
)


def _dedup(tmp_path: Path, store: ChromaStore, embedder: FakeEmbedder) -> Ingestor:
    return Ingestor(store, embedder, dedup=Deduper(tmp_path / "dedup.npz"))


def _groups(store: ChromaStore) -> dict[str, str]:
    return {r.id: r.group for r in store.articles()}


def test_near_and_exact_copies_share_the_first_articles_group(
    tmp_path: Path, fake_store: ChromaStore, fake_embedder: FakeEmbedder
) -> None:
    ingestor = _dedup(tmp_path, fake_store, fake_embedder)
    report = ingestor.ingest_articles([
        Article("wire", "Twelve police killed", WIRE),
        Article("outlet-b", "Police killed in Almaty", COPY),
        Article("outlet-c", "Twelve police killed", WIRE),  # byte-identical: stored, not refused
        Article("bank", "Rates rise", OTHER),
    ])
    assert report.ok and len(report.added) == 4
    assert _groups(fake_store) == {"wire": "wire", "outlet-b": "wire", "outlet-c": "wire", "bank": "bank"}
    assert fake_store.article_groups(["outlet-b", "bank", "nope"]) == {"outlet-b": "wire", "bank": "bank"}


def test_without_dedup_an_identical_text_is_still_refused(
    fake_store: ChromaStore, fake_embedder: FakeEmbedder
) -> None:
    report = Ingestor(fake_store, fake_embedder).ingest_articles([
        Article("wire", "A", WIRE), Article("copy", "A", WIRE), Article("near", "B", COPY),
    ])
    assert [f.reason for f in report.failed] == ["same text as article 'wire'; not ingested twice"]
    assert _groups(fake_store) == {"wire": "wire", "near": "near"}


def test_groups_survive_a_restart_from_the_side_file_without_recomputing(
    tmp_path: Path, fake_store: ChromaStore, fake_embedder: FakeEmbedder
) -> None:
    _dedup(tmp_path, fake_store, fake_embedder).ingest_articles(
        [Article("wire", "A", WIRE), Article("bank", "B", OTHER)]
    )
    assert (tmp_path / "dedup.npz").exists()
    reopened = Deduper(tmp_path / "dedup.npz")
    stored = [Stored(r.id, r.hash, r.group) for r in fake_store.articles()]
    assert reopened.sync(stored, fake_store.article_texts) == 0
    assert reopened.assign("late-copy", COPY, "v1") == "wire"


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_a_lost_or_damaged_side_file_is_rebuilt_from_the_stored_texts(
    tmp_path: Path, fake_store: ChromaStore, fake_embedder: FakeEmbedder, damage: str
) -> None:
    _dedup(tmp_path, fake_store, fake_embedder).ingest_articles(
        [Article("wire", "A", WIRE), Article("bank", "B", OTHER)]
    )
    side = tmp_path / "dedup.npz"
    if damage == "delete":
        side.unlink()
    else:
        side.write_bytes(b"not an npz file")
    report = _dedup(tmp_path, fake_store, fake_embedder).ingest_articles([Article("copy", "C", COPY)])
    assert report.added == ("copy",)
    assert _groups(fake_store)["copy"] == "wire"
    assert Deduper(side).sync([Stored(r.id, r.hash, r.group) for r in fake_store.articles()],
                              fake_store.article_texts) == 0


def test_a_changed_article_leaves_its_group_and_a_deleted_one_is_forgotten(
    tmp_path: Path, fake_store: ChromaStore, fake_embedder: FakeEmbedder
) -> None:
    ingestor = _dedup(tmp_path, fake_store, fake_embedder)
    ingestor.ingest_articles([Article("wire", "A", WIRE), Article("copy", "B", COPY)])
    assert _groups(fake_store)["copy"] == "wire"
    ingestor.ingest_articles([Article("copy", "B", OTHER)])
    assert _groups(fake_store)["copy"] == "copy"
    assert ingestor.delete("wire")
    ingestor.ingest_articles([Article("again", "C", COPY)])
    assert _groups(fake_store)["again"] == "again"


def test_a_renamed_file_is_not_grouped_with_its_old_name(
    tmp_path: Path, fake_store: ChromaStore, fake_embedder: FakeEmbedder
) -> None:
    ingestor = _dedup(tmp_path, fake_store, fake_embedder)
    old = tmp_path / "news" / "draft.txt"
    old.parent.mkdir()
    old.write_text("Police killed\n\n" + WIRE)
    ingestor.ingest([old.parent])
    old.rename(old.parent / "final.txt")
    report = ingestor.ingest([old.parent], sync=True)
    assert report.added == ("final",) and report.removed == ("draft",)
    assert _groups(fake_store) == {"final": "final"}


def test_qa_list_shows_the_group_column_and_json_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qa.cli.common, "assistant_for", lambda s, **_: Assistant(s, embedder=FakeEmbedder()))
    news = tmp_path / "news"
    news.mkdir()
    (news / "wire.txt").write_text("Police killed\n\n" + WIRE)
    (news / "outlet.txt").write_text("Almaty attack\n\n" + COPY)
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    assert runner.invoke(qa.cli.app, ["ingest", str(news), *data]).exit_code == 0
    records = json.loads(runner.invoke(qa.cli.app, ["list", "--json", *data]).output)
    groups = {r["id"]: r["group"] for r in records}
    # Files are read in name order: outlet.txt first, so it names the group.
    assert groups == {"outlet": "outlet", "wire": "outlet"}
    header, *rows = runner.invoke(qa.cli.app, ["list", *data]).output.splitlines()
    column = header.index("GROUP")
    assert [row[column:].split()[0] for row in rows] == ["outlet", "outlet"]  # the first copy too
    off = Settings(data_dir=tmp_path / "off", dedup=False)
    assert Assistant(off, embedder=FakeEmbedder()).ingestor.dedup is None


def test_a_copy_is_grouped_with_an_article_another_writer_stored_meanwhile(
    tmp_path: Path, fake_store: ChromaStore, fake_embedder: FakeEmbedder
) -> None:
    """Two writers (say `qa watch` and a `qa ingest`), each with its own duplicate index: the
    first has synced before the second stored the wire story, yet groups its copy with it."""
    first = _dedup(tmp_path, fake_store, fake_embedder)
    second = _dedup(tmp_path, fake_store, fake_embedder)
    first.ingest_articles([Article("bank", "Rates rise", OTHER)])
    second.ingest_articles([Article("wire", "Twelve police killed", WIRE)])
    first.ingest_articles([Article("outlet-b", "Police killed in Almaty", COPY)])
    assert _groups(fake_store) == {"bank": "bank", "wire": "wire", "outlet-b": "wire"}
    first.ingest_articles([Article("outlet-c", "Twelve police killed", WIRE)])  # no resync needed
    assert _groups(fake_store)["outlet-c"] == "wire"


def test_a_new_process_trusts_the_side_file_saved_at_the_stores_marker_and_lists_otherwise(
    tmp_path: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ingestor below is a fresh process (its own store object and duplicate index): the
    first ingest of one lists every article record only when another writer moved the store's
    change marker past the one the side file was saved at."""
    listed: list[int] = []
    real_articles = ChromaStore.articles

    def articles(self: ChromaStore) -> list[ArticleRecord]:
        listed.append(1)
        return real_articles(self)

    monkeypatch.setattr(ChromaStore, "articles", articles)

    def process(*, dedup: bool = True) -> Ingestor:
        store = ChromaStore.persistent(tmp_path / "chroma", model_name=fake_embedder.name)
        return Ingestor(store, fake_embedder, dedup=Deduper(tmp_path / "dedup.npz") if dedup else None)

    process().ingest_articles([Article("wire", "Twelve police killed", WIRE), Article("bank", "B", OTHER)])
    listed.clear()
    process().ingest_articles([Article("outlet-b", "Police killed in Almaty", COPY)])
    assert listed == []  # the side file was saved at the store's current marker
    store = process().store
    assert _groups(store)["outlet-b"] == "wire"
    listed.clear()
    # A writer without the duplicate index stores another copy; the side file does not know it.
    process(dedup=False).ingest_articles([Article("unseen", "Police killed again", COPY + " Updated.")])
    process().ingest_articles([Article("outlet-c", "Police killed", COPY + " Updated.")])
    assert listed == [1]  # listed once, and grouped with the article the side file lacked
    assert _groups(store)["outlet-c"] == "unseen"


def test_prepare_reads_the_duplicate_index_so_the_next_ingest_does_not_and_still_sees_other_writers(
    tmp_path: Path, fake_store: ChromaStore, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page reads the duplicate index at start (``Ingestor.prepare``), not in its first upload;
    a write by another writer after that is still grouped with."""
    _dedup(tmp_path, fake_store, fake_embedder).ingest_articles([Article("bank", "Rates rise", OTHER)])
    page = _dedup(tmp_path, fake_store, fake_embedder)
    page.prepare()
    loads: list[str] = []
    for name in ("load", "sync"):
        real = getattr(Deduper, name)
        monkeypatch.setattr(Deduper, name, lambda self, *a, _real=real, _name=name, **k:
                            (loads.append(_name), _real(self, *a, **k))[1])
    page.ingest_articles([Article("wire", "Twelve police killed", WIRE)])
    assert loads == []  # read once, ahead
    _dedup(tmp_path, fake_store, fake_embedder).ingest_articles([Article("outlet-b", "Police", COPY)])
    page.prepare()  # another writer moved the store on: read again
    assert loads
    page.ingest_articles([Article("outlet-c", "Twelve police killed", COPY + " Updated.")])
    assert _groups(fake_store) == {"bank": "bank", "wire": "wire", "outlet-b": "wire", "outlet-c": "wire"}


def test_one_ingestors_writes_go_one_at_a_time(
    tmp_path: Path, fake_store: ChromaStore, fake_embedder: FakeEmbedder
) -> None:
    """The page's upload, its feed watcher and its start-up reading share one ingestor: a write
    waits for the one under way (two interleaved would share a write window and the duplicate
    index's state)."""
    import threading

    ingestor = _dedup(tmp_path, fake_store, fake_embedder)
    with ingestor._lock:  # another thread's ingest, under way
        writer = threading.Thread(target=ingestor.ingest_articles, args=([Article("bank", "R", OTHER)],))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and fake_store.article("bank") is None
    writer.join(30)
    assert not writer.is_alive() and fake_store.article("bank") is not None
