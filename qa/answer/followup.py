"""Follow-up questions without an LLM: lean on the conversation only when the question does.

"And how many were injured?" after "How many policemen were killed in Almaty?" is retrieved as
both together; a self-contained question ("Who is the president of Kazakhstan?") is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.answer.history import Turn
from qa.answer.lexical import terms

_LEANS = re.compile(
    r"^\s*(?:and|but|also|so|then|what about|how about|and what|what else|why|how come)\b"
    r"|\b(?:it|its|they|them|their|theirs|he|him|his|she|her|hers|this|that|these|those|there"
    r"|the same|the other|others|else)\b",
    re.IGNORECASE,
)


def leans_on_history(question: str) -> bool:
    """Pronouns, a leading 'and'/'what about', or almost no content words of its own."""
    return bool(_LEANS.search(question)) or len(terms(question)) <= 1


def standalone_query(question: str, history: Sequence[Turn]) -> str:
    """The text to retrieve with: the question, plus the last user turn when it leans on it."""
    if not history or not leans_on_history(question):
        return question
    return f"{history[-1].question} {question}"
