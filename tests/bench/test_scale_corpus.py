"""The scale benchmark's corpora: reused real vectors, synthetic articles, the prechunked ingest."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.scale_corpus import Prechunked, ReusedVectors, load_pool, synthetic_articles
from index.ingest import Ingestor
from index.lexicon import Lexicon
from index.models import Article
from index.store import ChromaStore
from tests.fakes import FakeEmbedder

TOPICS = ["harbour", "election", "football", "bank", "film", "school"]


def _records() -> list[dict[str, str]]:
    return [
        {
            "id": f"bbc-{topic}",
            "title": f"News about the {topic}",
            "text": "\n\n".join(
                " ".join(f"Item {i} of part {p} on the {topic} desk came in today." for i in range(5))
                for p in range(4)
            ),
        }
        for topic in TOPICS
    ]


def _source(tmp_path: Path, fake_embedder: FakeEmbedder) -> tuple[ChromaStore, list[dict[str, str]]]:
    store = ChromaStore.persistent(tmp_path / "source" / "chroma", model_name=fake_embedder.name)
    records = _records()
    Ingestor(store, fake_embedder).ingest_articles(
        [Article(id=r["id"], title=r["title"], text=r["text"]) for r in records]
    )
    return store, records


def test_stored_chunks_get_their_own_vectors_and_mixes_a_unit_vector_near_their_sentences(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    store, records = _source(tmp_path, fake_embedder)
    pool = load_pool(tmp_path / "source", records, fake_embedder.name, tmp_path / "pool.pkl")
    assert len(pool.sentences) == 6 * 4 * 5 and pool.lengths == [20] * 6
    vectors = ReusedVectors(fake_embedder, pool, noise=0.001)
    stored = store.chunk_vectors()
    for hit in store.all_chunks():
        assert np.array_equal(vectors.embed_documents([hit.chunk.text])[0], stored[hit.chunk.id])
    mix = " ".join([pool.sentences[0], pool.sentences[50]])
    got = vectors.embed_documents([mix])[0]
    expected = pool.vectors[[0, 50]].mean(axis=0)
    assert abs(float(np.linalg.norm(got)) - 1.0) < 1e-5
    assert float(got @ expected / np.linalg.norm(expected)) > 0.99
    assert np.array_equal(got, vectors.embed_documents([mix])[0])  # seeded by the text


def test_synthetic_articles_are_new_seeded_and_ingested_through_the_real_store_and_lexicon(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    _, records = _source(tmp_path, fake_embedder)
    pool = load_pool(tmp_path / "source", records, fake_embedder.name, tmp_path / "pool.pkl")
    vectors = ReusedVectors(fake_embedder, pool)
    items = synthetic_articles(pool, 3, vectors, per_article=4, max_tokens=60)
    again = synthetic_articles(pool, 3, vectors, per_article=4, max_tokens=60)
    assert [i.article for i in items] == [i.article for i in again]
    originals = {r["text"] for r in records}
    for item in items:
        assert item.article.text not in originals and len(item.chunks) == 4
        for chunk in item.chunks:
            assert item.article.text[chunk.start : chunk.end] == chunk.text
            assert len(fake_embedder.token_spans(chunk.text)) <= 60
    store = ChromaStore.persistent(tmp_path / "new" / "chroma", model_name=fake_embedder.name)
    lexicon = Lexicon(tmp_path / "new" / "lexicon.sqlite")
    report = Prechunked(store, vectors, lexicon=lexicon).ingest_synthetic(items)
    assert sorted(report.added) == ["synth-000000", "synth-000001", "synth-000002"]
    given = {c.id for item in items for c in item.chunks}
    assert {h.chunk.id for h in store.all_chunks()} == given == lexicon.chunk_ids()
    assert store.article_texts(["synth-000001"])["synth-000001"] == items[1].article.text
