"""The same ingest and search against a real ``chroma run`` server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from index.dates import date_to_timestamp
from index.ingest import Ingestor
from index.store import ChromaStore
from qa.settings import Settings
from tests.chroma_server import chroma_server as start_chroma_server
from tests.conftest import SAMPLE_ARTICLE, SAMPLE_ARTICLES

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A ``chroma run`` on a free loopback port with its data in a temp dir; yields the port."""
    with start_chroma_server(tmp_path_factory.mktemp("chroma-server")) as (_, port):
        yield port


def test_ingest_and_search_through_the_http_store(
    chroma_server: int, real_embedder: Any, tmp_path: Path
) -> None:
    store = ChromaStore.http("127.0.0.1", chroma_server, model_name=real_embedder.name)
    assert store.location == f"http://127.0.0.1:{chroma_server}"
    ingestor = Ingestor(store, real_embedder)
    report = ingestor.ingest([SAMPLE_ARTICLES])
    assert report.ok and report.added == ("kazakhstan-unrest",)
    assert store.count_chunks() == report.chunks_added > 1

    hits = store.search(real_embedder.embed_query("How many policemen were killed in the riots?"), 3)
    assert hits[0].chunk.article_id == "kazakhstan-unrest"
    assert any("Twelve policemen" in h.chunk.text for h in hits)
    text = SAMPLE_ARTICLE.read_text(encoding="utf-8")
    for hit in hits:
        assert text[hit.chunk.start : hit.chunk.end] == hit.chunk.text

    feed = tmp_path / "feed.jsonl"
    record = {"id": "dated", "text": "Parliament met on a cold morning.", "published": "2024-01-15"}
    feed.write_text(json.dumps(record) + "\n")
    ingestor.ingest([feed])
    january = {"$and": [{"published_ts": {"$gte": date_to_timestamp("2024-01-01")}},
                        {"published_ts": {"$lte": date_to_timestamp("2024-01-31")}}]}
    query = real_embedder.embed_query("parliament")
    assert [h.chunk.article_id for h in store.search(query, 5, where=january)] == ["dated"]
    feed.write_text(json.dumps({**record, "published": None}) + "\n")
    assert ingestor.ingest([feed]).updated == ("dated",)
    assert store.search(query, 5, where=january) == []
    assert store.delete_article("dated") == 1


def test_assistant_uses_the_server_from_settings(chroma_server: int, real_embedder: Any) -> None:
    from qa.assistant import Assistant

    settings = Settings(chroma_host="127.0.0.1", chroma_port=chroma_server)
    assistant = Assistant(settings, embedder=real_embedder)
    assert assistant.store.location == f"http://127.0.0.1:{chroma_server}"
    report = assistant.ingest(SAMPLE_ARTICLES)
    assert report.ok and set(report.added + report.unchanged) == {"kazakhstan-unrest"}
    assert [r.id for r in assistant.articles()] == ["kazakhstan-unrest"]
    assert assistant.article_text("kazakhstan-unrest") == SAMPLE_ARTICLE.read_text(encoding="utf-8")
    assert assistant.delete("kazakhstan-unrest") is True
    assert assistant.articles() == [] and assistant.store.count_chunks() == 0
    assert not (settings.data_dir / "chroma").exists(), "the embedded store was opened too"
