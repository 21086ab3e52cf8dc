"""Questions about the latest state ("How many have been killed so far?") prefer the newest article
among equally good passages.

"Equally good" is decided where the answer is chosen, never by date alone:

* extractive answers: sentences whose estimated probability of holding the answer is within
  ``SENTENCE_MARGIN`` (absolute) of the best sentence's. Among those, the sentence of the newest
  dated article leads the answer when that article is strictly newer than the best sentence's.
  A sentence further below the best never wins because it is newer, and the answer's confidence
  and abstention are the best sentence's, unchanged.
* other composers (LLMs): passages whose fused retrieval (RRF) score is within ``PASSAGE_MARGIN``
  (relative) of the best passage's are put newest first before the model reads them; with the
  default ``rrf_k=60`` that is about two ranks apart in both rankings, never a passage that only
  one ranking found when the best was found by both.

Undated articles are never preferred: a date that is not known is not "newer".
A wrapper around the composer, so the fitted answer models are untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np

from qa.answer.composer import Composer, ComposeRequest, Draft, Quote, Segment, stream_of
from qa.answer.extractive import ExtractiveComposer
from qa.answer.relative_dates import reader_day
from qa.models import Passage

SENTENCE_MARGIN = 0.05
PASSAGE_MARGIN = 0.03

LATEST = re.compile(
    r"\b(?:now|nowadays|latest|so far|currently|current|still|at the moment|at present|to date|"
    r"as of (?:now|today)|most recent|up to date|any more|anymore)\b",
    re.IGNORECASE,
)


def asks_for_latest(question: str) -> bool:
    """Whether the question asks for the state of things now ("so far", "latest", "still")."""
    return bool(LATEST.search(question))


def without_latest(request: ComposeRequest) -> ComposeRequest:
    """The request with its "so far" / "now" words taken out of the question: they say which
    article to prefer, not what to find, and as question terms no passage holds ("far", "date")
    they would lower the answer's confidence until it abstained."""

    def strip(text: str) -> str:
        kept = " ".join(LATEST.sub(" ", text).split())
        return kept if kept.strip(" ?.!") else text

    return replace(request, question=strip(request.question), standalone=strip(request.standalone))


def _day(published: str | None) -> str:
    return (published or "")[:10]


def newest_first(passages: Sequence[Passage], *, margin: float = PASSAGE_MARGIN) -> tuple[Passage, ...]:
    """The passages whose fused score is within ``margin`` (relative) of the best one's, newest
    dated article first (ties keep their order; undated after dated), then the rest as they were.
    Ranks are renumbered."""
    if not passages:
        return ()
    floor = passages[0].score * (1.0 - margin)
    tied = [p for p in passages if p.score >= floor]
    rest = [p for p in passages if p.score < floor]
    # Stable sort: among one day's (or undated) passages the retrieval order stands.
    tied.sort(key=lambda p: _day(p.published), reverse=True)
    return tuple(replace(p, rank=i) for i, p in enumerate([*tied, *rest]))


class LatestFirst:
    """A composer that answers "latest" questions from the newest of equally good passages and
    passes every other question to the composer it wraps, unchanged."""

    def __init__(self, inner: Composer, *, sentence_margin: float = SENTENCE_MARGIN,
                 passage_margin: float = PASSAGE_MARGIN) -> None:
        self.inner = inner
        self.name = inner.name
        self.sentence_margin = sentence_margin
        self.passage_margin = passage_margin

    def compose(self, request: ComposeRequest) -> Draft:
        if not asks_for_latest(request.question):
            return self.inner.compose(request)
        if isinstance(self.inner, ExtractiveComposer):
            return self._newest_sentence(self.inner, without_latest(request))
        return self.inner.compose(self._reordered(request))

    def stream(self, request: ComposeRequest) -> Iterator[str | Draft]:
        if not asks_for_latest(request.question):
            yield from self.inner.stream(request)
        elif isinstance(self.inner, ExtractiveComposer):
            yield from stream_of(self.compose(request))
        else:
            yield from self.inner.stream(self._reordered(request))

    def _reordered(self, request: ComposeRequest) -> ComposeRequest:
        return replace(request, passages=newest_first(request.passages, margin=self.passage_margin))

    def _newest_sentence(self, inner: ExtractiveComposer, request: ComposeRequest) -> Draft:
        draft = inner.compose(request)
        if not draft.answered or not draft.segments:
            return draft
        table = inner.table(request)
        probs = inner.score(table)
        best = int(np.argmax(probs))
        best_day = _day(table.candidates[best].passage.published)
        if not best_day:
            return draft
        floor = float(probs[best]) - self.sentence_margin
        newer = [i for i, c in enumerate(table.candidates)
                 if probs[i] >= floor and _day(c.passage.published) > best_day]
        if not newer:
            return draft
        pick = max(newer, key=lambda i: (_day(table.candidates[i].passage.published), float(probs[i])))
        chosen = table.candidates[pick]
        lead = Segment(text=chosen.text, quotes=(Quote(
            chosen.passage.article_id, chosen.start, chosen.end, chosen.text, chosen.passage.rank,
            round(float(probs[pick]), 3)),))
        same = (chosen.passage.article_id, chosen.start, chosen.end)
        others = [s for s in draft.segments
                  if not any((q.article_id, q.start, q.end) == same for q in s.quotes)]
        segments = (lead, *others)[: len(draft.segments)]
        short = inner.short(request.question, chosen) if inner.config.short else None
        notice = draft.notice or (
            f"The question asks for the latest: of equally good passages, the newest article's "
            f"({reader_day(_day(chosen.passage.published))}) is quoted first."
        )
        return replace(draft, segments=segments, short=short, notice=notice)
