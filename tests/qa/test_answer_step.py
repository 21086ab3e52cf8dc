"""The learned answer step on the sample article (real model): meaning, spans, follow-ups,
abstention and calibrated confidence."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from qa.answer.citations import NOT_FOUND
from qa.answer.model import AnswererModel, default_model
from qa.answer.spans import candidates, is_factoid
from tests.conftest import SAMPLE_QUESTIONS

ARTICLE = "kazakhstan-unrest"


@pytest.mark.xfail(strict=True, reason="known gap (issue 12): MiniLM scores 'military is being "
                   "transported ... by air' far below other sentences for 'troops getting there' "
                   "('The troops have arrived in the square...' is answered, confidence 0.51)")
def test_paraphrase_about_transport_picks_the_by_air_sentence(sample_assistant) -> None:
    answer = sample_assistant.ask("How are the troops getting there?")
    assert answer.answered
    assert "by air" in answer.citations[0].quote


@pytest.mark.xfail(strict=True, reason="known gap (issue 12): with the answerer refitted on all "
                   "2,153 SQuAD train questions the 'exploded over expensive fuel' sentence no longer "
                   "ranks first (Russia 'sending of troops ... upset by the riots' does), and the "
                   "confidence (0.20) is below the threshold (0.33)")
def test_why_question_is_answered_by_the_cause_sentence(sample_assistant) -> None:
    answer = sample_assistant.ask("Why did the riots in Kazakhstan break out?")
    assert answer.answered
    assert "expensive fuel" in answer.text


@pytest.mark.xfail(strict=True, reason="known gap (issue 12): reader-v1 reads 'how many ... killed' "
                   "weakly (its best span is 'Twelve policemen have been killed and 353', then '353'), "
                   "so spans-v3 gives 'Twelve' 0.51 here, below the 0.60 floor, and the answer is the "
                   "sentence alone (spans-v2 gave it 0.90)")
def test_the_headline_count_leads_the_answer(sample_assistant) -> None:
    answer = sample_assistant.ask("How many policemen were killed in Almaty?")
    assert answer.short is not None and answer.short.text == "Twelve"


def test_short_answer_leads_and_is_verbatim_at_its_offsets(sample_assistant) -> None:
    answer = sample_assistant.ask("How many policemen were killed?")
    short = answer.short
    assert short is not None and short.text == "Twelve"
    text = sample_assistant.article_text(short.article_id)
    assert text[short.start : short.end] == short.text
    cited = next(c for c in answer.citations if c.n == short.citation)
    assert cited.quote[short.quote_offset :][: len(short.text)] == short.text
    assert cited.context[short.context_offset :][: len(short.text)] == short.text
    assert answer.text.startswith('Twelve. "Twelve policemen')
    assert json.loads(json.dumps(answer.to_dict()))["short"]["text"] == "Twelve"


def test_followup_answers_the_new_slot(sample_assistant) -> None:
    history = ["How many policemen were killed in the riots in Almaty?"]
    answer = sample_assistant.ask("And how many were injured?", history=history)
    assert answer.answered and answer.short is not None
    assert answer.short.text.startswith("353")


def test_list_question_returns_the_sentence_that_lists_the_members(sample_assistant) -> None:
    answer = sample_assistant.ask("Which countries belong to the CSTO?")
    assert answer.answered
    assert all(name in answer.text for name in ("Armenia", "Belarus", "Tajikistan"))


def test_tempting_unanswerable_abstains(sample_assistant) -> None:
    answer = sample_assistant.ask("How many soldiers did Belarus send to Kazakhstan?")
    assert not answer.answered and answer.text == NOT_FOUND and answer.short is None


def test_confidence_is_a_probability_and_higher_for_right_answers(sample_assistant) -> None:
    questions = [json.loads(line) for line in SAMPLE_QUESTIONS.read_text().splitlines() if line.strip()]
    right, wrong = [], []
    for q in questions:
        answer = sample_assistant.ask(q["question"], history=q.get("history", []))
        assert 0.0 <= answer.confidence <= 1.0
        ok = bool(q["answers"]) and any(g.lower() in answer.text.lower() for g in q["answers"])
        (right if ok else wrong).append(answer.confidence)
    assert right and wrong and np.mean(right) > np.mean(wrong)


def test_shipped_weights_load_without_scikit_learn_and_round_trip() -> None:
    model = default_model()
    again = AnswererModel.from_dict(json.loads(json.dumps(model.to_dict())))
    rows = np.ones((2, len(model.sentence.features)))
    assert np.allclose(model.sentence.proba(rows), again.sentence.proba(rows))
    assert 0.0 < model.threshold < 1.0


@pytest.mark.parametrize(
    ("sentence", "phrase"),
    [
        ("Twelve policemen have been killed and 353 injured in the riots in Almaty.", "353"),
        ("The game was played on February 7, 2016, at Levi's Stadium.", "February 7, 2016"),
        ("It was led by the University of Chicago in 1998.", "University of Chicago"),
    ],
)
def test_span_candidates_include_the_answer_verbatim(sentence: str, phrase: str) -> None:
    found = candidates(sentence)
    assert phrase in [c.text for c in found]
    assert all(sentence[c.start : c.end] == c.text for c in found)


def test_only_factoid_questions_get_a_short_answer() -> None:
    assert is_factoid("How many policemen were killed?")
    assert is_factoid("Who addressed Putin directly?")
    assert not is_factoid("Why did the riots break out?")
    assert not is_factoid("How are the troops getting there?")


def test_a_short_answer_that_is_not_verbatim_is_dropped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    from qa.answer.citations import finalize
    from qa.answer.composer import ComposeRequest, Draft, Quote, Segment

    text = "Twelve policemen were killed. The square was cleared."
    sentence = Quote("a", 0, 29, text[0:29], 0, 1.0)
    request = ComposeRequest("How many policemen were killed?", "q", (), ())
    good = Draft(True, (Segment(sentence.text, (sentence,)),), 0.9, "extractive",
                 short=Quote("a", 0, 6, "Twelve", 0, 0.8))
    answer = finalize(request, good, {"a": text}, timings={})
    assert answer.short is not None and answer.short.citation == 1 and answer.short.quote_offset == 0
    assert answer.text == 'Twelve. "Twelve policemen were killed." [1]'
    bad = Draft(True, good.segments, 0.9, "extractive", short=Quote("a", 0, 6, "TWELVE", 0, 0.8))
    with caplog.at_level(logging.WARNING):
        answer = finalize(request, bad, {"a": text}, timings={})
    assert answer.short is None and answer.text == "Twelve policemen were killed. [1]"
    assert "short answer" in caplog.text
    outside = Draft(True, good.segments, 0.9, "extractive", short=Quote("a", 34, 40, "square", 0, 0.8))
    assert finalize(request, outside, {"a": text}, timings={}).short is None


def test_a_floor_of_zero_always_leads_with_the_best_phrase(sample_assistant, real_embedder) -> None:  # type: ignore[no-untyped-def]
    """``QA_SHORT_ANSWER_FLOOR=0``: the phrase the fitted floor hides (above) is shown, verified."""
    from qa.assistant import Assistant

    settings = sample_assistant.settings.model_copy(update={"short_answer_floor": 0.0})
    answer = Assistant(settings, embedder=real_embedder).ask("How many policemen were killed in Almaty?")
    short = answer.short
    assert short is not None and answer.text.startswith(short.text.rstrip(".") + ".")
    assert sample_assistant.article_text(short.article_id)[short.start : short.end] == short.text
