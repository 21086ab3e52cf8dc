"""The conversation is parsed once into ``Turn`` values, whatever shape the caller had."""

from __future__ import annotations

import pytest

from qa.answer.followup import leans_on_history, standalone_query
from qa.answer.history import MAX_TURNS, Turn, parse_history
from qa.errors import QuestionError
from qa.models import Answer


def test_questions_pairs_messages_and_turns_all_become_turns() -> None:
    assert parse_history(["How many were killed?"]) == (Turn("How many were killed?"),)
    assert parse_history([("Q1", "A1 [1]"), ["Q2"]]) == (Turn("Q1", "A1 [1]"), Turn("Q2"))
    messages = [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": [{"type": "text", "text": "A1"}]},
        {"role": "user", "content": "Q2"},
    ]
    assert parse_history(messages) == (Turn("Q1", "A1"), Turn("Q2"))
    assert parse_history([Turn(" Q ", " A ")]) == (Turn("Q", "A"),)


def test_the_answers_ask_returned_are_history_as_they_are() -> None:
    """`history=[(q, a1)]` with `a1 = ask(q)` was refused as "a tuple" while the message itself
    offered "(question, answer) pairs"."""
    first = Answer(question="How many were killed?", text="Twelve. [1]", answered=True)
    turn = Turn("How many were killed?", "Twelve. [1]")
    assert parse_history([("How many were killed?", first)]) == (turn,)
    assert parse_history([first]) == (turn,)
    with pytest.raises(QuestionError, match="the question comes first"):
        parse_history([(first, "How many were killed?")])


def test_blank_questions_are_dropped_and_only_the_latest_turns_kept() -> None:
    assert parse_history(["", "  ", "Q"]) == (Turn("Q"),)
    many = [f"question {i}" for i in range(MAX_TURNS + 5)]
    assert parse_history(many)[0] == Turn("question 5")


@pytest.mark.parametrize("bad", [[42], [{"content": "no role"}], [("q", "a", "extra")]])
def test_an_item_of_unknown_shape_is_refused_with_its_position(bad: list[object]) -> None:
    with pytest.raises(QuestionError, match="history item 0"):
        parse_history(bad)


def test_a_string_is_not_a_history() -> None:
    with pytest.raises(QuestionError, match="must be a list"):
        parse_history("How many were killed?")  # type: ignore[arg-type]


@pytest.mark.parametrize("question", [
    "And how many were injured?", "What about the soldiers?", "Why did they come?", "Injured?",
])
def test_elliptical_follow_ups_lean_on_the_conversation(question: str) -> None:
    assert leans_on_history(question)


@pytest.mark.parametrize("question", [
    "Who is the president of Kazakhstan?", "How many policemen were killed in Almaty?",
])
def test_self_contained_questions_stand_alone(question: str) -> None:
    assert not leans_on_history(question)
    assert standalone_query(question, (Turn("Where is Almaty?"),)) == question


def test_a_follow_up_is_searched_with_the_previous_question() -> None:
    history = (Turn("Earlier one?"), Turn("How many policemen were killed in Almaty?", "Twelve [1]"))
    assert standalone_query("And injured?", history) == (
        "How many policemen were killed in Almaty? And injured?"
    )
    assert standalone_query("And injured?", ()) == "And injured?"
