"""One citation per wire story: ``collapse_groups`` keeps the best copy and lists the others."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qa.answer.figures import asked_figure
from qa.answer.groups import collapse_groups
from qa.models import Passage


def _p(chunk: str, article: str, score: float) -> Passage:
    return Passage(chunk, article, article.title(), f"https://{article}.example/story", None, 0, 10,
                   "text", score)


def test_copies_of_one_story_count_once_with_the_others_listed() -> None:
    passages = [
        _p("b1", "outlet-b", 0.9), _p("w1", "wire", 0.8), _p("b2", "outlet-b", 0.7),
        _p("k1", "bank", 0.6), _p("c1", "outlet-c", 0.5), _p("w2", "wire", 0.4),
    ]
    groups = {"wire": "wire", "outlet-b": "wire", "outlet-c": "wire", "bank": "bank"}
    result = collapse_groups(passages, groups)
    assert [p.chunk_id for p in result.passages] == ["b1", "b2", "k1"]
    assert [p.rank for p in result.passages] == [0, 1, 2]
    assert result.also_reported_by == {"outlet-b": ("wire", "outlet-c")}


def test_k_counts_kept_passages_and_unknown_articles_are_their_own_group() -> None:
    passages = [_p("a", "one", 0.9), _p("b", "two", 0.8), _p("c", "three", 0.7), _p("d", "four", 0.6)]
    result = collapse_groups(passages, {"two": "one"}, k=2)
    assert [p.chunk_id for p in result.passages] == ["a", "c"]
    assert result.also_reported_by == {"one": ("two",)}


def test_nothing_to_collapse_returns_the_passages_unchanged() -> None:
    passages = [_p("a", "one", 0.9), replace(_p("b", "two", 0.8), rank=1)]
    result = collapse_groups(passages, {})
    assert result.passages == tuple(passages) and result.also_reported_by == {}


def _told(article: str, text: str, score: float) -> Passage:
    return Passage(f"{article}-c0", article, "Floods", f"https://{article}.example/floods", None, 0,
                   len(text), text, score)


FLOODS = ("Emergency crews used boats to reach villages cut off overnight. {n} people have died in "
          "the floods, the ministry said on {day}. Shelters were opened in schools.")
DIED = asked_figure("How many people have died in the floods?")


def test_a_copy_that_gives_another_figure_is_kept_to_show_that_reports_differ() -> None:
    passages = [_told("agency-b", FLOODS.format(n="Fourteen", day="Monday"), 0.9),
                _told("agency-a", FLOODS.format(n="Twelve", day="Monday"), 0.8),
                _told("agency-c", FLOODS.format(n="14", day="Monday"), 0.7)]
    groups = {"agency-a": "agency-a", "agency-b": "agency-a", "agency-c": "agency-a"}
    result = collapse_groups(passages, groups, asked=DIED)
    # "14" is the kept copy's "Fourteen": a copy; "Twelve" is another figure, not "also reported".
    assert [p.article_id for p in result.passages] == ["agency-b", "agency-a"]
    assert result.also_reported_by == {"agency-b": ("agency-c",)}
    # A question that asks no figure: copies count once, whatever figures they give.
    plain = collapse_groups(passages, groups, asked=asked_figure("Where did the crews use boats?"))
    assert [p.article_id for p in plain.passages] == ["agency-b"]


MONDAY = FLOODS.format(n="Fourteen", day="Monday")


@pytest.mark.parametrize("other", [
    FLOODS.format(n="Fourteen", day="2 March"),  # another date: not the figure asked
    MONDAY.replace("Fourteen people have", "Fourteen people, including two children, have"),
    MONDAY.replace("Shelters were opened in schools.", "Rain due, 2 days."),
    # The kept copy's twin sentence is there too: the other alike sentence's figures do not count.
    FLOODS.format(n="Fourteen", day="Monday") + " Earlier, 12 people had died in the floods, it said.",
])
def test_copies_differing_elsewhere_than_in_the_asked_figure_still_count_once(other: str) -> None:
    kept = FLOODS.format(n="Fourteen", day="Monday") + " Earlier, 12 people had died in the floods, it said."
    passages = [_told("agency-b", kept, 0.9), _told("agency-a", other, 0.8)]
    result = collapse_groups(passages, {"agency-b": "agency-a"}, asked=DIED)
    assert [p.article_id for p in result.passages] == ["agency-b"]
    assert result.also_reported_by == {"agency-b": ("agency-a",)}
