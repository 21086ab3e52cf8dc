"""News-aware answers through the real pipeline (bundled model, real Chroma): reports that
disagree on a figure are all cited, newest first; reports that agree are not a conflict; a
"what happened" question gathers sentences from several stories in date order; a factoid still
leads with one answer. The corpus is ``tests/fixtures/news.jsonl``: three dated reports of riots
in Vellmore (12 policemen killed, then 18; 40 injured) and two of a ferry's first day (340
passengers in both)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import qa.cli
from qa.models import Answer
from qa.settings import Settings
from qa.ui import render

NEWS = Path(__file__).resolve().parent.parent / "fixtures" / "news.jsonl"
KILLED = "How many policemen were killed in Vellmore?"
SO_FAR = "What has happened in Vellmore so far?"


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory, real_embedder: Any) -> Iterator[Any]:
    from qa.assistant import Assistant

    assistant = Assistant(Settings(data_dir=tmp_path_factory.mktemp("news")), embedder=real_embedder)
    assert assistant.ingest([NEWS]).ok
    yield assistant


def _verified(news: Any, answer: Answer) -> dict[str, str]:
    """Every citation verbatim in its article; the article texts, for further checks."""
    texts = news.store.article_texts({c.article_id for c in answer.citations})
    for c in answer.citations:
        assert texts[c.article_id][c.start : c.end] == c.quote
    return dict(texts)


def test_reports_that_disagree_cite_both_figures_newest_first(news: Any) -> None:
    answer = news.ask(KILLED)
    texts = _verified(news, answer)
    (conflict,) = answer.conflicts
    assert conflict.asked == "policemen"
    assert [(f.text, f.value, f.article_id, f.published) for f in conflict.figures] == [
        ("Eighteen", 18.0, "vellmore-toll", "2026-01-07"),
        ("Twelve", 12.0, "vellmore-first", "2026-01-05"),
    ]
    cited = {c.n: c for c in answer.citations}
    for figure in conflict.figures:
        assert texts[figure.article_id][figure.start : figure.end] == figure.text
        holder = cited[figure.citation]
        assert holder.article_id == figure.article_id
        assert holder.start <= figure.start and figure.end <= holder.end
    assert answer.text.startswith(
        "Reports differ on the number of policemen: Eighteen (2026-01-07) [1]; Twelve (2026-01-05) [2].")
    # The answer is the disagreement: the two reports' sentences, newest first, and nothing else.
    assert [c.article_id for c in answer.citations] == ["vellmore-toll", "vellmore-first"]
    assert not answer.stories


@pytest.mark.parametrize("latest", ["so far", "to date", "now", "at the moment"])
def test_a_latest_word_does_not_make_an_answerable_question_abstain(news: Any, latest: str) -> None:
    """"so far" says which report to prefer, not what to find: the question stays answered, with
    the same disagreement the plain question gets, and no single figure is picked."""
    plain = news.ask(KILLED)
    answer = news.ask(KILLED.rstrip("?") + f" {latest}?")
    _verified(news, answer)
    assert answer.answered and answer.confidence >= plain.confidence - 0.1
    assert [f.value for f in answer.conflicts[0].figures] == [18.0, 12.0]
    assert answer.short is None and plain.short is None


def test_reports_that_agree_are_not_a_conflict(news: Any) -> None:
    answer = news.ask("How many passengers did the Quillby ferry carry on its first day?")
    _verified(news, answer)
    assert answer.answered and answer.conflicts == ()
    assert answer.short is not None and answer.short.text == "340"
    assert answer.text.startswith("340.") and "Reports differ" not in answer.text


def test_a_figure_about_something_else_is_not_a_conflict(news: Any) -> None:
    # "Forty policemen were injured" answers this; "Eighteen policemen were killed" is another
    # figure (killed, not injured) and must not be reported as a disagreement.
    answer = news.ask("How many policemen were injured in Vellmore?")
    assert answer.answered and answer.short is not None and answer.short.text == "Forty"
    assert answer.conflicts == ()


def test_what_happened_cites_one_sentence_per_story_in_date_order(news: Any) -> None:
    answer = news.ask(SO_FAR)
    _verified(news, answer)
    assert answer.answered and answer.stories and answer.short is None
    articles = [c.article_id for c in answer.citations]
    assert articles == ["vellmore-first", "vellmore-toll", "vellmore-curfew"]
    dates = [c.published for c in answer.citations]
    assert dates == sorted(dates)
    assert 2 <= len(answer.citations) <= 4 and len(set(articles)) == len(articles)
    # Each sentence is its own cited claim, in the order of the citations.
    assert answer.text == " ".join(f"{c.quote} [{c.n}]" for c in answer.citations)


def test_a_factoid_question_still_leads_with_one_answer(news: Any) -> None:
    answer = news.ask("Who lifted the curfew in Vellmore?")
    assert not answer.stories and answer.conflicts == ()
    assert answer.short is not None and "Brandt" in answer.short.text
    assert answer.text.startswith(answer.short.text) and len(answer.citations) == 1


def test_a_story_question_about_something_not_indexed_is_not_answered(news: Any) -> None:
    answer = news.ask("What has happened in Atlantis so far?")
    assert not answer.answered and not answer.stories and answer.citations == ()


def test_cli_ask_shows_reports_differ_and_several_stories_as_text_and_json(
    news: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qa.cli.common, "assistant_for", lambda settings, **_: news)
    monkeypatch.setenv("QA_DATA_DIR", str(news.settings.data_dir))  # the index the command finds
    runner = CliRunner()
    result = runner.invoke(qa.cli.app, ["ask", KILLED])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Reports differ on the number of policemen: Eighteen (2026-01-07) [1]")
    result = runner.invoke(qa.cli.app, ["ask", KILLED, "--json"])
    figures = json.loads(result.output)["conflicts"][0]["figures"]
    assert [(f["text"], f["published"], f["citation"]) for f in figures] == [
        ("Eighteen", "2026-01-07", 1), ("Twelve", "2026-01-05", 2)]
    result = runner.invoke(qa.cli.app, ["ask", SO_FAR])
    lines = result.output.splitlines()
    assert lines[0] == "From several reports, in date order:"
    assert [line.split()[0] for line in lines[1:4]] == ["2026-01-05", "2026-01-07", "2026-01-10"]
    assert json.loads(runner.invoke(qa.cli.app, ["ask", SO_FAR, "--json"]).output)["stories"] is True


def test_the_chat_shows_the_disagreement_and_the_stories_in_date_order(news: Any) -> None:
    message = render.answer_markdown(news.ask(KILLED), turn=3)
    assert message.startswith("⚠ **Reports differ** on the number of policemen: **Eighteen** (7 Jan 2026)")
    assert message.index("**Twelve** (5 Jan 2026)") > message.index("**Eighteen**")
    assert "(#src-3-1" in message and "(#src-3-2" in message
    # The note is said once: the figures are not repeated as plain text before the quotes.
    assert "Reports differ on the number" not in message
    panel = render.sources_html(news.ask(KILLED), turn=3)
    assert 'class="qa-note qa-conflict"' in panel and "7 Jan 2026" in panel and "5 Jan 2026" in panel

    listing = render.answer_markdown(news.ask(SO_FAR), turn=4)
    lines = listing.splitlines()
    assert lines[0] == "From several reports, in date order:"
    dated = [line for line in lines if line.startswith("- **")]
    assert [line.split("**")[1] for line in dated] == ["5 Jan 2026", "7 Jan 2026", "10 Jan 2026"]
    assert "Vellmore" in dated[0] and "(#src-4-1" in dated[0]


@pytest.mark.parametrize("question", ["What has happened to the bank in Vellmore?",
                                      "What has happened to the airport in Vellmore so far?"])
def test_a_story_question_about_something_the_stories_do_not_cover_is_no_story_list(
    news: Any, question: str
) -> None:
    """The place is known, the thing asked about is in none of its stories: the riot reports
    are not listed as "what happened" to it."""
    answer = news.ask(question)
    assert not answer.stories
    cited = {c.article_id for c in answer.citations}
    assert not {"vellmore-first", "vellmore-toll", "vellmore-curfew"} <= cited
