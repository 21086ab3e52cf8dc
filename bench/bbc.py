"""The BBC News benchmark: the shared corpus of 2,225 real articles and the reader question set.

The corpus lives beside the repository (``../shared/benchmarks/bbc-news/articles.jsonl``, see its
README) and is read exactly as ``qa ingest`` reads it, so article ids here are the index's ids.
The questions (``bench/data/bbc-questions.jsonl``) were written by reading 31 of the articles:
factoid, paraphrase, why/how, follow-up and list questions, and unanswerables that share the
stories' names and topic words but that no article of the corpus answers (each says in
``why_unanswerable`` what was searched). The split is by article: no article has questions in
both ``train`` and ``dev`` (in each topic, articles sorted by id alternate dev, train, dev, ...).
``extra`` holds 126 training questions over 23 more articles, written later (2026-12-07) and
used only on request.
The corpus holds 133 exact copies of other articles; ingest keeps the first (in file order) and
refuses the copy, so a question about such a story points at the kept id. A question whose
evidence also sits in other articles (the refused exact copy, or an updated version of the story)
lists them in ``article_aliases``; they count as the gold article.

    python -m bench.bbc            # check the question set against the corpus, print its mix
    qa ingest ../shared/benchmarks/bbc-news/articles.jsonl --data-dir /tmp/bbc-index
    qa eval bench/data/bbc-questions.jsonl --split dev --data-dir /tmp/bbc-index
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.squad import ROOT
from index.errors import LoadError
from index.loaders import load_file
from index.models import Article
from qa.eval.questionsets import Question, QuestionSet, load_questions

CORPUS = Path("shared", "benchmarks", "bbc-news", "articles.jsonl")
# Beside the repository (/work/main -> /work/shared), or further up from a git worktree.
DEFAULT_ARTICLES = next(
    (base / CORPUS for base in ROOT.parents if (base / CORPUS).is_file()), ROOT.parent / CORPUS
)
QUESTIONS = ROOT / "bench" / "data" / "bbc-questions.jsonl"
MAX_BYTES = 50_000_000
# "extra": training questions written later, used only when asked for (``bench.train_answerer
# --sets ...,bbc-extra``); never on a dev article.
SPLITS = ("train", "dev", "extra")


def load_articles(path: str | Path = DEFAULT_ARTICLES) -> list[Article]:
    """The corpus as ``Article`` records, read by the same loader as ``qa ingest``."""
    path = Path(path)
    if not path.is_file():
        raise LoadError(str(path), "no such file (the BBC corpus lives in ../shared/benchmarks/bbc-news/)")
    loaded = load_file(path, max_bytes=MAX_BYTES)
    if loaded.failures:
        raise loaded.failures[0]
    return loaded.articles


def load_bbc_questions(split: str | None = None, path: str | Path = QUESTIONS) -> QuestionSet:
    """The BBC question set, or only its ``train`` or ``dev`` questions."""
    questions = load_questions(path)
    return questions.only_split(split) if split else questions


def problems(questions: Sequence[Question], articles: Sequence[Article]) -> list[str]:
    """Everything that would make a question unfair to score; empty when the set is sound."""
    texts = {a.id: a.text for a in articles}
    first: dict[str, str] = {}  # ingest keeps the first of exact copies and refuses the rest
    for a in articles:
        first.setdefault(a.text, a.id)
    found: list[str] = []
    splits: dict[str, set[str]] = {}
    for q in questions:
        text = texts.get(q.article or "")
        if text is None:
            found.append(f"{q.id}: article {q.article!r} is not in the corpus")
            continue
        if first[text] != q.article:
            kept = first[text]
            found.append(f"{q.id}: article {q.article!r} is an exact copy of {kept!r}, which ingest keeps")
        splits.setdefault(q.article or "", set()).add(q.split or "?")
        found += [f"{q.id}: evidence not verbatim: {e!r}" for e in q.evidence if e not in text]
        found += [f"{q.id}: alias {a!r} is not in the corpus" for a in q.article_aliases if a not in texts]
        if q.answerable and not any(a in e for a in q.answers for e in q.evidence):
            found.append(f"{q.id}: no gold answer inside its evidence")
        if not q.answerable and q.evidence:
            found.append(f"{q.id}: unanswerable but has evidence")
        if q.split not in SPLITS:
            found.append(f"{q.id}: split {q.split!r} is not one of {', '.join(SPLITS)}")
    found += [f"article {a} has questions in both splits" for a, s in splits.items() if len(s) > 1]
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=Path, default=DEFAULT_ARTICLES)
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    args = parser.parse_args(argv)
    questions = load_bbc_questions(path=args.questions)
    found = problems(list(questions), load_articles(args.articles))
    for line in found:
        print(line)
    for split in SPLITS:
        part = questions.only_split(split)
        kinds = Counter(q.kind or "?" for q in part)
        print(
            f"{split}: {len(part)} questions over {len({q.article for q in part})} articles, "
            f"{sum(not q.answerable for q in part)} unanswerable; "
            + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())
        )
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
