"""Honest "not found" on tempting unanswerables, and the answer-type evidence behind it.

Unit tests pin the evidence features the confidence model reads (``qa.answer.features``) and the
synthetic unanswerable twins the training script makes; the fixture-corpus tests run the real
model over three small news stories written for this test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.answer_data import Asked
from bench.train_answerer import ece, without_answer
from qa.answer.composer import ComposeRequest
from qa.answer.extractive import ExtractiveComposer
from qa.answer.features import (
    ABSENT,
    EVIDENCE_FEATURES,
    evidence_row,
    question_profile,
    typed_evidence,
)
from qa.answer.model import CONFIDENCE_FEATURES, default_model
from qa.models import Passage

STORIES = [
    {"id": "bank-deal", "title": "Harbour Bank buys stake in Medina Finance",
     "text": "Harbour Bank has agreed to buy a controlling stake in Medina Finance, the lender based "
             "in Porto. The price of the deal was not disclosed. Harbour Bank's chief executive, "
             "Laura Gant, said the purchase would give the bank 400 new branches in Portugal. "
             "Shares in Harbour Bank rose 3% after the announcement on Tuesday. Medina Finance "
             "employs 5,200 people and was founded in 1921."},
    {"id": "rail-line", "title": "Decision on Kelby rail line delayed",
     "text": "Plans to reopen the Kelby rail line have been delayed again. The regional council said "
             "it has yet to decide whether to fund the project. Campaigners have collected 12,000 "
             "signatures in support of the line, which closed in 1969. Reopening the Kelby line "
             "would cost £85m, according to the campaigners. Council leader Tom Ashby said a report "
             "on the costs would be published in the spring."},
    {"id": "port-strike", "title": "Dock workers strike at Velport",
     "text": "Dock workers at Velport walked out on Monday. The strike broke out over a plan to cut "
             "night-shift pay by a fifth. Union leader Amir Sandhu said 900 members had joined the "
             "action. Ships are being diverted to Northam by sea while the port is closed. The port "
             "handles a quarter of the country's grain exports."},
]


def _profile(question: str) -> object:
    return question_profile(question, question, lambda term: 1.0)


@pytest.mark.parametrize(
    ("sentence", "question", "expected"),
    [
        ("Barclays is paying £2.9bn for the stake.", "How much is Barclays paying for the stake?", True),
        ("Barclays is buying 60% of the bank.", "How much is Barclays paying for the stake?", False),
        ("It has 400 new branches in Portugal.", "How many branches will it gain?", True),
        ("Branches opened in 2004 and 400 staff left.", "How many branches will it gain?", False),
        ("The company is based in Porto.", "Where is the company based?", True),
        ("Harbour Bank bought Medina.", "Who bought Medina?", True),
        ("Medina was bought.", "Who bought Medina?", False),
        ("The strike broke out over a plan to cut pay.", "Why did the strike break out?", True),
        ("Ships are diverted to Northam by sea.", "How are ships getting to Northam?", True),
    ],
)
def test_typed_evidence_wants_the_asked_kind_and_not_the_questions_own_words(
    sentence: str, question: str, expected: bool
) -> None:
    kind = _profile(question).kind  # type: ignore[attr-defined]
    assert typed_evidence(sentence, kind, question) is expected


@pytest.mark.parametrize(
    "sentence",
    ["The price of the deal was not disclosed.", "The council has yet to decide whether to fund it.",
     "A spokesman declined to comment on the fee.", "The cost is still unclear."],
)
def test_absent_cues_say_the_fact_is_not_there(sentence: str) -> None:
    assert ABSENT.search(sentence)


def test_no_absent_cue_in_a_plain_statement() -> None:
    assert not ABSENT.search("Harbour Bank paid £300m for the stake on Tuesday.")


def test_evidence_row_reads_focus_names_and_absence() -> None:
    profile = question_profile("How much did Harbour Bank pay for Medina Finance?",
                               "How much did Harbour Bank pay for Medina Finance?", lambda t: 1.0)
    sentence = "The price of the deal was not disclosed."
    row = dict(zip(EVIDENCE_FEATURES, evidence_row(profile, sentence, sentence, sentence), strict=True))
    assert row["ev_typed"] == 0.0 and row["ev_absent"] == 1.0 and row["kind_money"] == 1.0
    assert row["ev_names_window"] == 0.0 and row["ev_focus_missing"] > 0.5
    said = "Harbour Bank paid £300m for Medina Finance."
    row = dict(zip(EVIDENCE_FEATURES, evidence_row(profile, said, said, said), strict=True))
    assert row["ev_typed"] == 1.0 and row["ev_absent"] == 0.0 and row["ev_names_window"] == 1.0


def test_the_shipped_confidence_model_reads_the_evidence_features() -> None:
    model = default_model()
    assert set(EVIDENCE_FEATURES) <= set(model.confidence.features) <= set(CONFIDENCE_FEATURES)
    assert "best_dense" not in model.confidence_lexical.features
    assert model.meta["data"].get("squad_synthetic_unanswerable", 0) > 1000


def test_synthetic_twin_cuts_every_sentence_holding_the_answer() -> None:
    text = STORIES[0]["text"]
    passage = Passage("bank-deal#0", "bank-deal", "T", "s", None, 0, len(text), text, 1.0, rank=0)
    question = {"question": "How many people does Medina Finance employ?", "answers": ["5,200"],
                "article": "bank-deal"}
    asked = Asked(question, ComposeRequest(question["question"], question["question"], (), (passage,)))
    composer = ExtractiveComposer(lambda term: 1.0)
    table = composer.table(asked.request)
    labels = np.array([int("5,200" in c.text) for c in table.candidates])
    twin = without_answer(asked, labels, table)
    assert twin is not None and twin.answers == []
    (kept,) = twin.request.passages
    assert "5,200" not in kept.text and "Medina Finance" in kept.text and "not disclosed" in kept.text
    assert without_answer(asked, np.zeros_like(labels), table) is None


def test_ece_is_zero_for_perfect_calibration_and_large_for_overconfidence() -> None:
    y = np.array([1, 0] * 50, dtype=float)
    assert ece(np.full(100, 0.5), y) == pytest.approx(0.0)
    assert ece(np.full(100, 0.95), y) == pytest.approx(0.45)


@pytest.fixture(scope="module")
def stories_assistant(tmp_path_factory: pytest.TempPathFactory, real_embedder):  # type: ignore[no-untyped-def]
    from qa.assistant import Assistant
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("stories")
    path = root / "stories.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in STORIES))
    assistant = Assistant(Settings(data_dir=Path(root) / "data"), embedder=real_embedder)
    assistant.ingest([path])
    return assistant


@pytest.mark.parametrize(
    "question",
    ["How much did Harbour Bank pay for its stake in Medina Finance?",
     "How much is Medina Finance worth?",
     pytest.param("When will the regional council decide on funding the Kelby rail line?",
                  marks=pytest.mark.xfail(strict=True, reason=(
                      "known gap (issue 12): 'has yet to decide' answers it with confidence 0.58; "
                      "the training split has no such unanswerable, and 6 of 7 answerable training "
                      "questions with an absence cue near the answer were answered right, so no "
                      "rule was added"))),
     ],
)
def test_tempting_unanswerable_over_a_fixture_corpus_abstains(stories_assistant, question: str) -> None:  # type: ignore[no-untyped-def]
    answer = stories_assistant.ask(question)
    assert not answer.answered, (answer.text, answer.confidence)


@pytest.mark.parametrize(
    ("question", "expected"),
    [("How many new branches will Harbour Bank gain in Portugal?", "400"),
     ("How many people does Medina Finance employ?", "5,200"),
     ("How much would it cost to reopen the Kelby rail line?", "£85m")],
)
def test_answerable_questions_on_the_same_stories_are_answered(stories_assistant, question: str,  # type: ignore[no-untyped-def]
                                                               expected: str) -> None:
    answer = stories_assistant.ask(question)
    assert answer.answered and expected in answer.text, (answer.text, answer.confidence)


WHY = "Why did the dock workers at Velport go on strike?"


@pytest.mark.xfail(strict=True, reason="known gap (issue 12): 'Dock workers at Velport walked out on "
                   "Monday.' shares more of the question's words and ranks above the cause sentence; "
                   "why-questions are 2.6% of the training questions and the why/cause feature stays weak")
def test_why_question_is_answered_with_its_cause_sentence(stories_assistant) -> None:  # type: ignore[no-untyped-def]
    answer = stories_assistant.ask(WHY)
    assert answer.answered, answer.confidence
    assert "over a plan to cut night-shift pay" in answer.citations[0].quote
