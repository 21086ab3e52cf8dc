"""A scripted stand-in for the assistant: hand-made answers whose scores are known."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qa.errors import QuestionError
from qa.eval.questionsets import Question
from qa.models import Answer, Citation, Passage

ARTICLE = "Twelve policemen were killed in Almaty. About 400 were hospitalized. The airport was retaken."
KILLED = "Twelve policemen were killed in Almaty."
HOSPITAL = "About 400 were hospitalized."


def passage(rank: int, start: int, end: int, article: str = "kz") -> Passage:
    text = ARTICLE[start:end]
    return Passage(f"{article}:{rank}", article, "T", "s", None, start, end, text, 1.0 / rank, rank=rank)


def cite(n: int, start: int, end: int, *, quote: str | None = None, article: str = "kz") -> Citation:
    return Citation(n, article, "T", "s", start, end, ARTICLE[start:end] if quote is None else quote, 1.0)


class ScriptedAssistant:
    """Answers from a script keyed by question; records what it was asked."""

    def __init__(self, script: dict[str, Answer | Exception]) -> None:
        self.script = script
        self.asked: list[tuple[str, list[str], dict[str, Any]]] = []

    def ask(self, question: str, *, history: Sequence[Any] = (), **options: Any) -> Answer:
        self.asked.append((question, list(history), options))
        reply = self.script[question]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def article_text(self, article_id: str) -> str | None:
        return ARTICLE if article_id == "kz" else None


H0, H1 = 0, len(KILLED)
P_KILLED, P_HOSPITAL, P_AIRPORT = passage(1, 0, 39), passage(2, 40, 68), passage(3, 69, len(ARTICLE))


def answer(
    question: str,
    text: str,
    *,
    answered: bool = True,
    confidence: float = 0.9,
    citations: tuple[Citation, ...] = (),
    passages: tuple[Passage, ...] = (),
) -> Answer:
    return Answer(
        question,
        text,
        answered,
        citations,
        passages,
        {"embed": 0.01, "compose": 0.02, "total": 0.03},
        confidence=confidence,
    )


QUESTIONS = [
    Question("good", "How many policemen died?", ("Twelve",), (KILLED,), "kz"),
    Question("late", "How many in hospital?", ("About 400", "400"), (HOSPITAL,), "kz", ("How many died?",)),
    Question("none", "Who won the cup?", (), (), "kz"),
    Question("boom", "Explode?", ("Twelve",), (KILLED,), "kz"),
]


def scripted_assistant() -> ScriptedAssistant:
    return ScriptedAssistant(
        {
            # Right answer, evidence at rank 1, one span cited twice (counts once), one citation of no gold.
            "How many policemen died?": answer(
                "How many policemen died?",
                f"{KILLED} [1] The airport was retaken. [2]",
                citations=(cite(1, 0, 39), cite(1, 0, 39), cite(2, 69, len(ARTICLE))),
                passages=(P_KILLED, P_HOSPITAL, P_AIRPORT),
            ),
            # Evidence only at rank 3, and a citation whose quote is not what the article holds there.
            "How many in hospital?": answer(
                "How many in hospital?",
                "Twelve policemen were killed. [1]",
                citations=(cite(1, 40, 68, quote="About 500 were hospitalized."),),
                passages=(P_KILLED, P_AIRPORT, P_HOSPITAL),
            ),
            # Unanswerable, and the assistant answers anyway.
            "Who won the cup?": answer(
                "Who won the cup?",
                "The airport was retaken. [1]",
                confidence=0.4,
                citations=(cite(1, 69, len(ARTICLE)),),
                passages=(P_AIRPORT,),
            ),
            "Explode?": QuestionError("nothing is indexed yet"),
        }
    )
