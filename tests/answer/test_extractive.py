"""The extractive answer step on hand-made passages: ranking, answer shape and abstention."""

from __future__ import annotations

from qa.answer.composer import ComposeRequest
from qa.answer.extractive import ExtractiveComposer
from qa.models import Passage

TEXT = (
    "Troops from the alliance arrived on Friday. About 2,500 soldiers were sent to the capital. "
    "The president thanked the allies. Prices of fuel had doubled in a week."
)


def _passages(*texts: str) -> tuple[Passage, ...]:
    return tuple(
        Passage(chunk_id=f"a#{i}", article_id=f"a{i}", title="T", source="a.txt", published=None,
                start=0, end=len(t), text=t, score=1.0 / (i + 1), rank=i)
        for i, t in enumerate(texts)
    )


def _compose(question: str, *texts: str, known: set[str] | None = None) -> object:
    vocabulary = known if known is not None else set()
    composer = ExtractiveComposer(lambda term: 1.0, known=lambda term: term in vocabulary)
    return composer.compose(ComposeRequest(question, question, (), _passages(*texts)))


def test_the_sentence_that_answers_ranks_first() -> None:
    draft = _compose("How many soldiers were sent?", TEXT)
    assert draft.answered  # type: ignore[attr-defined]
    first = draft.segments[0]  # type: ignore[attr-defined]
    assert first.text == "About 2,500 soldiers were sent to the capital."
    (quote,) = first.quotes
    assert TEXT[quote.start : quote.end] == quote.text


def test_quotes_point_into_the_article_not_the_passage() -> None:
    lead = "Intro paragraph. "
    passage = Passage(chunk_id="a#0", article_id="a", title="T", source="a.txt", published=None,
                      start=len(lead), end=len(lead) + len(TEXT), text=TEXT, score=1.0, rank=0)
    composer = ExtractiveComposer(lambda term: 1.0)
    draft = composer.compose(ComposeRequest("How many soldiers were sent?", "", (), (passage,)))
    quote = draft.segments[0].quotes[0]
    assert (lead + TEXT)[quote.start : quote.end] == quote.text


def test_a_question_about_a_name_no_article_mentions_abstains() -> None:
    draft = _compose("How many soldiers did Belarus send?", TEXT, known={"soldier", "sent"})
    assert not draft.answered  # type: ignore[attr-defined]
    assert draft.segments == ()  # type: ignore[attr-defined]


def test_a_question_sharing_no_words_with_the_passages_abstains() -> None:
    draft = _compose("Who won the tennis final at Wimbledon?", TEXT)
    assert not draft.answered  # type: ignore[attr-defined]


def test_confidence_is_a_number_between_zero_and_one() -> None:
    for question in ("How many soldiers were sent?", "Who won the tennis final?"):
        confidence = _compose(question, TEXT).confidence  # type: ignore[attr-defined]
        assert 0.0 <= confidence <= 1.0
