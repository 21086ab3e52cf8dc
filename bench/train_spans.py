"""Fit the short-answer model and write ``qa/answer/spans-v2.json``; report where EM is lost.

    python -m bench.train_spans [--out qa/answer/spans-v2.json] [--report-only]

Data (training splits only): every answerable question of the SQuAD shared half's 12 ``train``
articles (``bench.answer_data.squad_split``), and the ``split == "train"`` questions of
``bench/data/bbc-questions.jsonl`` and ``qa/samples/questions/kazakhstan-readers.jsonl``. Each
question is paired with its gold evidence sentence (the first one holding a gold answer), so no
index or retrieval is needed. Every candidate phrase of that sentence (``qa.answer.spans``) is a
row; it is right when it equals a gold answer after SQuAD normalisation. Questions none of whose
candidates is right teach nothing and are left out of the fit (they count as misses in the
report).

Model: scikit-learn ``HistGradientBoostingClassifier`` (``PARAMS``, random_state 0, monotonic in
``qa.answer.spans.MONOTONE``: a phrase of the kind asked for never scores lower for it), exported
tree by tree to JSON and evaluated with numpy in ``qa.answer.spans.SpanModel``. A logistic
regression over the same rows is fitted beside it for comparison only. Both are compared by
5-fold cross-validation grouped by article on the training data; ``min_probability`` (below it no
short answer is given and the answer is the sentence) is the lowest grid value at which the shown
short answers are right (normalised exact match) at least ``PRECISION`` of the time in that
cross-validation (until spans-v2's refit in issue 12's second part: the best cross-validated F1
of "short answer, else the sentence", which always favoured showing a phrase, floor 0).

The report (never used to choose anything) measures, on the SQuAD dev articles (the same seeded
500-question sample as ``bench.answer_bench --limit 500``), the BBC dev split and
``qa/samples/questions/kazakhstan.jsonl``: candidate recall (a candidate equals a gold answer)
and EM/F1 given the right sentence (the gold evidence sentence), as the composer scores them: the
short answer when one is given, else the whole sentence; and the p50 time of one ``pick``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from bench.answer_data import BBC_QUESTIONS, READERS, SAMPLE_SET, set_questions, squad_questions
from bench.squad import ROOT
from qa.answer.spans import (
    MONOTONE,
    SPAN_FEATURES,
    WEIGHTS_FILE,
    SpanCandidate,
    SpanModel,
    candidates,
    pick,
    span_rows,
    wants_phrase,
)
from qa.eval.metrics import contains_gold, exact_match, normalize_answer, token_f1

VERSION = "spans-v2"
SEED = 0
PARAMS: dict[str, Any] = {"max_iter": 150, "learning_rate": 0.1, "max_leaf_nodes": 15, "max_depth": 6,
                          "min_samples_leaf": 30, "l2_regularization": 1.0}
# The floor: the lowest of these at which the shown short answers are right (normalised exact
# match with a gold answer) at least PRECISION of the time, cross-validated on the training data.
# A wrong phrase leading an answer is worse for a reader than the sentence alone.
PRECISION = 0.75
FLOORS = tuple(round(float(x), 2) for x in np.arange(0.0, 0.96, 0.05))


@dataclass
class Example:
    """One question with its gold sentence and that sentence's candidate phrases."""

    question: str
    sentence: str
    answers: list[str]
    group: str
    spans: list[SpanCandidate]
    rows: np.ndarray
    labels: np.ndarray


def examples(questions: Sequence[dict[str, Any]], source: str) -> list[Example]:
    out = []
    for q in questions:
        answers = list(q.get("answers") or [])
        if not answers:
            continue
        sentence = next((e for e in q.get("evidence") or [] if contains_gold(e, answers) == 1.0), None)
        if sentence is None:
            continue
        golds = {normalize_answer(g) for g in answers} - {""}
        spans = candidates(sentence)
        rows = span_rows(q["question"], sentence, spans)
        labels = np.array([normalize_answer(s.text) in golds for s in spans], dtype=np.int64)
        out.append(Example(q["question"], sentence, answers, f"{source}:{q.get('article', '')}",
                           spans, rows, labels))
    return out


