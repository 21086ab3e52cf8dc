"""The news-shapes benchmark's data: the questions load as a question set, every evidence sentence
is verbatim in its article, every figure expected of a conflict is in its evidence, and the
dev/test split is by event (no event in both)."""

from __future__ import annotations

import json

from bench.news_shapes import CORPUS, QUESTIONS, load_questions, scores
from qa.eval.questionsets import load_questions as load_question_set


def test_the_questions_are_a_question_set_with_verbatim_evidence() -> None:
    articles = {a["id"]: a for a in map(json.loads, CORPUS.read_text(encoding="utf-8").splitlines())}
    assert all(a["published"] and a["source"] for a in articles.values())
    rows = load_questions()
    assert len(load_question_set(QUESTIONS)) == len(rows) >= 50
    splits: dict[str, set[str]] = {}
    for row in rows:
        ids = [row["article"], *row.get("article_aliases", [])]
        assert all(any(e in articles[a]["text"] for a in ids) for e in row["evidence"]), row["id"]
        assert all(a.startswith(row["event"] + "-") for a in ids)
        assert row["expect"] in ("conflict", "stories", "single")
        if row["expect"] == "conflict":
            assert len(set(row["figures"])) >= 2, row["id"]
        splits.setdefault(row["event"], set()).add(row["split"])
    assert all(len(s) == 1 for s in splits.values())
    assert {s for ss in splits.values() for s in ss} == {"dev", "test"}


def test_scores_count_what_each_shape_got_right() -> None:
    from bench.news_shapes import Outcome

    def one(expect: str, found: tuple[float, ...], stories: bool) -> Outcome:
        return Outcome("q", "dev", "e", expect, "?", (18.0, 7.0) if expect == "conflict" else (),
                       found, stories, 2, "")

    got = scores([one("conflict", (7.0, 18.0), False), one("conflict", (18.0, 12.0), False),
                  one("single", (3.0, 4.0), False), one("stories", (), True), one("single", (), True)])
    assert got["conflict recall (fired)"] == "2/2 = 1.00"
    assert got["conflict recall (figures exact)"] == "1/2 = 0.50"
    assert got["conflict precision"] == "2/3 = 0.67"
    assert got["false conflicts on single"] == "1/2 = 0.50"
    assert got["stories precision"] == "1/2 = 0.50"
    assert got["all right"] == "2/5 = 0.40"
