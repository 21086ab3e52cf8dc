"""The figure-of-its-clause rule (``qa.answer.spans._figure_of_its_clause``) on and off, on the
"how many" / "how much" questions of one split: short answers shown and right (exact match).

    python -m bench.figure_clause train     # decided on this split
    python -m bench.figure_clause dev       # reported

Uses the indexes ``bench.answer_bench --workdir /tmp/aw`` built (SQuAD, BBC, the sample article);
retrieval is cached there. Questions whose short answer changed are listed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import qa.answer.spans as spans
from bench.answer_bench import sample
from bench.answer_data import (
    BBC_QUESTIONS,
    READERS,
    SAMPLE_ARTICLES,
    SQUAD,
    open_index,
    retrieve_all,
    set_questions,
    squad_questions,
)
from qa.answer.figures import asked_figure
from qa.assistant import Assistant
from qa.eval.metrics import exact_match
from qa.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("split", choices=["train", "dev"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/aw"))
    args = parser.parse_args()
    rule = spans._figure_of_its_clause
    for name in ("squad", "bbc", "readers"):
        if name == "squad":
            questions = sample(squad_questions(args.split), 1500)
            assistant = open_index(args.workdir, "squad", SQUAD / "articles.jsonl")
        elif name == "bbc":
            questions = set_questions(BBC_QUESTIONS, args.split)
            assistant = Assistant(Settings(data_dir=args.workdir / "bbc"))
        else:
            questions = set_questions(READERS, args.split)
            assistant = open_index(args.workdir, "readers", SAMPLE_ARTICLES)
        questions = [q for q in questions if asked_figure(q["question"]) is not None]
        composer = assistant.chain.composers["extractive"]
        rows: list[tuple[dict[str, Any], list[str | None]]] = []
        for item in retrieve_all(assistant, questions, args.workdir, f"clause-{name}-{args.split}"):
            shorts: list[str | None] = []
            for on in (False, True):
                spans._figure_of_its_clause = rule if on else (lambda q, s, c, p, best: best)  # type: ignore[assignment]
                draft = composer.compose(item.request)
                shorts.append(draft.short.text if draft.answered and draft.short else None)
            spans._figure_of_its_clause = rule  # type: ignore[assignment]
            rows.append((item.question, shorts))

        def right(short: str | None, question: dict[str, Any]) -> bool:
            return bool(short) and bool(exact_match(short or "", question.get("answers") or []))

        shown = [sum(1 for _, s in rows if s[i]) for i in (0, 1)]
        correct = [sum(1 for q, s in rows if right(s[i], q)) for i in (0, 1)]
        print(f"{name} {args.split}: {len(rows)} how-many/much questions; short answers shown off/on "
              f"{shown[0]}/{shown[1]}, right off/on {correct[0]}/{correct[1]}")
        for q, s in rows:
            if s[0] != s[1]:
                gold = (q.get("answers") or [])[:2]
                print(f"    {q['id']} {q['question'][:70]!r}: {s[0]!r} -> {s[1]!r} (gold {gold})")


if __name__ == "__main__":
    main()
