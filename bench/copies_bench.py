"""How often an answer's top-5 passages hold two copies of one story, wire-copy collapse on vs. off.

    OMP_NUM_THREADS=1 python -m bench.copies_bench --data-dir /tmp/bbc-index [--k 5] [--out copies.json]

Over the BBC question set (``bench/data/bbc-questions.jsonl``, all splits) against an index of
the 2,225 BBC articles that stores the exact copies (``qa ingest`` with de-duplication on, the
default). Each question is retrieved as the chain does (its standalone form, hybrid, ``3k``
candidates); "on" keeps the top ``k`` after ``collapse_groups`` (what answers use), "off" the
top ``k`` as retrieved. A question counts when two *different* articles of one near-duplicate
group are among its ``k`` passages (two chunks of one article are not copies).

Groups: ``Deduper.assign`` over the corpus in file order at the default threshold, which is what
a fresh ingest records. (The index may predate grouping and hold group labels only for the
articles ingested since; the script prints how many of those agree with the recomputed ones.)
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.bbc import DEFAULT_ARTICLES, QUESTIONS, load_articles
from index.dedup import Deduper
from qa.answer.followup import standalone_query
from qa.answer.groups import collapse_groups
from qa.answer.history import parse_history
from qa.answer.retrieval import SearchOptions
from qa.assistant import Assistant
from qa.eval.questionsets import load_questions
from qa.models import Passage
from qa.settings import Settings


def corpus_groups(path: Path, threshold: float) -> dict[str, str]:
    """article id -> group id, assigned in corpus order as ingest does."""
    dedup = Deduper(None, threshold=threshold)
    dedup.sync([], lambda ids: {})
    return {a.id: dedup.assign(a.id, a.text, a.hash) for a in load_articles(path)}


def copies_in(passages: tuple[Passage, ...] | list[Passage], groups: dict[str, str]) -> int:
    """How many articles beyond the first of their group the passages hold."""
    per_group: dict[str, set[str]] = {}
    for p in passages:
        per_group.setdefault(groups.get(p.article_id, p.article_id), set()).add(p.article_id)
    return sum(len(ids) - 1 for ids in per_group.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--articles", type=Path, default=DEFAULT_ARTICLES)
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir)
    groups = corpus_groups(args.articles, settings.dedup_threshold)
    grouped = Counter(groups.values())
    print(f"{len(groups)} articles, {sum(1 for n in grouped.values() if n > 1)} groups of 2+")

    assistant = Assistant(settings)
    chain = assistant.chain
    stored = {r.id: r.group for r in assistant.articles() if r.group and r.group != r.id}
    agree = sum(1 for i, g in stored.items() if groups.get(i) == g)
    print(f"index: {len(assistant.articles())} articles; {len(stored)} carry a group label, "
          f"{agree} of them equal to the recomputed group")

    questions = load_questions(args.questions).questions
    rows: list[dict[str, Any]] = []
    for q in questions:
        history = parse_history([(h, "") for h in q.history])
        query = standalone_query(q.question, history)
        options = SearchOptions(k=args.k, hybrid=settings.hybrid)
        wide, _ = chain.retriever.retrieve(query, replace(options, k=args.k * 3))
        on = collapse_groups(wide, groups, k=args.k).passages
        off = wide[: args.k]
        rows.append({"id": q.id, "off": copies_in(off, groups), "on": copies_in(on, groups)})
    n = len(rows)
    off_hit = sum(1 for r in rows if r["off"])
    on_hit = sum(1 for r in rows if r["on"])
    result = {
        "questions": n, "k": args.k,
        "off": {"answers_with_copies": off_hit, "share": off_hit / n,
                "extra_copies": sum(r["off"] for r in rows)},
        "on": {"answers_with_copies": on_hit, "share": on_hit / n,
               "extra_copies": sum(r["on"] for r in rows)},
        "with_copies_off": [r["id"] for r in rows if r["off"]],
    }
    print(f"{n} questions, top-{args.k}: two copies of one story in {off_hit} answers "
          f"({off_hit / n:.1%}) with collapse off, {on_hit} ({on_hit / n:.1%}) with it on")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
