"""Relative dates in a story ("yesterday", "on Tuesday") resolved against its published date."""

from __future__ import annotations

from datetime import date

import pytest

from index.dates import annotate_relative_dates, normalize_date, resolve_relative_dates

# A Wednesday.
PUBLISHED = "2026-12-02T08:15:00"


def _resolved(text: str, published: str | None = PUBLISHED) -> list[tuple[str, str]]:
    return [(r.phrase, r.date.isoformat()) for r in resolve_relative_dates(text, published)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The minister resigned yesterday.", [("yesterday", "2026-12-01")]),
        ("Talks resume today and end tomorrow.", [("today", "2026-12-02"), ("tomorrow", "2026-12-03")]),
        ("Police said on Tuesday that twelve were killed.", [("on Tuesday", "2026-12-01")]),
        ("The vote was held on Monday.", [("on Monday", "2026-11-30")]),
        ("Protests began last Wednesday.", [("last Wednesday", "2026-11-25")]),
        ("The court will rule on Friday.", [("on Friday", "2026-12-04")]),
        # Reported and planned futures (resolved into the past before):
        ("The minister said the line would open on Friday.", [("on Friday", "2026-12-04")]),
        ("It is going to reopen on Thursday.", [("on Thursday", "2026-12-03")]),
        ("He said 14 crossings a day would run from Thursday.", [("Thursday", "2026-12-03")]),
        ("The bridge, which would normally open at dawn every day, closed on Sunday.",
         [("on Sunday", "2026-11-29")]),
        # ...and the past news sentences around "would" stay in the past (review of the rule):
        ("Oil would fall further, analysts warned on Tuesday.", [("on Tuesday", "2026-12-01")]),
        ("The firm said it would cut 500 jobs, in a statement on Monday.", [("on Monday", "2026-11-30")]),
        ("Talks that would have ended the strike collapsed on Sunday.", [("on Sunday", "2026-11-29")]),
        ("He said he would have attended on Monday had he not been ill.", [("on Monday", "2026-11-30")]),
        ("Fans going to the match on Saturday were turned back by police.", [("on Saturday", "2026-11-28")]),
        ("Police, who aim to reduce crime, arrested 20 people on Saturday.", [("on Saturday", "2026-11-28")]),
        ("Leaders meet next Tuesday.", [("next Tuesday", "2026-12-08")]),
        ("Shops opened on Wednesday as usual.", [("on Wednesday", "2026-12-02")]),
        ("Fighting broke out last night.", [("last night", "2026-12-01")]),
        ("The fire started three days ago.", [("three days ago", "2026-11-29")]),
        ("It was announced 2 weeks ago.", [("2 weeks ago", "2026-11-18")]),
        ("He arrived this morning.", [("this morning", "2026-12-02")]),
        ("Nothing relative here, on 3 March 2025.", []),
    ],
)
def test_relative_phrases_resolve_against_the_published_date(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert _resolved(text) == expected


def test_offsets_point_at_the_phrase_and_unknown_dates_resolve_nothing() -> None:
    text = "Officials said yesterday that the bridge, closed on Sunday, would reopen."
    found = resolve_relative_dates(text, "2026-12-02")
    assert [text[r.start : r.end] for r in found] == ["yesterday", "on Sunday"]
    assert found[1].date == date(2026, 11, 29)
    assert resolve_relative_dates(text, None) == []
    assert resolve_relative_dates(text, "not a date") == []


def test_annotation_adds_the_date_after_each_phrase() -> None:
    text = "The minister resigned yesterday and left on Tuesday."
    assert annotate_relative_dates(text, "2026-12-03") == (
        "The minister resigned yesterday (2 December 2026) and left on Tuesday (1 December 2026)."
    )
    assert annotate_relative_dates(text, None) == text


def test_a_story_published_just_after_midnight_local_time_keeps_its_own_date() -> None:
    """"00:30+02:00" on Wednesday 6 March was stored as Tuesday 5 March (UTC): "on Wednesday" then
    resolved to the week before and "yesterday" to the 4th."""
    published = normalize_date("2024-03-06T00:30:00+02:00")
    assert published == "2024-03-06T00:30:00"
    text = "Tram drivers went on strike on Wednesday. Yesterday talks with the city collapsed."
    found = {r.phrase.lower(): r.date for r in resolve_relative_dates(text, published)}
    assert found == {"on wednesday": date(2024, 3, 6), "yesterday": date(2024, 3, 5)}
