"""Recall and precision of the two news shapes on questions asked the way readers ask them.

    python -m bench.news_shapes [--split dev|test|all] [--misses] [--data-dir DIR] [--json OUT]

The corpus is ``bench/data/news-events.jsonl``: ten invented events (floods, a pilots' strike, a
mayoral election and its recount, a museum theft, a festival, a mine collapse, a council budget,
a derailment, house prices, a ferry sinking), each told by two to four reports of different dates
and outlets, some updating a figure ("At least seven people died" -> "The death toll ... rose to
18" -> "Eighteen people are now known to have died"), some agreeing, some wire copies of another
(the same text plus "Reporting by Press Union."). The questions are ``bench/data/news-events-questions.jsonl``
(the question-set format of ``qa.eval.questionsets`` plus ``event``, ``expect`` and ``figures``):

* ``expect: "conflict"``: the reports give different figures for what is asked; the answer should
  say "Reports differ" (``Answer.conflicts``) with exactly the values in ``figures``;
* ``expect: "stories"``: the answer should gather sentences from several reports of the event
  (``Answer.stories``, at least two of its articles cited);
* ``expect: "single"``: one answer: figures that agree, figures of different things (injured,
  not killed; last year's), a figure one report gives, or no figure at all. Any conflict is false.

Split by event: dev is Dunmere, Kestrel, Port Amsel, Lorne, Brackwater and Tarrow; test is Kessel
Ridge, Marlow Heath, Fennick and Caldwick. Tune on dev (``--misses`` prints what dev got wrong); report
test once. The corpus is indexed with the real model and a real Chroma in a temporary data dir
(or ``--data-dir``) through ``qa.Assistant``, exactly as ``qa ingest`` would.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qa.models import Answer
from qa.settings import Settings

DATA = Path(__file__).resolve().parent / "data"
CORPUS = DATA / "news-events.jsonl"
QUESTIONS = DATA / "news-events-questions.jsonl"


@dataclass(frozen=True)
class Outcome:
    """What one question got: the conflict's values (empty: none) and whether it was stories."""

    id: str
    split: str
    event: str
    expect: str
    question: str
    figures: tuple[float, ...]
    found: tuple[float, ...]
    stories: bool
    event_articles_cited: int
    text: str

    @property
    def conflict(self) -> bool:
        return bool(self.found)

    @property
    def figures_right(self) -> bool:
        return self.conflict and sorted(self.found) == sorted(self.figures)

    @property
    def right(self) -> bool:
        if self.expect == "conflict":
            return self.figures_right and not self.stories
        if self.expect == "stories":
            return self.stories and self.event_articles_cited >= 2 and not self.conflict
        return not self.conflict and not self.stories


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def outcome(row: dict[str, Any], answer: Answer) -> Outcome:
    found = tuple(f.value for c in answer.conflicts for f in c.figures)
    cited = {c.article_id for c in answer.citations if c.article_id.startswith(row["event"] + "-")}
    return Outcome(
        id=row["id"], split=row["split"], event=row["event"], expect=row["expect"],
        question=row["question"], figures=tuple(float(f) for f in row.get("figures", ())),
        found=found, stories=answer.stories, event_articles_cited=len(cited), text=answer.text,
    )


def _ratio(hits: int, total: int) -> str:
    return f"{hits}/{total} = {hits / total:.2f}" if total else "0/0"


def scores(outcomes: Sequence[Outcome]) -> dict[str, str]:
    """Conflict and stories recall/precision, false conflicts and stories on single answers."""
    expected = [o for o in outcomes if o.expect == "conflict"]
    fired = [o for o in outcomes if o.conflict]
    story_expected = [o for o in outcomes if o.expect == "stories"]
    story_fired = [o for o in outcomes if o.stories]
    single = [o for o in outcomes if o.expect == "single"]
    return {
        "questions": str(len(outcomes)),
        "conflict recall (fired)": _ratio(sum(o.conflict for o in expected), len(expected)),
        "conflict recall (figures exact)": _ratio(sum(o.figures_right for o in expected), len(expected)),
        "conflict precision": _ratio(sum(o.expect == "conflict" for o in fired), len(fired)),
        "stories recall": _ratio(sum(o.right for o in story_expected), len(story_expected)),
        "stories precision": _ratio(sum(o.expect == "stories" for o in story_fired), len(story_fired)),
        "false conflicts on single": _ratio(sum(o.conflict for o in single), len(single)),
        "stories on single": _ratio(sum(o.stories for o in single), len(single)),
        "all right": _ratio(sum(o.right for o in outcomes), len(outcomes)),
    }


def run(data_dir: Path, rows: Sequence[dict[str, Any]]) -> list[Outcome]:
    """Index the corpus into ``data_dir`` and ask every question (with its history)."""
    from qa.assistant import Assistant

    assistant = Assistant(Settings(data_dir=data_dir))
    report = assistant.ingest([CORPUS])
    if not report.ok:
        raise SystemExit(f"indexing {CORPUS} failed: {report}")
    return [outcome(row, assistant.ask(row["question"], history=row.get("history", []))) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    parser.add_argument("--misses", action="store_true", help="print each question answered wrong")
    parser.add_argument("--data-dir", type=Path, help="index here (default: a temporary dir)")
    parser.add_argument("--json", type=Path, help="write every outcome here")
    args = parser.parse_args()
    rows = [r for r in load_questions() if args.split in ("all", r["split"])]
    with tempfile.TemporaryDirectory(prefix="news-shapes-") as tmp:
        outcomes = run(args.data_dir or Path(tmp), rows)
    for split in sorted({o.split for o in outcomes}):
        print(f"== {split}")
        for name, value in scores([o for o in outcomes if o.split == split]).items():
            print(f"  {name:34} {value}")
    if args.misses:
        for o in outcomes:
            if not o.right:
                print(f"\nMISS {o.id} [{o.expect} {list(o.figures)}] {o.question}\n"
                      f"  got conflict={list(o.found)} stories={o.stories} "
                      f"event articles cited={o.event_articles_cited}\n  {o.text[:300]}")
    if args.json:
        args.json.write_text("".join(json.dumps(asdict(o)) + "\n" for o in outcomes), encoding="utf-8")


if __name__ == "__main__":
    main()
