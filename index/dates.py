"""Published dates: any common spelling -> ISO-8601, ISO -> epoch seconds for range filters, and
relative dates in a story ("yesterday", "on Tuesday") resolved against its published date."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dateutil import parser as dateparser
from dateutil.relativedelta import relativedelta


def normalize_date(value: object) -> str | None:
    """An ISO-8601 string for a published date, or None when it cannot be understood."""
    if value in (None, ""):
        return None
    try:
        # Missing parts default to the first of the month/year, not to today's.
        parsed = dateparser.parse(str(value), default=datetime(1900, 1, 1))
    except (ValueError, OverflowError):
        return None
    # The local time the story was published at, offset dropped, not converted to UTC: its
    # "yesterday" and "on Wednesday" count from its own date ("00:30+02:00" on 6 March is 6 March
    # where it was written, not 5 March), and so do the date filters a reader types.
    parsed = parsed.replace(tzinfo=None)
    if parsed.time() == datetime.min.time():
        return parsed.date().isoformat()
    return parsed.isoformat(timespec="seconds")


def date_to_timestamp(value: str | None) -> int | None:
    """Seconds since the epoch (UTC) for range filters in the vector store."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


# -- relative dates in a story ------------------------------------------------------------------

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10,
}
_RELATIVE = re.compile(
    r"\b(?:"
    r"(?P<day>today|yesterday|tomorrow|tonight|last night|this (?:morning|afternoon|evening))"
    r"|(?:(?P<which>last|next|this|on)\s+)?(?P<weekday>" + "|".join(_WEEKDAYS) + r")(?!\w)"
    r"|(?P<count>\d{1,3}|" + "|".join(_NUMBERS) + r")\s+(?P<unit>day|week|month|year)s?\s+ago"
    r")\b",
    re.IGNORECASE,
)
# Words before "on Friday" in the same sentence that put it ahead of the story, not behind it.
_FUTURE = re.compile(
    r"\b(?:will|won't|shall|'ll|is due|are due|is expected to|are expected to|is set to|are set to|"
    r"plans? to|is scheduled|are scheduled|is to|are to)\b",
    re.IGNORECASE,
)
# A reported or planned future that runs straight into the day: "said the line would open on
# Friday", "is going to reopen on Thursday", "would run from Wednesday". Only when the clause goes
# on to the day in a few words with no punctuation between: "would" further back is often another
# clause ("Oil would fall further, analysts warned on Tuesday"), and "would have" is a past.
_NEAR_FUTURE = re.compile(
    r"\b(?:would|(?:is|are|am|'s|'re)\s+going\s+to)\s+(?!have\b|'ve\b)(?:[\w'’-]+\s+){0,4}"
    r"(?:(?:on|from|by|until)\s+)?$",
    re.IGNORECASE,
)
_NEAR = 60  # characters before the weekday phrase
_DAY_OFFSETS = {"today": 0, "tonight": 0, "yesterday": -1, "tomorrow": 1, "last night": -1}


@dataclass(frozen=True)
class RelativeDate:
    """A relative date phrase at ``text[start:end]`` and the calendar day it means."""

    phrase: str
    start: int
    end: int
    date: date


def resolve_relative_dates(text: str, published: str | date | None) -> list[RelativeDate]:
    """Every "yesterday", "on Tuesday", "last Friday", "three days ago" in ``text``, resolved
    against the article's published date; nothing when that date is unknown.

    A bare or "on" weekday is the latest such day up to the published day, unless its sentence
    speaks of the future ("will", "is due", "is expected to"; "would open on", "is going to
    reopen on" running straight into the day), then the next one from it on.
    """
    base = _as_date(published)
    if base is None:
        return []
    found: list[RelativeDate] = []
    for match in _RELATIVE.finditer(text):
        day = _resolve(match, base, text)
        if day is not None:
            found.append(RelativeDate(match.group(0), match.start(), match.end(), day))
    return found


def annotate_relative_dates(text: str, published: str | date | None) -> str:
    """``text`` with each resolved phrase followed by its date: "yesterday (1 December 2026)"."""
    parts: list[str] = []
    last = 0
    for found in resolve_relative_dates(text, published):
        parts += [text[last : found.end], f" ({found.date.day} {found.date:%B %Y})"]
        last = found.end
    return "".join(parts) + text[last:]


def last_day(value: str) -> date | None:
    """The last day a date text covers: "2025" -> 31 December, "2025-03" or "March 2025" -> 31
    March, a day -> that day; None when it is no date (``normalize_date``)."""
    iso = normalize_date(value)
    if iso is None:
        return None
    day = date.fromisoformat(iso[:10])
    text = value.strip()
    if re.fullmatch(r"\d{4}", text):
        return date(day.year, 12, 31)
    if re.fullmatch(r"\d{4}-\d{1,2}|[A-Za-z]+\.? \d{4}", text):
        return date(day.year + day.month // 12, day.month % 12 + 1, 1) - timedelta(days=1)
    return day


def _as_date(value: str | date | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    iso = normalize_date(value)
    return datetime.fromisoformat(iso).date() if iso else None


def _resolve(match: re.Match[str], base: date, text: str) -> date | None:
    if match.group("day"):
        phrase = " ".join(match.group("day").lower().split())
        return base + timedelta(days=_DAY_OFFSETS.get(phrase, 0))
    if match.group("weekday"):
        target = _WEEKDAYS.index(match.group("weekday").lower())
        which = (match.group("which") or "").lower()
        ahead = (target - base.weekday()) % 7
        behind = (base.weekday() - target) % 7
        if which == "last":
            return base - timedelta(days=behind or 7)
        if which == "next":
            return base + timedelta(days=ahead or 7)
        sentence_start = max(text.rfind(". ", 0, match.start()), text.rfind("\n", 0, match.start())) + 1
        if _FUTURE.search(text, sentence_start, match.start()) or _NEAR_FUTURE.search(
                text[max(sentence_start, match.start() - _NEAR) : match.start()]):
            return base + timedelta(days=ahead)
        return base - timedelta(days=behind)
    raw = match.group("count").lower()
    count = int(raw) if raw.isdigit() else _NUMBERS[raw]
    unit = match.group("unit").lower()
    if unit in ("day", "week"):
        return base - timedelta(days=count * (7 if unit == "week" else 1))
    return base - (relativedelta(months=count) if unit == "month" else relativedelta(years=count))
