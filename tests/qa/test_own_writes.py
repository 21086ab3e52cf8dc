"""A process that writes through its store does not reopen it for its own writes (the reopen
reloads every vector: seconds and a second copy of them at 100k chunks); another writer's
changes are still loaded. The real second process is in ``test_cross_process.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.store import ChromaStore
from qa.assistant import Assistant
from qa.settings import Settings
from tests.fakes import FakeEmbedder


def test_own_ingest_and_delete_are_answered_without_reopening_the_store(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reopened: list[ChromaStore] = []
    real_refresh = ChromaStore.refresh

    def refresh(self: ChromaStore) -> None:
        reopened.append(self)
        real_refresh(self)

    monkeypatch.setattr(ChromaStore, "refresh", refresh)
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
