"""The small pieces every part of the page's HTML shares: escaping, card ids, dates for readers."""

from __future__ import annotations

import html
from datetime import date


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def card_id(turn: int, n: int) -> str:
    """The id of citation ``n``'s card in answer ``turn``'s block of the sources panel."""
    return f"src-{turn}-{n}"


def passage_card_id(turn: int, rank: int) -> str:
    """The id of the card of the retrieved, uncited passage of rank ``rank`` (0-based) in answer
    ``turn``'s block of the sources panel."""
    return f"src-{turn}-p{rank + 1}"


def iso_day(published: str | None) -> str:
    """The ISO day of a published date or datetime ("" when unknown)."""
    return published[:10] if published else ""


def reader_date(published: str | None) -> str:
    """"6 Jan 2022" for a reader (the ISO date when it does not parse)."""
    day = iso_day(published)
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        return day
    return f"{parsed.day} {parsed:%b %Y}"
