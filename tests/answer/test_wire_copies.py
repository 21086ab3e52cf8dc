"""Wire copies count once at answer time: one citation, the other copies listed beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qa.ui import render

STORY = (
    "The harbour authority said on Monday that the new ferry to Quillby island will carry 400 "
    "passengers a day from March. The crossing takes forty minutes. Local traders welcomed the "
    "service, which replaces a boat that broke down last winter. The island's school will run "
    "its own timetable to match the first sailing of the day, and the doctor's surgery plans to "
    "open two mornings a week for visitors from the mainland. Tickets go on sale in February at "
    "the harbour office and online, with discounts for islanders and for children under twelve. "
    "The authority expects the ferry to pay for itself within six years if traffic grows as "
    "forecast, and says a second vessel could follow if demand is higher than expected."
)


def test_copies_of_one_story_give_one_citation_and_name_the_others(
    fake_assistant: Any, tmp_path: Path
) -> None:
    copy = STORY.replace("Local traders", "Shop owners")  # a second outlet's small edit
    other = "The council passed its budget. Spending on roads rises by a tenth this year."
    records = [
        {"id": "wire", "title": "Ferry", "text": STORY},
        {"id": "outlet", "title": "Ferry service", "text": copy},
        {"id": "budget", "title": "Budget", "text": other},
    ]
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert fake_assistant.ingest([path]).ok
    groups = {r.id: r.group for r in fake_assistant.articles()}
    assert groups["outlet"] == groups["wire"] != groups["budget"]

    answer = fake_assistant.ask("How many passengers will the Quillby ferry carry?", k=3)
    assert answer.answered
    articles = [p.article_id for p in answer.passages]
    assert len({a for a in articles if a in ("wire", "outlet")}) == 1  # one copy, not two
    (citation,) = [c for c in answer.citations if c.article_id in ("wire", "outlet")]
    other_copy = ({"wire", "outlet"} - {citation.article_id}).pop()
    assert citation.also_reported_by == (other_copy,)
    assert f"Also reported as: {other_copy}" in render.sources_html(answer, turn=1)


def test_copies_that_give_different_figures_show_that_reports_differ(
    fake_assistant: Any, tmp_path: Path
) -> None:
    """A copy that says 450 where the other says 400 is not "also reported as" the 400: both are
    cited, and the answer says the reports differ."""
    records = [{"id": "wire", "title": "Ferry", "text": STORY},
               {"id": "outlet", "title": "Ferry", "text": STORY.replace("carry 400", "carry 450")}]
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert fake_assistant.ingest([path]).ok
    assert len({r.group for r in fake_assistant.articles()}) == 1  # one story, grouped

    answer = fake_assistant.ask("How many passengers will the Quillby ferry carry?", k=3)
    assert answer.answered and answer.text.startswith("Reports differ"), answer.text
    assert {c.article_id for c in answer.citations} == {"wire", "outlet"}
    assert all(c.also_reported_by == () for c in answer.citations)
