"""Fit the answer step's weights and write ``qa/answer/answerer-v1.json``.

    python -m bench.train_answerer [--workdir /tmp/answerer] [--out qa/answer/answerer-v1.json]

Data (training splits only; the dev splits are what BENCHMARKS.md reports):
- the SQuAD shared half (``../shared/benchmarks/squad-dev-half``), its 12 ``train`` articles
  (``bench.answer_data.squad_split``: sorted ids shuffled with ``random.Random(12)``);
- the ``split == "train"`` questions of ``qa/samples/questions/kazakhstan-readers.jsonl`` (over
  ``qa/samples/articles``) and of ``bench/data/bbc-questions.jsonl`` (over the 2,225 BBC articles
  of ``../shared/benchmarks/bbc-news``), when those files are present.

Each corpus is indexed once in ``--workdir`` and each question retrieved once (k=5, hybrid, as
``ask`` does). Labels: a sentence is right when it holds a gold answer (SQuAD normalisation,
``qa.eval.metrics.contains_gold``) or is a gold evidence sentence; the answer is right when its
sentences hold a gold answer (an unanswerable question: when it abstains). (The short-answer span
model is fitted by ``python -m bench.train_spans``.) Models: scikit-learn ``LogisticRegression`` (lbfgs,
C=1.0, standardised features; deterministic, seed 0 where a seed applies). The confidence model is
fitted on cross-fitted sentence scores (2 folds by article/set), so it learns from scores like the
ones it sees at question time. Threshold target: at most 5% of the answerable training questions
abstained on (the 5th percentile of their confidence).
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from bench.answer_data import (
    BBC,
    BBC_QUESTIONS,
    READERS,
    SAMPLE_ARTICLES,
    SQUAD,
    Asked,
    open_index,
    retrieve_all,
    set_questions,
    squad_questions,
)
from bench.squad import ROOT
from qa.answer.extractive import ExtractiveComposer, Table
from qa.answer.features import DENSE, FEATURES
from qa.answer.model import CONFIDENCE_FEATURES, WEIGHTS_FILE, AnswererModel, Logistic, confidence_row
from qa.eval.metrics import contains_gold

VERSION = "answerer-v1"
TARGET_FALSE_ABSTAIN = 0.05
SEED = 0


def fit(
    x: np.ndarray, y: np.ndarray, names: Sequence[str], *, weights: np.ndarray | None = None,
    c: float = 1.0,
) -> Logistic:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=c, max_iter=2000, random_state=SEED)
    clf.fit((x - mean) / scale, y, sample_weight=weights)
    return Logistic(tuple(names), mean, scale, clf.coef_[0].astype(np.float64), float(clf.intercept_[0]))


def columns(names: Sequence[str], keep: Sequence[str]) -> list[int]:
    return [list(names).index(n) for n in keep]


def sentence_labels(asked: Asked, table: Table) -> np.ndarray:
    evidence = {" ".join(e.split()) for e in asked.question.get("evidence") or []}
    return np.array([
        bool(asked.answers) and (contains_gold(c.text, asked.answers) == 1.0
                                 or " ".join(c.text.split()) in evidence)
        for c in table.candidates
    ], dtype=np.int64)


def collect(composer: ExtractiveComposer, asked: Iterable[Asked], group: str) -> list[dict[str, Any]]:
    out = []
    for a in asked:
        table = composer.table(a.request)
        if not table.candidates:
            continue
        out.append({"asked": a, "table": table, "labels": sentence_labels(a, table),
                    "group": f"{group}:{a.question.get('article', '')}", "weight": 1.0})
    return out


def fit_sentence(items: list[dict[str, Any]], keep: Sequence[str]) -> Logistic:
    x = np.vstack([it["table"].rows for it in items])[:, columns(FEATURES, keep)]
    y = np.concatenate([it["labels"] for it in items])
    w = np.concatenate([np.full(len(it["labels"]), it["weight"]) for it in items])
    return fit(x, y, keep, weights=w)


def confidence_data(
    composer: ExtractiveComposer, items: list[dict[str, Any]], sentence: Logistic, dense: bool
) -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    for it in items:
        table: Table = it["table"]
        x = sentence.select(table.rows, FEATURES)
        table.scores = sentence.logit(x)
        probs = 1.0 / (1.0 + np.exp(-table.scores))
        top = max((c.passage.dense_score or 0.0 for c in table.candidates), default=0.0)
        rows.append(confidence_row(probs, table.scores, table.rows, FEATURES, missing=table.missing,
                                   top_passage_dense=top, kind=table.profile.kind,
                                   counted=bool(table.profile.counted)))
        chosen = composer._choose(table, probs)
        text = " ".join(c.text for c, _ in chosen)
        answers = it["asked"].answers
        labels.append(int(bool(answers) and contains_gold(text, answers) == 1.0))
    return np.vstack(rows), np.array(labels)


def crossfit_confidence(
    composer: ExtractiveComposer, items: list[dict[str, Any]], keep: Sequence[str], dense: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[bool]]:
    groups = sorted({it["group"] for it in items})
    random.Random(SEED).shuffle(groups)
    fold = {g: i % 2 for i, g in enumerate(groups)}
    xs, ys, ws, answerable = [], [], [], []
    for f in (0, 1):
        train = [it for it in items if fold[it["group"]] != f]
        test = [it for it in items if fold[it["group"]] == f]
        model = fit_sentence(train, keep)
        x, y = confidence_data(composer, test, model, dense)
        xs.append(x)
        ys.append(y)
        ws.append(np.array([it["weight"] for it in test]))
        answerable += [bool(it["asked"].answers) for it in test]
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ws), answerable


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/answerer"))
    parser.add_argument("--out", type=Path, default=ROOT / "qa" / "answer" / WEIGHTS_FILE)
    parser.add_argument("--bbc-index", type=Path, default=None, help="Reuse this BBC data dir.")
    parser.add_argument("--sets", default="squad,readers,bbc", help="Training sets to use.")
    parser.add_argument("--limit", type=int, default=1200,
                        help="SQuAD training questions (seeded sample of the train split; 0: all).")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    items: list[dict[str, Any]] = []
    sources: dict[str, int] = {}
    composer: ExtractiveComposer | None = None
    squad = squad_questions("train")
    if args.limit and args.limit < len(squad):
        squad = random.Random(SEED).sample(squad, args.limit)
    plans = [("squad", SQUAD / "articles.jsonl", squad)]
    plans.append(("readers", SAMPLE_ARTICLES, set_questions(READERS, "train")))
    plans.append(("bbc", BBC / "articles.jsonl", set_questions(BBC_QUESTIONS, "train")))
    for name, articles, questions in plans:
        if not questions or name not in args.sets.split(","):
            continue
        if name == "bbc" and args.bbc_index is not None:
            from qa.assistant import Assistant
            from qa.settings import Settings
            assistant = Assistant(Settings(data_dir=args.bbc_index))
        else:
            assistant = open_index(args.workdir, name, articles)
        found = assistant.chain.composers["extractive"]
        assert isinstance(found, ExtractiveComposer)
        composer = found
        asked = retrieve_all(assistant, questions, args.workdir, name)
        vectors = composer._vectors
        cache = args.workdir / f"sentvec-{name}.pkl"
        if vectors is not None and cache.exists():
            vectors.preload(pickle.loads(cache.read_bytes()))
        got = collect(composer, tqdm(asked, desc=f"features {name}", mininterval=10), name)
        if vectors is not None:
            cache.write_bytes(pickle.dumps(vectors.export()))
        items += got
        sources[name] = len(got)
        print(f"{name}: {len(got)} training questions")
    # The news sets are what the product answers: together they weigh half as much as SQuAD.
    squad_n = sources.get("squad", 0)
    news_n = sum(v for k, v in sources.items() if k != "squad")
    for it in items:
        if not it["group"].startswith("squad") and news_n:
            it["weight"] = max(1.0, 0.5 * squad_n / news_n)
    if composer is None or not items:
        raise SystemExit("no training questions: is ../shared/benchmarks/squad-dev-half there?")
    lexical = [f for f in FEATURES if f not in DENSE]
    sentence = fit_sentence(items, FEATURES)
    sentence_lexical = fit_sentence(items, lexical)
    x, y, w, answerable = crossfit_confidence(composer, items, FEATURES, True)
    confidence = fit(x, y, CONFIDENCE_FEATURES, weights=w)
    xl, yl, wl, _ = crossfit_confidence(composer, items, lexical, False)
    # Without an embedder there is no best-sentence similarity at question time either.
    no_dense = [f for f in CONFIDENCE_FEATURES if f != "best_dense"]
    xl = xl[:, columns(CONFIDENCE_FEATURES, no_dense)]
    confidence_lexical = fit(xl, yl, no_dense, weights=wl)
    mask = np.array(answerable)
    threshold = float(np.quantile(confidence.proba(x)[mask], TARGET_FALSE_ABSTAIN))
    threshold_lexical = float(np.quantile(confidence_lexical.proba(xl)[mask], TARGET_FALSE_ABSTAIN))
    p = confidence.proba(x)
    unans = ~mask
    meta = {
        "data": sources, "seed": SEED, "command": "python -m bench.train_answerer",
        "threshold_target":
            f"at most {TARGET_FALSE_ABSTAIN:.0%} of answerable training questions abstained on",
        "train_unanswerable_abstained": float((p[unans] < threshold).mean()) if unans.any() else None,
        "train_answer_right": float(y[mask].mean()),
    }
    model = AnswererModel(VERSION, sentence, sentence_lexical, confidence, confidence_lexical,
                          threshold, threshold_lexical, meta)
    args.out.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
    print(json.dumps(meta, indent=1))
    print(f"threshold {threshold:.3f} (lexical {threshold_lexical:.3f}) -> {args.out}")


if __name__ == "__main__":
    main()
