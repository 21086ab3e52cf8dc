"""The conversation so far, as one typed value: ``Turn(question, answer)`` pairs, oldest first.

Callers may pass history in the shapes people have at hand: a list of earlier questions
(strings), ``(question, answer)`` pairs, chat messages ``{"role": ..., "content": ...}``, or
``Turn`` values. ``parse_history`` turns any of them into ``tuple[Turn, ...]`` once, at the
chain's entrance; everything after it (follow-up detection, the LLM's question rewriting) reads
only ``Turn``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from qa.errors import QuestionError
from qa.models import Answer

# Older turns rarely matter to a follow-up and only cost tokens (LLM) or noise (retrieval).
MAX_TURNS = 20


@dataclass(frozen=True)
class Turn:
    """One exchange: the user's question and the answer it got (empty when unknown)."""

    question: str
    answer: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(content: Any) -> str:
    """A message's text: a string, or Gradio-style content parts (``{"text": ...}``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        return str(content.get("text") or "")
    if isinstance(content, list | tuple):
        return " ".join(_text(part) for part in content).strip()
    return ""


# An answer in the history is context only, and may be an LLM's paragraph: room for that, not for
# a megabyte that would be read at every follow-up (the rest is cut off).
ANSWER_LIMIT_FACTOR = 5


def check_text(text: str, what: str) -> None:
    """``QuestionError`` when ``text`` holds a lone surrogate: bytes that were not valid UTF-8
    (a stray byte in a shell argument arrives so), which no tokenizer accepts."""
    bad = next((i for i, ch in enumerate(text) if "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:
        raise QuestionError(
            f"{what} holds bytes that are not valid UTF-8 text (at character {bad + 1}); "
            "retype it or fix its encoding"
        )


def parse_history(history: Sequence[Any] | None, *, limit: int | None = None) -> tuple[Turn, ...]:
    """Any accepted history shape -> ``Turn`` values (blank questions dropped, newest kept);
    ``limit``: the longest question a turn may hold (its answer is cut to ``ANSWER_LIMIT_FACTOR``
    times that)."""
    if history is None:
        return ()
    if isinstance(history, str | bytes) or not isinstance(history, Sequence):
        raise QuestionError(
            "history must be a list (of questions, (question, answer) pairs or role/content "
            f"messages), got {type(history).__name__}"
        )
    turns: list[Turn] = []
    pending: str | None = None
    for position, item in enumerate(history):
        if isinstance(item, Turn):
            turns.append(item)
        elif isinstance(item, str):
            turns.append(Turn(item))
        elif isinstance(item, Mapping) and "role" in item:
            role, text = item.get("role"), _text(item.get("content"))
            if role == "user":
                if pending is not None:
                    turns.append(Turn(pending))
                pending = text
            elif role == "assistant" and pending is not None:
                turns.append(Turn(pending, text))
                pending = None
        elif isinstance(item, Answer):  # what ask() returned: its question and its text
            turns.append(Turn(item.question, item.text))
        elif isinstance(item, list | tuple) and 1 <= len(item) <= 2 and all(
            isinstance(part, str | Answer) or part is None for part in item
        ):
            # (question, answer): the answer as text, or as the Answer that ask() returned.
            question, answer = item[0], item[1] if len(item) > 1 else None
            if isinstance(question, Answer):
                raise QuestionError(f"history item {position}: the question comes first in a "
                                    "(question, answer) pair")
            turns.append(Turn(question or "", answer.text if isinstance(answer, Answer) else answer or ""))
        else:
            raise QuestionError(
                f"history item {position} is a {type(item).__name__}; use a question string, a "
                "(question, answer) pair, an Answer from ask() or a {'role': ..., 'content': ...} message"
            )
    if pending is not None:
        turns.append(Turn(pending))
    cleaned = [Turn(t.question.strip(), t.answer.strip()) for t in turns if t.question.strip()]
    kept = cleaned[-MAX_TURNS:]
    for n, turn in enumerate(kept, start=len(cleaned) - len(kept) + 1):
        check_text(turn.question, f"the question of history turn {n}")
        check_text(turn.answer, f"the answer of history turn {n}")
        # Measured as the question itself is (spaces collapsed): a question that was answered
        # must not fail the follow-up after it.
        length = len(" ".join(turn.question.split()))
        if limit is not None and length > limit:
            raise QuestionError(f"the question of history turn {n} is {length:,} characters long; "
                                f"the limit is {limit:,} (QA_MAX_QUESTION_CHARS)")
    # An answer is context only: its start is kept (an LLM's paragraph can be long).
    most = None if limit is None else limit * ANSWER_LIMIT_FACTOR
    return tuple(Turn(t.question, t.answer[:most]) for t in kept)
