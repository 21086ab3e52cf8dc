"""The chat's "Reports differ" note and several-stories list, from hand-built answers: escaping,
undated articles, and markers linked to their cards."""

from __future__ import annotations

from qa.answer.conflicts import conflict_note
from qa.models import Answer, AnswerLine, Citation, Conflict, ReportedFigure
from qa.ui import render


def _citation(n: int, quote: str, published: str | None) -> Citation:
    return Citation(n=n, article_id=f"a{n}", title=f"Report {n}", source="test", start=0,
                    end=len(quote), quote=quote, score=0.5, published=published)


def test_reports_differ_note_names_each_figure_with_its_date_or_says_it_is_unknown() -> None:
    citations = (_citation(1, "<b>18</b> policemen were killed", "2026-01-07T09:00:00"),
                 _citation(2, "12 policemen were killed", None))
    conflict = Conflict(asked="policemen", figures=(
        ReportedFigure("<b>18", 18.0, "a1", 0, 5, 1, "2026-01-07T09:00:00"),
        ReportedFigure("12", 12.0, "a2", 0, 2, 2, None),
    ))
    text = f"{conflict_note(conflict)} {citations[0].quote} [1] {citations[1].quote} [2]"
    answer = Answer(question="How many policemen were killed?", text=text, answered=True,
                    citations=citations, conflicts=(conflict,))
    message = render.answer_markdown(answer, turn=2)
    first = message.split("\n\n")[0]
    assert first.startswith("⚠ **Reports differ** on the number of policemen: **&lt;b&gt;18** (7 Jan 2026)")
    assert "**12** (date unknown)" in first and "(#src-2-2" in first
    assert "<b>" not in message
    panel = render.sources_html(answer, turn=2)
    assert "Reports differ: <strong>&lt;b&gt;18</strong> [1]" in panel and "date unknown" in panel


def test_several_stories_are_listed_one_line_each_in_the_given_date_order() -> None:
    # The second sentence holds a bracketed number of its own: the lines come from
    # ``Answer.lines``, not from re-reading the text, so it stays one sentence with citation 2.
    citations = (_citation(1, "Protests began.", "2026-01-05"),
                 _citation(2, "The curfew [4] ended.", None))
    answer = Answer(question="What has happened?", text="Protests began. [1] The curfew [4] ended. [2]",
                    answered=True, citations=citations, stories=True,
                    lines=(AnswerLine("Protests began.", (1,)), AnswerLine("The curfew [4] ended.", (2,))))
    lines = render.answer_markdown(answer, turn=1).splitlines()
    assert lines[0] == "From several reports, in date order:"
    assert lines[2].startswith("- **5 Jan 2026**: Protests began. [\\[1\\]](#src-1-1")
    assert lines[3].startswith("- **Undated**: The curfew \\[4\\] ended. [\\[2\\]](#src-1-2")
    assert len(lines) == 4
