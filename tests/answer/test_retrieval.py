"""Hybrid retrieval on a real Chroma with the fake embedder: BM25 ranking, filters, fusion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from index.dates import date_to_timestamp
from index.models import Chunk, ChunkHit
from qa.answer.retrieval import SearchOptions
from qa.errors import QuestionError

ARTICLES = [
    {"id": "ferry", "title": "Ferry", "published": "2022-01-03",
     "text": "The council approved a new ferry to Quillby island. The ferry will carry 400 people."},
    {"id": "budget", "title": "Budget", "published": "2022-02-10",
     "text": "The council passed its budget. Spending on roads rises by a tenth."},
    {"id": "match", "title": "Match", "published": "2022-03-15",
     "text": "The home side won the cup final. The captain scored twice in the second half."},
]


def _indexed(fake_assistant: Any, tmp_path: Path) -> Any:
    path = tmp_path / "articles.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES))
    assert fake_assistant.ingest([path]).ok
    return fake_assistant.chain.retriever


def test_a_rare_exact_word_ranks_its_chunk_first_lexically(fake_assistant: Any, tmp_path: Path) -> None:
    retriever = _indexed(fake_assistant, tmp_path)
    passages, timings = retriever.retrieve("Quillby", SearchOptions(k=3))
    assert passages[0].article_id == "ferry"
    assert passages[0].lexical_score is not None and passages[0].lexical_score > 0
    assert all(p.lexical_score is None for p in passages[1:])  # no other chunk holds the word
    assert {"embed", "search", "rank"} <= set(timings)


def test_filters_hold_on_both_sides(fake_assistant: Any, tmp_path: Path) -> None:
    retriever = _indexed(fake_assistant, tmp_path)
    only = retriever.retrieve("council ferry budget", SearchOptions(k=5, article_ids=("budget",)))[0]
    assert {p.article_id for p in only} == {"budget"}
    dated = retriever.retrieve(
        "council", SearchOptions(k=5, published_from="2022-02-01", published_to="2022-02-28")
    )[0]
    assert {p.article_id for p in dated} == {"budget"}


def test_a_reversed_date_range_is_refused_not_answered_not_found() -> None:
    said = "the date range is reversed: its start 2025-03-01 is after its end 2025-01-01"
    with pytest.raises(QuestionError, match=said):
        SearchOptions(published_from="2025-03-01", published_to="2025-01-01").where()
    assert SearchOptions(published_from="2025-03-01", published_to="2025-03-01").where() is not None
    # An end given as a month or a year is its last day (it was read as its first day).
    ends = [("2025-03-15", "2025-03", "2025-03-31"), ("2025-06-01", "2025", "2025-12-31"),
            ("2024-02-10", "February 2024", "2024-02-29"), ("2025-12-02", "2025-12", "2025-12-31")]
    for start, end, last in ends:
        where = SearchOptions(published_from=start, published_to=end).where()
        assert where is not None
        hi = where["$and"][1]["published_ts"]["$lte"]
        assert hi == date_to_timestamp(last) + 86_399, (end, hi)


def test_dense_only_has_no_lexical_scores(fake_assistant: Any, tmp_path: Path) -> None:
    retriever = _indexed(fake_assistant, tmp_path)
    passages = retriever.retrieve("Quillby ferry", SearchOptions(k=3, hybrid=False))[0]
    assert passages and all(p.lexical_score is None for p in passages)


def _hit(chunk_id: str, text: str, start: int, score: float = 0.0) -> ChunkHit:
    chunk = Chunk(chunk_id, chunk_id.split("#")[0], 0, start, start + len(text), text)
    return ChunkHit(chunk=chunk, title="A", source="a.txt", published=None, score=score)


def test_fusion_takes_text_and_offsets_from_the_store(fake_assistant: Any, tmp_path: Path) -> None:
    retriever = _indexed(fake_assistant, tmp_path)
    fresh = _hit("a#1", "The ferry carries 400 people.", 10, 0.8)
    (passage,) = retriever._fuse([fresh], [("a#1", 3.2)], k=5)
    assert (passage.text, passage.start) == (fresh.chunk.text, 10)
    assert passage.dense_score == 0.8 and passage.lexical_score == 3.2
    # A keyword hit the store no longer has (deleted between the two searches) is skipped.
    assert [p.chunk_id for p in retriever._fuse([fresh], [("gone#9", 9.0), ("a#1", 3.2)], k=5)] == ["a#1"]
    # Both lists vote: a chunk found by both outranks one found by either alone.
    other = _hit("b#1", "Other", 0, 0.9)
    fused = retriever._fuse([other, fresh], [("a#1", 3.2)], k=5)
    assert [p.chunk_id for p in fused] == ["a#1", "b#1"]
