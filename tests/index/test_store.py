"""ChromaStore against a real embedded Chroma: filters, batching, deletes, the model guard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.dates import date_to_timestamp
from index.errors import IndexMismatchError
from index.ingest import Ingestor
from index.models import Article, Chunk
from index.store import ChromaStore
from tests.fakes import FakeEmbedder


def _article(article_id: str, published: str | None = None, *, words: int = 30) -> Article:
    text = " ".join(f"{article_id} sentence {i} about the harbour." for i in range(words))
    return Article(id=article_id, title=f"Title {article_id}", text=text, source="wire", published=published)


def _in_range(start: str, end: str) -> dict[str, Any]:
    return {"$and": [
        {"published_ts": {"$gte": date_to_timestamp(start)}},
        {"published_ts": {"$lte": date_to_timestamp(end)}},
    ]}


class _Recorder:
    """Wraps a Chroma collection and records how many ids each call carried."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self.sizes: dict[str, list[int]] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._collection, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("ids") is not None:
                self.sizes.setdefault(name, []).append(len(kwargs["ids"]))
            return method(*args, **kwargs)

        return call


def test_published_range_filter_selects_chunks_by_date(
    fake_store: ChromaStore, fake_ingestor: Ingestor, fake_embedder: FakeEmbedder
) -> None:
    fake_ingestor.ingest_articles([
        _article("december", "2023-12-31"), _article("january", "2024-01-15T12:00:00"),
        _article("february", "2024-02-20"), _article("undated"),
    ])
    query = fake_embedder.embed_query("sentence about the harbour")
    january = fake_store.search(query, 50, where=_in_range("2024-01-01", "2024-01-31T23:59:59"))
    assert january and {h.chunk.article_id for h in january} == {"january"}
    assert {h.published for h in january} == {"2024-01-15T12:00:00"}
    since = fake_store.search(query, 50, where={"published_ts": {"$gte": date_to_timestamp("2024-01-01")}})
    assert {h.chunk.article_id for h in since} == {"january", "february"}
    everything = fake_store.search(query, 50)
    assert {h.chunk.article_id for h in everything} == {"december", "january", "february", "undated"}


def test_date_change_moves_the_article_in_range_filters_without_reembedding(
    fake_store: ChromaStore, fake_ingestor: Ingestor, fake_embedder: FakeEmbedder
) -> None:
    fake_ingestor.ingest_articles([_article("story", "2023-06-01")])
    fake_embedder.embedded.clear()
    report = fake_ingestor.ingest_articles([_article("story", "2024-01-10")])
    assert report.updated == ("story",) and fake_embedder.embedded == []
    query = fake_embedder.embed_query("harbour")
    hits = fake_store.search(query, 50, where=_in_range("2024-01-01", "2024-01-31"))
    assert len(hits) == fake_store.count_chunks() > 0
    assert fake_store.search(query, 50, where=_in_range("2023-01-01", "2023-12-31")) == []
    assert fake_store.article("story").published == "2024-01-10"  # type: ignore[union-attr]


def test_removing_a_date_or_author_removes_it_from_the_article_and_its_chunks(
    fake_store: ChromaStore, fake_ingestor: Ingestor, fake_embedder: FakeEmbedder
) -> None:
    fake_ingestor.ingest_articles([Article(**{**_article("story", "2023-06-01").to_dict(), "author": "Ann"})])
    assert fake_store.article("story").author == "Ann"  # type: ignore[union-attr]
    fake_ingestor.ingest_articles([_article("story", None)])
    record = fake_store.article("story")
    assert record is not None and (record.published, record.author) == (None, None)
    assert {h.published for h in fake_store.all_chunks()} == {None}
    query = fake_embedder.embed_query("harbour")
    assert fake_store.search(query, 50, where={"published_ts": {"$gte": 0}}) == []


def test_delete_article_removes_it_and_all_its_chunks(
    fake_store: ChromaStore, fake_ingestor: Ingestor
) -> None:
    fake_ingestor.ingest_articles([_article("keep"), _article("drop", words=80)])
    dropped = fake_store.article("drop").chunks  # type: ignore[union-attr]
    kept = fake_store.count_chunks() - dropped
    assert dropped > 1
    assert fake_store.delete_article("drop") == dropped
    assert fake_store.article("drop") is None
    assert fake_store.chunk_ids("drop") == []
    assert fake_store.count_chunks() == kept
    assert [r.id for r in fake_store.articles()] == ["keep"]
    assert fake_store.article_texts(["drop", "keep"]).keys() == {"keep"}