def training_items() -> tuple[list[Example], dict[str, int]]:
    """``bench.train_spans``'s training examples (SQuAD train articles, BBC and readers train)."""
    items = examples(squad_questions("train"), "squad")
    sources = {"squad": len(items)}
    for name, path in (("bbc", BBC_QUESTIONS), ("readers", READERS)):
        got = examples(set_questions(path, "train"), name)
        sources[name] = len(got)
        items += got
    return items, sources


def export(clf: HistGradientBoostingClassifier, floor: float, meta: dict[str, Any]) -> SpanModel:
    trees = []
    for (predictor,) in clf._predictors:
        nodes = predictor.nodes
        trees.append({"feature": np.asarray(nodes["feature_idx"], dtype=np.int64),
                      "threshold": np.asarray(nodes["num_threshold"], dtype=np.float64),
                      "left": np.asarray(nodes["left"], dtype=np.int64),
                      "right": np.asarray(nodes["right"], dtype=np.int64),
                      "value": np.asarray(nodes["value"], dtype=np.float64),
                      "leaf": np.asarray(nodes["is_leaf"], dtype=bool)})
    baseline = float(np.ravel(clf._baseline_prediction)[0])
    return SpanModel(VERSION, SPAN_FEATURES, baseline, tuple(trees), floor, meta)


def stack(items: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    return np.vstack([e.rows for e in items]), np.concatenate([e.labels for e in items])


def fit_trees(items: Sequence[Example]) -> HistGradientBoostingClassifier:
    x, y = stack([e for e in items if e.labels.any()])
    monotone = [MONOTONE.get(f, 0) for f in SPAN_FEATURES]
    return HistGradientBoostingClassifier(random_state=SEED, monotonic_cst=monotone, **PARAMS).fit(x, y)


def fit_logistic(items: Sequence[Example]) -> tuple[LogisticRegression, np.ndarray, np.ndarray]:
    x, y = stack([e for e in items if e.labels.any()])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=1.0, max_iter=500, random_state=SEED).fit((x - mean) / scale, y)
    return clf, mean, scale


def score(items: Sequence[Example], probs: Sequence[np.ndarray], floor: float) -> dict[str, float]:
    """Candidate recall, ranking accuracy and EM/F1 given the right sentence (as the composer
    scores: the short answer when one is given, else the sentence)."""
    em, f1, given, top = [], [], [], []
    for e, p in zip(items, probs, strict=True):
        best = int(np.argmax(p)) if len(p) else -1
        phrase = best >= 0 and wants_phrase(e.question) and p[best] >= floor
        text = e.spans[best].text if phrase else e.sentence
        em.append(exact_match(text, e.answers) or 0.0)
        f1.append(token_f1(text, e.answers) or 0.0)
        given.append(float(phrase))
        top.append(float(best >= 0 and bool(e.labels[best])))
    return {"n": len(items), "candidate_recall": float(np.mean([e.labels.any() for e in items])),
            "top_is_gold": float(np.mean(top)), "em": float(np.mean(em)), "f1": float(np.mean(f1)),
            "short_given": float(np.mean(given))}


