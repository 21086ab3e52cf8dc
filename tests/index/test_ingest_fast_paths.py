"""The ingest speed-ups change no result: same sentences, same vectors, same stored chunks."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import index.ingest as ingest_module
from index.chunking import ChunkerConfig, chunk_text
from index.ingest import Ingestor
from index.models import Article
from index.sentences import _segment, _segmenter
from index.store import ChromaStore
from tests.conftest import SAMPLE_ARTICLES
from tests.fakes import FakeEmbedder

_PIECES = ["Dr.", "U.S.", "Mr. Smith", " e.g. ", "i.e.", "No. 5", "a.m.", "Jan.", "…", "1.", "ii.",
           "• ", "a", "b", " ", ".", "?", "!", "\n", "\t", "\u00a0", '"', "'", "(", ")", "0", ":", ";"]


def test_sentence_finding_matches_pysbd_segment_exactly() -> None:
    rng = random.Random(7)
    texts = [path.read_text(encoding="utf-8") for path in sorted(SAMPLE_ARTICLES.iterdir())]
    texts += ["".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    for text in texts:
        assert _segment(text) == _segmenter().segment(text), repr(text)


@pytest.mark.slow
def test_embed_documents_sorted_by_word_pieces_gives_encode_vectors_in_input_order(
    real_embedder,  # type: ignore[no-untyped-def]
) -> None:
    rng = random.Random(3)
    words = ["the", "harbour", "1987", "report", "Nazarbayev's", "42,000", "protest", "in", "Almaty", "said"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 120))) for _ in range(75)]
    ours = real_embedder.embed_documents(texts)
    plain = real_embedder.encoder.encode(texts, 32)  # the backend's own encode, in one call
    assert ours.shape == plain.shape and ours.dtype == np.float32
    assert np.abs(ours - plain).max() < 1e-5


def test_token_counts_ignore_the_truncation_encode_leaves_on_the_tokenizer(
    real_embedder,  # type: ignore[no-untyped-def]
) -> None:
    long = "word " * 600
    real_embedder.embed_documents([long])  # encode() sets truncation at 256 on the tokenizer
    assert real_embedder.token_counts([long]) == [600]
    assert len(real_embedder.token_spans(long)) == 600


def _articles(n: int) -> list[Article]:
    return [
        Article(id=f"story-{i}", title=f"Story {i}", text=" ".join(
            f"Story {i} sentence {s} adds detail {s * i} to the account." for s in range(60)))
        for i in range(n)
    ]


def test_windows_embed_across_articles_and_store_what_one_by_one_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "EMBED_WINDOW", 7)
    embedder = FakeEmbedder()
    store = ChromaStore.persistent(tmp_path / "chroma", model_name=embedder.name)
    calls: list[int] = []
    embed = embedder.embed_documents
    monkeypatch.setattr(embedder, "embed_documents", lambda texts: calls.append(len(texts)) or embed(texts))
    articles = _articles(9)
    report = Ingestor(store, embedder).ingest_articles(articles)
    expected = [
        c for a in articles for c in chunk_text(
            a.id, a.text, config=ChunkerConfig(), count_tokens=embedder.token_counts,
            token_spans=embedder.token_spans, model_name=embedder.name)
    ]
    assert report.added == tuple(a.id for a in articles)
    assert sorted(h.chunk.id for h in store.all_chunks()) == sorted(c.id for c in expected)
    assert sorted(embedder.embedded) == sorted(c.text for c in expected)
    assert sum(calls) == len(expected) and 1 < len(calls) < len(articles)


def test_a_repeated_id_in_one_window_is_stored_as_its_last_version(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    store = ChromaStore.persistent(tmp_path / "chroma", model_name=embedder.name)
    first, other = _articles(2)
    revised = Article(id=first.id, title=first.title, text=first.text + " A closing line was added.")
    report = Ingestor(store, embedder).ingest_articles([first, other, revised])
    assert report.added == (first.id, other.id) and report.updated == (first.id,)
    stored = [h.chunk for h in store.all_chunks() if h.chunk.article_id == first.id]
    assert stored and all(revised.text[c.start : c.end] == c.text for c in stored)
    assert any(c.text.endswith("A closing line was added.") for c in stored)


def test_progress_callbacks_come_once_per_file_in_order_after_it_is_stored(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    store = ChromaStore.persistent(tmp_path / "chroma", model_name=embedder.name)
    folder = tmp_path / "news"
    folder.mkdir()
    for article in _articles(5):
        (folder / f"{article.id}.txt").write_text(article.text, encoding="utf-8")
    seen: list[tuple[int, int, bool]] = []
    Ingestor(store, embedder).ingest(
        [folder], on_file=lambda done, total, path: seen.append(
            (done, total, store.article(Path(path).stem) is not None))
    )
    assert seen == [(i, 5, True) for i in range(1, 6)]
