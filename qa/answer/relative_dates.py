"""Relative dates in cited text ("yesterday", "on Tuesday", "three days ago"), resolved against
the article's published date, as data beside the quote: the quote itself is never rewritten.

``index.dates.resolve_relative_dates`` finds and resolves the phrases; this module places them in
article offsets for a citation and writes the reading form of a quote.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from index.dates import resolve_relative_dates
from qa.models import Citation, DateMention


def reader_day(day: str | date) -> str:
    """"5 January 2022" for an ISO day (the text as given when it does not parse)."""
    try:
        parsed = day if isinstance(day, date) else date.fromisoformat(str(day)[:10])
    except ValueError:
        return str(day)
    return f"{parsed.day} {parsed:%B %Y}"


def mentions(citation: Citation, published: str | None) -> tuple[DateMention, ...]:
    """The relative dates in the citation's context (its quote when it has no context), in
    article offsets, each marked whether it lies inside the quote."""
    text, offset = (citation.context, citation.context_start) if citation.context else (
        citation.quote, citation.start)
    found = []
    for rel in resolve_relative_dates(text, published):
        start, end = offset + rel.start, offset + rel.end
        inside = citation.start <= start and end <= citation.end
        found.append(DateMention(rel.phrase, start, end, rel.date.isoformat(), inside))
    return tuple(found)


def resolved_quote(citation: Citation, found: tuple[DateMention, ...]) -> str | None:
    """The quote with each of its relative dates followed by the day it means, or None."""
    inside = [m for m in found if m.in_quote]
    if not inside:
        return None
    parts: list[str] = []
    last = 0
    for m in sorted(inside, key=lambda m: m.start):
        at = m.end - citation.start
        parts += [citation.quote[last:at], f" ({reader_day(m.date)})"]
        last = at
    return "".join(parts) + citation.quote[last:]


def with_dates(citation: Citation, published: str | None) -> Citation:
    """The citation with its published date (when it had none) and its relative dates resolved."""
    published = citation.published or published
    found = mentions(citation, published)
    return replace(citation, published=published, dates=found,
                   resolved_quote=resolved_quote(citation, found))