def shown_right(items: Sequence[Example], probs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per example: the top candidate's probability (-1 when no phrase is wanted) and whether it
    is a gold answer (normalised exact match)."""
    top, right = np.full(len(items), -1.0), np.zeros(len(items), dtype=bool)
    for k, (e, p) in enumerate(zip(items, probs, strict=True)):
        if len(p) and wants_phrase(e.question):
            best = int(np.argmax(p))
            top[k], right[k] = float(p[best]), bool(e.labels[best])
    return top, right


def lowest_floor(top: np.ndarray, right: np.ndarray) -> dict[str, float]:
    """The lowest floor at which the shown short answers are right >= ``PRECISION`` of the time;
    when none reaches it, the floor that shows nothing (``met`` says which, and a refit says so)."""
    met = False
    for floor in FLOORS:
        shown = top >= floor
        if shown.any() and right[shown].mean() >= PRECISION:
            met = True
            break
    if not met:
        floor = 1.01  # above every probability: no short answer rather than one that misleads
        print(f"no floor reaches precision {PRECISION:.2f}: short answers are switched off")
    shown = top >= floor
    return {"floor": float(floor), "met": float(met),
            "shown_of_factoid": float(shown.sum() / max(1, (top >= 0).sum())),
            "precision": float(right[shown].mean()) if shown.any() else 0.0}


def crossval(items: list[Example], folds: int = 5) -> dict[str, Any]:
    groups = sorted({e.group for e in items})
    random.Random(SEED).shuffle(groups)
    fold = {g: i % folds for i, g in enumerate(groups)}
    trees: list[np.ndarray] = [np.zeros(0)] * len(items)
    logistic: list[np.ndarray] = [np.zeros(0)] * len(items)
    for f in range(folds):
        train = [e for e in items if fold[e.group] != f]
        test = [i for i, e in enumerate(items) if fold[e.group] == f]
        clf = fit_trees(train)
        lr, mean, scale = fit_logistic(train)
        for i in test:
            rows = items[i].rows
            trees[i] = clf.predict_proba(rows)[:, 1] if len(rows) else np.zeros(0)
            logistic[i] = lr.predict_proba((rows - mean) / scale)[:, 1] if len(rows) else np.zeros(0)
    chosen = lowest_floor(*shown_right(items, trees))
    floor = chosen["floor"]
    return {"floor": floor, **chosen, "trees": score(items, trees, floor),
            "trees_no_floor": score(items, trees, 0.0), "logistic": score(items, logistic, floor)}


def report(model: SpanModel) -> dict[str, dict[str, float]]:
    from bench.answer_bench import sample

    sets = {
        "SQuAD dev (500, seed 13)": examples(sample(squad_questions("dev"), 500), "squad"),
        "BBC dev": examples(set_questions(BBC_QUESTIONS, "dev"), "bbc"),
        "kazakhstan.jsonl": examples(set_questions(SAMPLE_SET, None), "sample"),
    }
    out = {name: score(items, [model.proba(e.rows) if len(e.rows) else np.zeros(0) for e in items],
                       model.min_probability)
           for name, items in sets.items()}
    # What the short answer costs per answer: candidates, features and trees for one sentence.
    times = []
    for e in sets["SQuAD dev (500, seed 13)"]:
        t0 = time.perf_counter()
        pick(e.question, e.sentence, model)
        times.append(1000 * (time.perf_counter() - t0))
    out["SQuAD dev (500, seed 13)"]["pick_ms_p50"] = float(np.percentile(times, 50))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "qa" / "answer" / WEIGHTS_FILE)
    parser.add_argument("--report-only", action="store_true",
                        help="Only measure the shipped (or --out) weights on the dev sets.")
    args = parser.parse_args()
    if args.report_only:
        print(json.dumps(report(SpanModel.load(args.out)), indent=1))
        return
    items, sources = training_items()
    cv = crossval(items)
    print("cross-validated on the training data (5 folds by article):")
    print(json.dumps(cv, indent=1))
    clf = fit_trees(items)
    _x, y = stack([e for e in items if e.labels.any()])
    meta = {"data": sources, "rows": len(y), "positives": int(y.sum()), "seed": SEED,
            "params": PARAMS, "command": "python -m bench.train_spans",
            "min_probability": f"lowest floor in {list(FLOORS)} at which the shown short answers "
                                f"are right (normalised EM) >= {PRECISION} in 5-fold CV", "crossval": cv}
    model = export(clf, cv["floor"], meta)
    check = np.vstack([e.rows for e in items[:50] if len(e.rows)])
    assert np.allclose(model.logit(check), clf.decision_function(check), atol=1e-6), "export differs"
    args.out.write_text(json.dumps(model.to_dict(), separators=(",", ":")) + "\n")
    model = SpanModel.load(args.out)  # what ships: rounded to 6-9 digits
    print("export check, max |logit difference|:",
          float(np.abs(model.logit(check) - clf.decision_function(check)).max()))
    print(f"{len(model.trees)} trees, min_probability {model.min_probability} -> {args.out}")
    print("report (dev splits, not used for any choice):")
    print(json.dumps(report(model), indent=1))


if __name__ == "__main__":
    main()
