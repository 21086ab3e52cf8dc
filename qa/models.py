"""Typed records of the answer side: passages, citations, answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, best first. ``score`` is the fused retrieval score."""

    chunk_id: str
    article_id: str
    title: str
    source: str
    published: str | None
    start: int
    end: int
    text: str
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DateMention:
    """A relative date in a citation's context ("yesterday", "on Tuesday") and the day it means,
    resolved against its article's published date: ``article_text[start:end] == phrase``.

    Shown beside the quote ("yesterday (5 Jan 2022)"), never written into it: the quote stays
    the verified article text. ``in_quote`` says whether it lies inside the quote itself.
    """

    phrase: str
    start: int
    end: int
    date: str
    in_quote: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Citation:
    """A verified quote: ``article_text[start:end] == quote`` was checked before it was shown.

    ``context`` is the quote with some of its surroundings in the same passage (cut at word
    boundaries), taken from the same article text: ``article_text[context_start:][:len(context)]
    == context``, so a reader sees the quote in place without fetching the article again.
    ``author`` is the article's, when its file named one. ``dates`` are the relative dates in
    ``context`` resolved against ``published`` (none when it is unknown); ``resolved_quote`` is
    the quote with each of its own resolved, for reading ("yesterday (5 January 2022)"), or None
    when it holds none. Only ``quote`` is verified text.
    """

    n: int
    article_id: str
    title: str
    source: str
    start: int
    end: int
    quote: str
    score: float
    published: str | None = None
    passage_rank: int = 0
    context: str = ""
    context_start: int = 0
    author: str | None = None
    also_reported_by: tuple[str, ...] = ()
    dates: tuple[DateMention, ...] = ()
    resolved_quote: str | None = None

    @property
    def quote_offset(self) -> int:
        """Where the quote starts inside ``context``."""
        return self.start - self.context_start

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Put right after an answer sentence no cited passage supports, where ``[n]`` markers would be.
UNSUPPORTED_MARK = "[unsupported]"


@dataclass(frozen=True)
class AnswerLine:
    """One cited sentence of an answer, as shown, with the numbers of the citations it carries
    (``AnswerLine("Twelve policemen were killed.", (1,))``)."""

    text: str
    citations: tuple[int, ...]


@dataclass(frozen=True)
class ShortAnswer:
    """The answer phrase ("Twelve", "353", "expensive fuel"), verified like every quote:
    ``article_text[start:end] == text``. It lies inside the quote of citation ``citation``:
    ``quote[quote_offset:][:len(text)] == text`` and ``context[context_offset:][:len(text)] == text``
    (the chat bolds it inside the highlighted quote with these)."""

    text: str
    article_id: str
    start: int
    end: int
    citation: int
    quote_offset: int
    context_offset: int
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReportedFigure:
    """One article's figure for what the question asks ("18" policemen), verified like a quote:
    ``article_text[start:end] == text``, inside the quote of citation ``citation``.
    ``value`` is the figure as a number (``"Eighteen"`` -> 18.0); ``also_reported_by`` lists
    other articles (other stories, not wire copies) that give the same value."""

    text: str
    value: float
    article_id: str
    start: int
    end: int
    citation: int
    published: str | None = None
    title: str = ""
    also_reported_by: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Conflict:
    """Different articles (not copies of one story) give different figures for what was asked.

    ``asked`` names it ("policemen" for "How many policemen ...", "amount" for "how much",
    "percentage"); ``figures`` holds one per distinct value, newest article first (undated last).
    """

    asked: str
    figures: tuple[ReportedFigure, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """What the assistant says, the passages it cites, and how long each stage took.

    ``answered`` is False when the indexed articles do not hold the answer; ``text`` then says so
    and ``citations`` is empty. ``unsupported`` lists answer sentences that no cited passage
    supports (generative backends only); in ``text`` each stands where the model wrote it,
    followed by ``UNSUPPORTED_MARK`` instead of citation markers. ``short`` is the answer phrase
    of a factoid question (None when there is none); ``text`` then leads with it:
    ``Twelve. "Twelve policemen ..." [1]``. ``confidence`` is the estimated probability that the
    answer is right.

    ``conflicts`` is non-empty when the cited articles disagree on the figure asked for; ``text``
    then leads with "Reports differ ..." and cites every figure (``qa.answer.conflicts``).
    ``stories`` is True when the answer gathers sentences from several stories, in date order,
    oldest first (``qa.answer.stories``): an extractive one cites one sentence per story (citation
    ``n`` is the ``n``-th sentence), a generated one keeps the model's sentences, each in the date
    order of the articles it cites. ``lines`` holds the cited sentences in order, each with the
    numbers of its citations (a sentence marked unsupported is not among them).
    """

    question: str
    text: str
    answered: bool
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    backend: str = "extractive"
    confidence: float = 0.0
    standalone_question: str | None = None
    unsupported: tuple[str, ...] = ()
    notice: str | None = None
    short: ShortAnswer | None = None
    conflicts: tuple[Conflict, ...] = ()
    stories: bool = False
    lines: tuple[AnswerLine, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WarmReport:
    """What ``Assistant.warm`` did: ``chunks`` read, ``sentences`` in them, over ``models`` models
    (the bundled one, the matcher) how many vectors were ``embedded`` now and how many the
    sentence store already held (``read``), how many it ``removed`` (pruned: no indexed
    sentence's any more), in ``seconds``."""

    chunks: int
    sentences: int
    models: int
    embedded: int
    read: int
    removed: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
