"""A process that writes through its store does not reopen it for its own writes (the reopen
reloads every vector: seconds and a second copy of them at 100k chunks); another writer's
changes are still loaded. The real second process is in ``test_cross_process.py``."""

from __future__ import annotations

from pathlib import Path

from qa.assistant import Assistant
from qa.settings import Settings
from tests.fakes import FakeEmbedder


def test_own_ingest_and_delete_are_answered_without_reopening_the_store(
    settings: Settings, tmp_path: Path, reopened: list[object]
) -> None:
    assistant = Assistant(settings, embedder=FakeEmbedder())
    (tmp_path / "falcon.txt").write_text("Falcon\n\nThe falcon landed in Paris on Monday.")
    assistant.ingest([tmp_path / "falcon.txt"])
    assert assistant.ask("Where did the falcon land?").answered
    client = assistant.store._client
    (tmp_path / "otter.txt").write_text("Otter\n\nThe otter swam to Lisbon on Friday.")
    assistant.ingest([tmp_path / "otter.txt"])
    assert assistant.ask("Where did the otter swim?").passages[0].article_id == "otter"
    assert assistant.delete("falcon")
    assert all(p.article_id != "falcon" for p in assistant.ask("falcon landed Paris").passages)
    assert reopened == [] and assistant.store._client is client

    # Another writer (its own store object, as another process has) moves the marker: reopened.
    other = Assistant(settings, embedder=FakeEmbedder())
    (tmp_path / "heron.txt").write_text("Heron\n\nThe heron flew over Oslo on Sunday.")
    other.ingest([tmp_path / "heron.txt"])
    assert assistant.ask("Where did the heron fly?").passages[0].article_id == "heron"
    assert reopened == [assistant.store]


def test_a_pending_marker_set_elsewhere_is_no_start_for_skipping_the_reopen(
    settings: Settings, tmp_path: Path, reopened: list[object]
) -> None:
    """Another writer's ingest is seen halfway (its marker pending), it stores more and dies; our
    own next write finishes its marker. The chain from that pending token to ours is all ours,
    yet the vectors it stored after we looked were never loaded: reopen."""
    assistant = Assistant(settings, embedder=FakeEmbedder())
    (tmp_path / "falcon.txt").write_text("Falcon\n\nThe falcon landed in Paris on Monday.")
    assistant.ingest([tmp_path / "falcon.txt"])
    assistant.ask("Where did the falcon land?")
    other = Assistant(settings, embedder=FakeEmbedder())
    other.store.bump_generation(pending=True)  # the other writer starts, and is seen so
    assistant.ask("Where did the falcon land?")
    reopened.clear()
    (tmp_path / "otter.txt").write_text("Otter\n\nThe otter swam to Lisbon on Friday.")
    assistant.ingest([tmp_path / "otter.txt"])  # finishes the other's pending marker
    assistant.ask("Where did the otter swim?")
    assert assistant.store in reopened
