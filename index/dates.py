"""Published dates: any common spelling -> ISO-8601, and ISO -> epoch seconds for range filters."""

from __future__ import annotations

from datetime import UTC, datetime

from dateutil import parser as dateparser


def normalize_date(value: object) -> str | None:
    """An ISO-8601 string for a published date, or None when it cannot be understood."""
    if value in (None, ""):
        return None
    try:
        # Missing parts default to the first of the month/year, not to today's.
        parsed = dateparser.parse(str(value), default=datetime(1900, 1, 1))
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    if parsed.time() == datetime.min.time():
        return parsed.date().isoformat()
    return parsed.isoformat(timespec="seconds")


def date_to_timestamp(value: str | None) -> int | None:
    """Seconds since the epoch (UTC) for range filters in the vector store."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())
