"""Draft -> Answer: number the quotes, verify each against its article, render ``[n]`` markers.

A quote is shown only if ``article_text[start:end] == quote``. A failing quote is dropped and
logged, never shown; an extractive sentence without a verified quote is dropped with it.

A generated sentence no verified quote supports stays where it stands, marked: ``text`` has
``UNSUPPORTED_MARK`` after it ("... internet. [unsupported]") and ``Answer.unsupported`` lists it.
A sentence holding a link, a call to action or an instruction is never a cited claim, whatever a
composer says: a generated one is marked unsupported, an extractive one is left out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

from qa.answer.claims import never_a_claim
from qa.answer.composer import ComposeRequest, Draft, Quote
from qa.models import UNSUPPORTED_MARK, Answer, AnswerLine, Citation, Passage, ShortAnswer

log = logging.getLogger(__name__)
_MARKERS = re.compile(r"^(.*?)( (?:\[\d+\])+)$", re.DOTALL)

NOT_FOUND = "I could not find this in the indexed articles."
# Characters of surrounding text kept on each side of a quote for the reader.
CONTEXT_CHARS = 240


def context_window(
    text: str, start: int, end: int, *, bounds: tuple[int, int] | None = None, radius: int = CONTEXT_CHARS
) -> tuple[int, int]:
    """Up to ``radius`` characters around ``text[start:end]`` within ``bounds``, with edges moved to
    word boundaries so no word is cut in half."""
    lo_bound, hi_bound = bounds or (0, len(text))
    lo_bound, hi_bound = min(lo_bound, start), max(hi_bound, end)
    lo, hi = max(lo_bound, start - radius), min(hi_bound, end + radius)
    if lo > lo_bound and not text[lo - 1].isspace():
        space = text.find(" ", lo, start)
        lo = space + 1 if space != -1 else lo
    if hi < hi_bound and not text[hi].isspace():
        space = text.rfind(" ", end, hi)
        hi = space if space != -1 else hi
    return lo, hi


def is_verbatim(quote: Quote, article_texts: Mapping[str, str]) -> bool:
    """The invariant every shown citation satisfies."""
    text = article_texts.get(quote.article_id)
    return (
        text is not None and 0 <= quote.start < quote.end <= len(text)
        and text[quote.start : quote.end] == quote.text
    )


def finalize(
    request: ComposeRequest,
    draft: Draft,
    article_texts: Mapping[str, str],
    *,
    timings: dict[str, float],
) -> Answer:
    """Build the answer the user sees from a composer's draft."""
    passages = request.passages
    by_article = {p.article_id: p for p in reversed(passages)}
    numbers: dict[tuple[str, int, int], Citation] = {}
    lines: list[str] = []
    cited: list[AnswerLine] = []
    unsupported: list[str] = []
    generated = not draft.backend.startswith("extractive")
    for segment in draft.segments if draft.answered else ():
        markers: list[int] = []
        if reason := never_a_claim(segment.text):
            log.warning("not presenting a sentence that %s as a claim: %.80r", reason, segment.text)
            if generated:
                unsupported.append(segment.text.strip())
                lines.append(f"{segment.text.strip()} {UNSUPPORTED_MARK}")
            continue
        verified = []
        for quote in segment.quotes:
            if not is_verbatim(quote, article_texts):
                log.warning("dropped a citation that is not verbatim at %s[%d:%d]",
                            quote.article_id, quote.start, quote.end)
                continue
            verified.append(quote)
        # Only a sentence shown as a cited claim numbers its quotes: a source card always
        # belongs to a sentence that cites it.
        for quote in verified if segment.supported else ():
            key = (quote.article_id, quote.start, quote.end)
            if key not in numbers:
                numbers[key] = _citation(
                    len(numbers) + 1, quote, by_article.get(quote.article_id), passages,
                    article_texts[quote.article_id],
                )
            if numbers[key].n not in markers:
                markers.append(numbers[key].n)
        if markers and segment.supported:
            lines.append(segment.text.strip() + " " + "".join(f"[{n}]" for n in markers))
            cited.append(AnswerLine(segment.text.strip(), tuple(markers)))
        elif generated:
            # A generated sentence no passage supports is shown marked in place, never as a cited claim.
            unsupported.append(segment.text.strip())
            lines.append(f"{segment.text.strip()} {UNSUPPORTED_MARK}")
    answered = draft.answered and bool(numbers)
    short = _short(draft.short, numbers.values(), article_texts) if answered and draft.short else None
    if short is not None:
        lines = [_quoted(line) for line in lines] if draft.backend.startswith("extractive") else lines
        lines.insert(0, short.text.rstrip(".") + ".")
    return Answer(
        question=request.question,
        text=" ".join(lines) if answered else NOT_FOUND,
        answered=answered,
        citations=tuple(numbers.values()) if answered else (),
        passages=passages,
        timings=timings,
        backend=draft.backend,
        confidence=draft.confidence,
        standalone_question=request.standalone if request.standalone != request.question else None,
        unsupported=tuple(unsupported) if answered else (),
        notice=draft.notice,
        short=short,
        lines=tuple(cited) if answered else (),
    )


def _quoted(line: str) -> str:
    """``sentence [1]`` -> ``"sentence" [1]``: after a short answer the sentence reads as its quote."""
    match = _MARKERS.match(line)
    return f'"{match.group(1)}"{match.group(2)}' if match else f'"{line}"'


def _short(
    quote: Quote, citations: Iterable[Citation], article_texts: Mapping[str, str]
) -> ShortAnswer | None:
    """The short answer, if it is verbatim and inside a shown quote; else None (logged)."""
    if not is_verbatim(quote, article_texts):
        log.warning("dropped a short answer that is not verbatim at %s[%d:%d]",
                    quote.article_id, quote.start, quote.end)
        return None
    holder = next((c for c in citations if c.article_id == quote.article_id
                   and c.start <= quote.start and quote.end <= c.end), None)
    if holder is None:
        log.warning("dropped a short answer outside every cited quote at %s[%d:%d]",
                    quote.article_id, quote.start, quote.end)
        return None
    return ShortAnswer(
        text=quote.text, article_id=quote.article_id, start=quote.start, end=quote.end,
        citation=holder.n, quote_offset=quote.start - holder.start,
        context_offset=quote.start - holder.context_start, score=quote.score,
    )


def _citation(
    n: int, quote: Quote, passage: Passage | None, passages: tuple[Passage, ...], text: str
) -> Citation:
    holder = next(
        (p for p in passages
         if p.article_id == quote.article_id and p.start <= quote.start and quote.end <= p.end),
        passage,
    )
    inside = holder is not None and holder.start <= quote.start and quote.end <= holder.end
    lo, hi = context_window(
        text, quote.start, quote.end, bounds=(holder.start, holder.end) if holder and inside else None
    )
    return Citation(
        n=n, article_id=quote.article_id, title=holder.title if holder else quote.article_id,
        source=holder.source if holder else "", start=quote.start, end=quote.end, quote=quote.text,
        score=round(quote.score, 4), published=holder.published if holder else None,
        passage_rank=holder.rank if holder else quote.passage_rank,
        context=text[lo:hi], context_start=lo,
    )
