"""The answer step's one interface: passages in, a ``Draft`` out.

The default composer is extractive (``qa.answer.extractive``); LLM backends implement the same protocol.
A draft is a list of segments (answer sentences), each backed by verbatim quotes from the
articles; ``qa.answer.citations`` numbers the quotes, verifies each against the article text and renders
the final ``Answer``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from qa.answer.history import Turn
from qa.models import Passage


@dataclass(frozen=True)
class Quote:
    """A span of an article offered as evidence; verified later against the article text."""

    article_id: str
    start: int
    end: int
    text: str
    passage_rank: int
    score: float


@dataclass(frozen=True)
class Segment:
    """One sentence of the answer and the quotes that back it.

    Extractive segments are the quote itself. A generative segment with no supporting quote is
    kept only with ``supported=False`` so the UI can flag it.
    """

    text: str
    quotes: tuple[Quote, ...]
    supported: bool = True


@dataclass(frozen=True)
class Draft:
    """What a composer proposes; ``answered=False`` means the passages do not hold the answer.

    ``short`` is the answer phrase ("Twelve") when the composer found one: a quote that lies
    inside one of the segments' quotes, verified like them.
    """

    answered: bool
    segments: tuple[Segment, ...]
    confidence: float
    backend: str
    notice: str | None = None
    short: Quote | None = None


@dataclass(frozen=True)
class ComposeRequest:
    """Everything a composer may use: the question as asked, its standalone form, the history,
    and the retrieved passages (best first; ``Passage.start`` is the offset of ``Passage.text``
    in its article)."""

    question: str
    standalone: str
    history: tuple[Turn, ...]
    passages: tuple[Passage, ...]


class Composer(Protocol):
    """Turns retrieved passages into a cited draft answer."""

    name: str

    def compose(self, request: ComposeRequest) -> Draft: ...

    def stream(self, request: ComposeRequest) -> Iterator[str | Draft]:
        """Answer text pieces as produced, then the final ``Draft`` as the last item."""
        ...


def stream_of(draft: Draft) -> Iterator[str | Draft]:
    """A finished draft as a composer's stream: the short answer, each sentence, then the draft."""
    if draft.short is not None:
        yield draft.short.text + ". "
    for segment in draft.segments:
        yield segment.text + " "
    yield draft
