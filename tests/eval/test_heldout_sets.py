"""The held-out ``test`` question sets: read by the project's loader, untouched by training, verbatim.

``bench/data/bbc-heldout.jsonl`` (BBC corpus) and ``qa/samples/questions/kazakhstan-heldout.jsonl``
(the sample article) are a third split for the final report: nothing trains or tunes on them, so
they must not share an article (BBC) or a question with the sets that the answerer is fitted on.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.bbc import DEFAULT_ARTICLES, load_articles, problems
from index.loaders import load_file
from qa.eval.questionsets import Question, QuestionSet, load_questions
from tests.conftest import ROOT, SAMPLE_ARTICLES, SAMPLE_QUESTIONS

BBC_HELDOUT = ROOT / "bench" / "data" / "bbc-heldout.jsonl"
BBC_TUNED = ROOT / "bench" / "data" / "bbc-questions.jsonl"
KZ_HELDOUT = SAMPLE_QUESTIONS.with_name("kazakhstan-heldout.jsonl")
KZ_TUNED = (SAMPLE_QUESTIONS, SAMPLE_QUESTIONS.with_name("kazakhstan-readers.jsonl"))


def _sound(path: Path, prefix: str) -> QuestionSet:
    """Checks shared by both sets; returns the loaded set."""
    loaded = load_questions(path)
    questions = list(loaded)
    assert loaded.warnings == ()
    assert len({q.id for q in questions}) == len(questions)
    assert all(q.id.startswith(prefix) for q in questions)
    assert {q.split for q in questions} == {"test"}
    for q in questions:
        assert q.answerable == bool(q.evidence) == (q.kind != "unanswerable"), q.id
        assert bool(q.history) == (q.kind == "followup"), q.id
        if q.answerable:
            assert any(a in e for a in q.answers for e in q.evidence), q.id
    return loaded


def _aliases(q: Question) -> set[str]:
    return {q.article or "", *q.article_aliases}


def test_bbc_heldout_has_the_promised_mix_and_no_tuned_article() -> None:
    questions = list(_sound(BBC_HELDOUT, "bbc-h"))
    kinds = Counter(q.kind for q in questions)
    assert len(questions) >= 120 and len({q.article for q in questions}) >= 25
    assert kinds["unanswerable"] >= 35 and kinds["factoid"] >= 30 and kinds["paraphrase"] >= 25
    assert kinds["why"] + kinds["how"] >= 15 and kinds["followup"] >= 10 and kinds["list"] >= 5
    assert {(q.article or "").split("-")[1] for q in questions} == {
        "business", "entertainment", "politics", "sport", "tech"
    }
    tuned = list(load_questions(BBC_TUNED))
    tuned_articles = set().union(*(_aliases(q) for q in tuned))
    assert not set().union(*(_aliases(q) for q in questions)) & tuned_articles
    assert not {q.question for q in questions} & {q.question for q in tuned}


def test_kazakhstan_heldout_is_verbatim_in_the_sample_article_and_new() -> None:
    questions = list(_sound(KZ_HELDOUT, "kz-h"))
    kinds = Counter(q.kind for q in questions)
    assert len(questions) == 30 and kinds["unanswerable"] >= 8
    assert kinds["paraphrase"] >= 5 and kinds["why"] + kinds["how"] >= 4 and kinds["followup"] >= 5
    loaded = load_file(SAMPLE_ARTICLES / "kazakhstan-unrest.txt", max_bytes=1_000_000)
    (article,) = loaded.articles
    assert {q.article for q in questions} == {article.id}
    for q in questions:
        assert all(e in article.text for e in q.evidence), q.id
        assert all(a in article.text for a in q.answers), q.id
    tuned = {q.question.casefold() for path in KZ_TUNED for q in load_questions(path)}
    assert not {q.question.casefold() for q in questions} & tuned


@pytest.mark.skipif(not DEFAULT_ARTICLES.is_file(), reason=f"the BBC corpus is not at {DEFAULT_ARTICLES}")
def test_bbc_heldout_answers_and_evidence_are_verbatim_in_the_corpus() -> None:
    articles = load_articles()
    texts = {a.id: a.text for a in articles}
    questions = list(load_questions(BBC_HELDOUT))
    # problems() knows only the tuned set's splits; everything else it reports must be absent.
    found = [p for p in problems(questions, articles) if "split 'test' is not one of" not in p]
    assert found == []
    for q in questions:
        assert all(a in texts[q.article or ""] for a in q.answers), q.id
