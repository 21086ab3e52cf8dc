"""How often the news-aware answer shapes fire on a question set, and whether they cost anything.

    python -m bench.news_answers subset QUESTIONS OUT.jsonl
    python -m bench.news_answers count REPORT_DIR [REPORT_DIR ...]

``subset`` keeps the questions that could get a news-aware answer: those that ask for a figure
(``qa.answer.conflicts.asked_figure``) or for several stories (``qa.answer.stories``). Evaluate
it with ``qa eval OUT.jsonl --data-dir INDEX --report REPORT_DIR`` on this branch and on the one
before, then ``count`` reads each report's ``results.jsonl``: how many answers said "Reports
differ" and how many story questions cited several articles (SQuAD and the BBC set hold one
gold answer per question, so every such answer there is one to read by eye).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qa.answer.conflicts import asked_figure
from qa.answer.stories import is_story_question


def subset(questions: Path, out: Path) -> int:
    kept = 0
    with out.open("w", encoding="utf-8") as sink:
        for line in questions.read_text(encoding="utf-8").splitlines():
            question = json.loads(line).get("question", "") if line.strip() else ""
            if question and (asked_figure(question) or is_story_question(question)):
                sink.write(line + "\n")
                kept += 1
    return kept


def count(report: Path) -> dict[str, object]:
    rows = [json.loads(line) for line in (report / "results.jsonl").read_text().splitlines() if line]
    differ = [r["question"] for r in rows if (r.get("answer") or "").startswith("Reports differ")]
    stories = [r["question"] for r in rows if is_story_question(r["question"])
               and len({c.get("article_id") for c in r.get("citations") or []}) > 1]
    return {"questions": len(rows), "reports_differ": differ, "several_stories": stories}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("subset")
    one.add_argument("questions", type=Path)
    one.add_argument("out", type=Path)
    two = sub.add_parser("count")
    two.add_argument("reports", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "subset":
        print(f"{subset(args.questions, args.out)} questions -> {args.out}")
        return
    for report in args.reports:
        print(report, json.dumps(count(report), indent=1))


if __name__ == "__main__":
    main()
