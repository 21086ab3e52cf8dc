"""The BBC reader question set: its mix, its train/dev split by article, and its fit to the corpus."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.bbc import DEFAULT_ARTICLES, load_articles, load_bbc_questions, problems
from index.models import Article
from qa.eval.questionsets import Question


def test_bbc_set_reads_without_warnings_and_has_the_promised_mix() -> None:
    loaded = load_bbc_questions()
    questions = list(loaded)
    kinds = Counter(q.kind for q in questions)
    assert loaded.warnings == ()
    assert len(questions) >= 150 and len({q.article for q in questions}) >= 30
    assert kinds["unanswerable"] >= 30 and kinds["followup"] >= 10 and kinds["paraphrase"] >= 30
    assert kinds["why"] + kinds["how"] >= 15 and kinds["list"] >= 5
    assert all(q.history for q in questions if q.kind == "followup")
    assert all(not q.answerable for q in questions if q.kind == "unanswerable")
    assert {q.article.split("-")[1] for q in questions if q.article} == {
        "business", "entertainment", "politics", "sport", "tech"
    }


def test_bbc_split_is_by_article_and_about_half_and_half() -> None:
    dev, train = load_bbc_questions("dev"), load_bbc_questions("train")
    assert not {q.article for q in dev} & {q.article for q in train}
    assert abs(len(dev) - len(train)) <= (len(dev) + len(train)) // 10
    assert sum(not q.answerable for q in dev) >= 10 and sum(not q.answerable for q in train) >= 10
    extra = load_bbc_questions("extra")  # training questions used only on request
    assert len(extra) >= 100 and not {q.article for q in extra} & {q.article for q in [*dev, *train]}


@pytest.mark.skipif(not DEFAULT_ARTICLES.is_file(), reason=f"the BBC corpus is not at {DEFAULT_ARTICLES}")
def test_bbc_evidence_is_verbatim_in_the_corpus_as_ingest_reads_it() -> None:
    articles = load_articles()
    assert len(articles) == 2225
    assert problems(list(load_bbc_questions()), articles) == []


def test_problems_names_each_unfair_question() -> None:
    articles = [
        Article(id="a", title="A", text="Rain fell. Twelve died."),
        Article(id="b", title="B", text="x"),
        Article(id="b-copy", title="B", text="x"),
    ]
    questions = [
        Question("ok", "How many died?", ("Twelve",), ("Twelve died.",), "a", split="dev"),
        Question("moved", "Q?", ("Rain",), ("Snow fell.",), "a", split="train"),
        Question("lost", "Q?", (), (), "gone", split="dev"),
        Question("loose", "Q?", ("Seven",), ("Rain fell.",), "b", split="exam", article_aliases=("c",)),
        Question("copy", "Q?", (), (), "b-copy", split="train"),
    ]
    assert problems(questions, articles) == [
        "moved: evidence not verbatim: 'Snow fell.'",
        "moved: no gold answer inside its evidence",
        "lost: article 'gone' is not in the corpus",
        "loose: evidence not verbatim: 'Rain fell.'",
        "loose: alias 'c' is not in the corpus",
        "loose: no gold answer inside its evidence",
        "loose: split 'exam' is not one of train, dev, extra",
        "copy: article 'b-copy' is an exact copy of 'b', which ingest keeps",
        "article a has questions in both splits",
    ]