def test_every_call_stays_under_the_max_batch_size(
    fake_store: ChromaStore, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = _Recorder(fake_store._chunks)
    monkeypatch.setattr(fake_store, "_chunks", recorder)
    fake_store.max_batch = 3
    ingestor = Ingestor(fake_store, fake_embedder)
    article = _article("long", words=200)
    ingestor.ingest_articles([article])
    total = fake_store.count_chunks()
    assert total > 2 * 3
    assert len(fake_store.all_chunks()) == total
    assert len({h.chunk.id for h in fake_store.all_chunks()}) == total
    changed = Article(**{**article.to_dict(), "text": article.text.replace("sentence 1 ", "line 1 ")})
    ingestor.ingest_articles([Article(**{**changed.to_dict(), "title": "Retitled"})])
    fake_store.delete_article("long")
    assert fake_store.count_chunks() == 0
    for name in ("upsert", "get", "update", "delete"):
        assert recorder.sizes.get(name), f"no {name} call was recorded"
    assert max(max(sizes) for sizes in recorder.sizes.values()) <= 3
    assert sum(recorder.sizes["upsert"]) >= total


def test_index_refuses_a_different_embedding_model(tmp_path: Path) -> None:
    store = ChromaStore.persistent(tmp_path / "chroma", model_name="model-a")
    chunk = Chunk("x#1", "x", 0, 0, 5, "x sen")
    store.upsert_chunks([(_article("x"), chunk)], np.ones((1, 4), dtype=np.float32))
    del store
    with pytest.raises(IndexMismatchError) as caught:
        ChromaStore.persistent(tmp_path / "chroma", model_name="model-b")
    message = str(caught.value)
    assert "built with the embedding model 'model-a'" in message
    assert "'model-b' is configured" in message
    assert "QA_EMBEDDING_MODEL=model-a" in message and "QA_DATA_DIR" in message
    assert ChromaStore.persistent(tmp_path / "chroma", model_name="model-a").model_name == "model-a"


def test_search_returns_typed_hits_best_first(
    fake_store: ChromaStore, fake_ingestor: Ingestor, fake_embedder: FakeEmbedder
) -> None:
    fake_ingestor.ingest_articles([
        Article(id="ships", title="Ships", text="Ferries and ships return to the harbour."),
        Article(id="bread", title="Bread", text="Bakers raise the price of bread and flour."),
    ])
    hits = fake_store.search(fake_embedder.embed_query("bread flour price"), 2)
    assert [h.chunk.article_id for h in hits] == ["bread", "ships"]
    assert hits[0].score > hits[1].score
    assert hits[0].title == "Bread" and hits[0].chunk.text == "Bakers raise the price of bread and flour."
    assert fake_store.search(fake_embedder.embed_query("bread"), 0) == []


def test_short_and_full_default_model_names_open_the_same_index(tmp_path) -> None:
    from qa.settings import Settings
    from qa.wiring import build_store

    full = build_store(Settings(data_dir=tmp_path, embedding_model="sentence-transformers/all-MiniLM-L6-v2"))
    assert full.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    short = build_store(Settings(data_dir=tmp_path, embedding_model="all-MiniLM-L6-v2"))
    assert short.model_name == full.model_name


def test_an_index_is_stamped_with_its_model_by_its_first_chunks_only(tmp_path: Path) -> None:
    opened = ChromaStore.persistent(tmp_path / "chroma", model_name="model-a")
    opened.upsert_chunks([], np.zeros((0, 4), dtype=np.float32))
    del opened
    # Nothing was written under model-a, so another model may still take the folder.
    store = ChromaStore.persistent(tmp_path / "chroma", model_name="model-b")
    store.upsert_chunks([(_article("x"), Chunk("x#1", "x", 0, 0, 5, "x sen"))], np.ones((1, 4), np.float32))
    with pytest.raises(IndexMismatchError, match="'model-b'"):
        ChromaStore.persistent(tmp_path / "chroma", model_name="model-a")


def test_a_refresh_that_fails_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    """Another process rebuilt the folder with another model: the reopen refuses it, and this
    store keeps answering from the vectors it had; once the folder is right again, refresh works."""
    store = ChromaStore.persistent(tmp_path / "chroma", model_name="model-a")
    store.upsert_chunks([(_article("x"), Chunk("x#1", "x", 0, 0, 5, "x sen"))], np.ones((1, 4), np.float32))
    metadata = dict(store._chunks.metadata or {})
    store._chunks.modify(metadata={**metadata, "embedding_model": "model-b"})
    before = (store._client, store._chunks, store._articles)
    with pytest.raises(IndexMismatchError):
        store.refresh()
    assert (store._client, store._chunks, store._articles) == before  # all or nothing
    assert [h.chunk.id for h in store.search(np.ones(4, dtype=np.float32), 1)] == ["x#1"]
    store._chunks.modify(metadata=metadata)
    store.refresh()
    assert store.count_chunks() == 1


def test_chunk_vectors_returns_each_stored_vector_by_chunk_id(
    fake_store: ChromaStore, fake_ingestor: Ingestor, fake_embedder: FakeEmbedder
) -> None:
    fake_store.max_batch = 2  # more chunks than one page
    fake_ingestor.ingest_articles([_article("one", words=80), _article("two")])
    chunks = fake_store.all_chunks()
    vectors = fake_store.chunk_vectors()
    assert len(chunks) > 2 and vectors.keys() == {h.chunk.id for h in chunks}
    for hit in chunks:
        expected = fake_embedder.embed_documents([hit.chunk.text])[0]
        assert np.allclose(vectors[hit.chunk.id], expected, atol=1e-6)


def test_a_window_of_articles_is_written_in_one_chroma_write_per_step(
    fake_store: ChromaStore, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chroma spends ~20 ms on a write whatever its size: twenty short articles are one chunk
    upsert and two article-record upserts (their placeholders, then the records; plus the two
    change-marker writes), not forty."""
    chunks, articles = _Recorder(fake_store._chunks), _Recorder(fake_store._articles)
    monkeypatch.setattr(fake_store, "_chunks", chunks)
    monkeypatch.setattr(fake_store, "_articles", articles)
    report = Ingestor(fake_store, fake_embedder).ingest_articles([_article(f"a{n}") for n in range(20)])
    assert len(report.added) == 20 and fake_store.count_chunks() == report.chunks_added >= 20
    assert len(chunks.sizes["upsert"]) == 1
    # Pending marker, the placeholders, the records, final marker.
    assert articles.sizes["upsert"] == [1, 20, 20, 1]
    assert "update" not in articles.sizes  # placeholders are born blank: nothing to mark changing


def test_more_articles_than_one_sqlite_query_takes_are_listed(fake_store: ChromaStore) -> None:
    """One Chroma get of more than 32,766 rows fails ("too many SQL variables"): `qa list`, the
    page's article views and the keyword index's catch-up broke past that many articles."""
    from index.models import ArticleEntry

    many = 32_800
    fake_store.put_articles([ArticleEntry(Article(f"a{i:05d}", "", "x"), 1, f"h{i}") for i in range(many)])
    records = fake_store.articles()
    assert len(records) == many and records[0].id == "a00000" and records[-1].id == f"a{many - 1:05d}"
    assert len(fake_store.article_versions()) == many


def test_the_articles_index_is_saved_every_few_writes_also_in_an_index_made_before(tmp_path: Path) -> None:
    """Chroma replays a collection's write log since its index was last saved on every write to
    it; the articles' log holds their full texts, so their (tiny) index is saved often. An index
    made with Chroma's default (save every 1000 writes) is given the setting when opened."""
    import chromadb

    from index.store import ARTICLES, ARTICLES_SYNC, _client_settings

    old = tmp_path / "old"
    client = chromadb.PersistentClient(path=str(old), settings=_client_settings())
    client.get_or_create_collection(ARTICLES, configuration={"hnsw": {"space": "l2"}},
                                    embedding_function=None)
    assert client.get_collection(ARTICLES).configuration["hnsw"]["sync_threshold"] == 1000
    del client
    for path in (old, tmp_path / "new"):
        store = ChromaStore.persistent(path, model_name=FakeEmbedder().name)
        hnsw = store._articles.configuration["hnsw"]
        assert (hnsw["sync_threshold"], hnsw["space"]) == (ARTICLES_SYNC, "l2"), (path.name, hnsw)


def test_an_index_that_keeps_its_old_write_setting_is_opened_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Giving an older articles collection the setting is a best effort (a read-only index, a
    server that refuses): the store opens as it is, and the log says why writes stay slow."""
    import logging

    import chromadb
    from chromadb.api.models.Collection import Collection

    from index.store import ARTICLES, _client_settings

    client = chromadb.PersistentClient(path=str(tmp_path), settings=_client_settings())
    client.get_or_create_collection(ARTICLES, configuration={"hnsw": {"space": "l2"}},
                                    embedding_function=None)
    del client

    def refuse(self: Collection, **_: object) -> None:
        raise PermissionError("attempt to write a readonly database")

    monkeypatch.setattr(Collection, "modify", refuse)
    with caplog.at_level(logging.INFO, logger="index.store"):
        store = ChromaStore.persistent(tmp_path, model_name=FakeEmbedder().name)
    assert store.count_chunks() == 0
    said = [r.getMessage() for r in caplog.records if r.name == "index.store"]
    assert any("keeps its write setting (StoreError: " in m and "read-only" in m for m in said), said
