"""Fit the answer step's weights and write ``qa/answer/answerer-v1.json``.

    python -m bench.train_answerer [--workdir /tmp/answerer] [--out qa/answer/answerer-v1.json]
                                   [--bbc-index DIR] [--limit 0] [--no-synthetic] [--synthetic-weight 1]

Data (training splits only; the dev splits are what BENCHMARKS.md reports):
- the SQuAD shared half (``../shared/benchmarks/squad-dev-half``), all 2,153 questions of its 12
  ``train`` articles (``bench.answer_data.squad_split``: sorted ids shuffled with
  ``random.Random(12)``; ``--limit N`` for a seeded sample);
- the ``split == "train"`` questions of ``qa/samples/questions/kazakhstan-readers.jsonl`` (over
  ``qa/samples/articles``) and of ``bench/data/bbc-questions.jsonl`` (over the 2,225 BBC articles
  of ``../shared/benchmarks/bbc-news``), when those files are present.

Each corpus is indexed once in ``--workdir`` and each question retrieved once (k=5, hybrid, as
``ask`` does). Labels: a sentence is right when it holds a gold answer (SQuAD normalisation,
``qa.eval.metrics.contains_gold``) or is a gold evidence sentence; the answer is right when its
sentences hold a gold answer (never, for an unanswerable question). (The short-answer span
model is fitted by ``python -m bench.train_spans``.)

Synthetic unanswerables (SQuAD 2.0 style, ``--synthetic``, on by default): every answerable
training question gets a twin over its own retrieved passages with every sentence holding the
gold answer or gold evidence cut out (``without_answer``): on topic, same names, the fact absent,
so any answer is wrong. The twins train only the confidence model (in the same cross-fitting fold
as their question), together weighing ``--synthetic-weight`` times the real answerable questions.

Models: scikit-learn ``LogisticRegression`` (lbfgs, C=1.0, standardised features; deterministic,
seed 0 where a seed applies). The confidence model (``CONFIDENCE_FEATURES``: the sentence scores
plus ``qa.answer.features.EVIDENCE_FEATURES``) is fitted on cross-fitted sentence scores (2 folds
by article/set), so it learns from scores like the ones it sees at question time; its logit is
then recalibrated (Platt) on the real training questions, so ``confidence`` is a probability for
real questions, not for the half-synthetic mix. Threshold target: at most 5% of the answerable
training questions abstained on (the 5th percentile of their cross-fitted confidence); the
stricter ``strict_threshold`` in ``meta`` (at most 5% of the answerable questions answered
RIGHT abstained on) is reported by ``bench.answer_bench``. HistGradientBoostingClassifier was
tried for the confidence model and separated no better (cross-fitted, see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
from collections.abc import Iterable, Sequence
from dataclasses import replace
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
from index.sentences import sentence_spans_in
from qa.answer.extractive import ExtractiveComposer, Table
from qa.answer.features import DENSE, FEATURES
from qa.answer.matcher import Matcher, MatcherWeights
from qa.answer.model import CONFIDENCE_FEATURES, WEIGHTS_FILE, AnswererModel, Logistic
from qa.eval.metrics import contains_gold

VERSION = "answerer-v1"
TARGET_FALSE_ABSTAIN = 0.05
SYNTHETIC_WEIGHT = 1.0
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
                    "group": f"{group}:{a.question.get('article', '')}", "weight": 1.0,
                    "synthetic": False})
    return out


def without_answer(asked: Asked, labels: np.ndarray, table: Table) -> Asked | None:
    """The question over its retrieved passages with every sentence that holds the gold answer
    (or is gold evidence) cut out: on topic, same names, the fact absent (SQuAD 2.0 style).
    None when nothing would be left or no sentence held the answer."""
    if not asked.answers or not labels.any():
        return None
    gone = {" ".join(c.text.split()) for c, y in zip(table.candidates, labels, strict=True) if y}
    evidence = {" ".join(e.split()) for e in asked.question.get("evidence") or []}
    passages = []
    for p in asked.request.passages:
        kept = [p.text[a:b] for a, b in sentence_spans_in(p.text, 0, len(p.text))
                if " ".join(p.text[a:b].split()) not in gone | evidence
                and contains_gold(p.text[a:b], asked.answers) != 1.0]
        if kept:
            passages.append(replace(p, text=" ".join(kept)))
    if not passages or contains_gold(" ".join(p.text for p in passages), asked.answers) == 1.0:
        return None  # the answer straddles sentences we kept: not a clean negative
    question = {**asked.question, "answers": [], "synthetic": True}
    return Asked(question, replace(asked.request, passages=tuple(passages)))


def synthetic(composer: ExtractiveComposer, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A "must abstain" twin of every answerable training question (``without_answer``)."""
    out = []
    for it in items:
        twin = without_answer(it["asked"], it["labels"], it["table"])
        if twin is None:
            continue
        table = composer.table(twin.request)
        if table.candidates:
            out.append({"asked": twin, "table": table, "labels": np.zeros(len(table.candidates), np.int64),
                        "group": it["group"], "weight": it["weight"], "synthetic": True})
    return out


def fit_sentence(items: list[dict[str, Any]], keep: Sequence[str]) -> Logistic:
    x = np.vstack([it["table"].rows for it in items])[:, columns(FEATURES, keep)]
    y = np.concatenate([it["labels"] for it in items])
    w = np.concatenate([np.full(len(it["labels"]), it["weight"]) for it in items])
    return fit(x, y, keep, weights=w)


def confidence_data(
    composer: ExtractiveComposer, items: list[dict[str, Any]], sentence: Logistic
) -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    for it in items:
        table: Table = it["table"]
        x = sentence.select(table.rows, FEATURES)
        table.scores = sentence.logit(x)
        probs = 1.0 / (1.0 + np.exp(-table.scores))
        rows.append(composer.confidence_features(table, probs))
        if it["synthetic"]:
            labels.append(0)  # the answer was cut out of the passages: any answer is wrong
            continue
        chosen = composer._choose(table, probs)
        text = " ".join(c.text for c, _ in chosen)
        answers = it["asked"].answers
        labels.append(int(bool(answers) and contains_gold(text, answers) == 1.0))
    return np.vstack(rows), np.array(labels)


def crossfit_confidence(
    composer: ExtractiveComposer, items: list[dict[str, Any]], keep: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Confidence rows from sentence models fitted on the other fold (2 folds by article): rows,
    labels, weights, and each row's role ("answerable", "unanswerable", "synthetic")."""
    groups = sorted({it["group"] for it in items})
    random.Random(SEED).shuffle(groups)
    fold = {g: i % 2 for i, g in enumerate(groups)}
    xs, ys, ws, roles = [], [], [], []
    for f in (0, 1):
        train = [it for it in items if fold[it["group"]] != f and not it["synthetic"]]
        test = [it for it in items if fold[it["group"]] == f]
        model = fit_sentence(train, keep)
        x, y = confidence_data(composer, test, model)
        xs.append(x)
        ys.append(y)
        ws.append(np.array([it["weight"] for it in test]))
        roles += ["synthetic" if it["synthetic"] else "answerable" if it["asked"].answers
                  else "unanswerable" for it in test]
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ws), np.array(roles)


def choose_threshold(p: np.ndarray, roles: np.ndarray) -> float:
    """The highest threshold that abstains on at most ``TARGET_FALSE_ABSTAIN`` of the answerable
    training questions (their confidence's 5th percentile)."""
    return float(np.quantile(p[roles == "answerable"], TARGET_FALSE_ABSTAIN))


def tradeoff(p: np.ndarray, y: np.ndarray, roles: np.ndarray) -> dict[str, dict[str, float]]:
    """Cross-fitted training trade-off: what each threshold abstains on, by role."""
    out = {}
    for t in (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
        row = {r: round(float((p[roles == r] < t).mean()), 3) for r in
               ("answerable", "unanswerable", "synthetic") if (roles == r).any()}
        answered = (p >= t) & (roles == "answerable")
        row["answered_right"] = round(float(y[answered].mean()), 3) if answered.any() else 0.0
        out[f"{t:.2f}"] = row
    return out


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width confidence bins."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(p[which == b].mean() - y[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


class LookupMatcher:
    """The matcher's scores for training tables: out-of-fold scores (``bench.train_matcher``),
    so the answer model learns how far to trust the matcher on questions it never saw; a pair
    not scored there (a synthetic twin's re-split sentence) goes to the shipped matcher."""

    def __init__(self, scores: dict[tuple[str, str], float], fallback: Matcher | None) -> None:
        self.scores, self.fallback, self.missed = scores, fallback, 0

    def score(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        missing = [s for s in sentences if (question, s) not in self.scores]
        if missing and self.fallback is not None:
            self.missed += len(missing)
            self.scores.update(zip(((question, s) for s in missing),
                                   self.fallback.score(question, missing), strict=True))
        return np.array([self.scores.get((question, s), 0.0) for s in sentences])


def gather(
    args: argparse.Namespace, *, matcher: bool = True
) -> tuple[list[dict[str, Any]], dict[str, int], ExtractiveComposer]:
    """Every training question's candidate table, and its synthetic "must abstain" twin.
    ``matcher=False``: tables without the matcher's columns (to train the matcher itself)."""
    oof = pickle.loads(Path(args.matcher_scores).read_bytes()) if args.matcher_scores else None
    items: list[dict[str, Any]] = []
    sources: dict[str, int] = {}
    composer: ExtractiveComposer | None = None
    squad = squad_questions("train")
    if args.limit and args.limit < len(squad):
        squad = random.Random(SEED).sample(squad, args.limit)
    plans = [("squad", SQUAD / "articles.jsonl", squad)]
    plans.append(("readers", SAMPLE_ARTICLES, set_questions(READERS, "train")))
    plans.append(("bbc", BBC / "articles.jsonl", set_questions(BBC_QUESTIONS, "train")))
    # Opt-in (--sets ...,bbc-extra): 126 more training questions written later; a refit with
    # them was worse on every dev set (BENCHMARKS.md), so the shipped weights leave them out.
    plans.append(("bbc-extra", BBC / "articles.jsonl", set_questions(BBC_QUESTIONS, "extra")))
    for name, articles, questions in plans:
        if not questions or name not in args.sets.split(","):
            continue
        if name.startswith("bbc") and args.bbc_index is not None:
            from qa.assistant import Assistant
            from qa.settings import Settings
            assistant = Assistant(Settings(data_dir=args.bbc_index))
        else:
            assistant = open_index(args.workdir, name, articles)
        found = assistant.chain.composers["extractive"]
        assert isinstance(found, ExtractiveComposer)
        composer = found
        if not matcher:
            composer._matcher = None
        elif oof is not None:
            composer._matcher = LookupMatcher(oof, composer._matcher)
        asked = retrieve_all(assistant, questions, args.workdir, name)
        vectors = composer._vectors
        cache = args.workdir / f"sentvec-{name}.pkl"
        if vectors is not None and cache.exists():
            vectors.preload(pickle.loads(cache.read_bytes()))
        got = collect(composer, tqdm(asked, desc=f"features {name}", mininterval=10), name)
        if oof is not None and matcher:
            for it in got:  # the chooser reads the matcher's columns (out-of-fold scores)
                it["table"].rows = composer.matched(it["table"])
        twins = synthetic(composer, got) if args.synthetic else []
        if vectors is not None:
            cache.write_bytes(pickle.dumps(vectors.export()))
        items += got + twins
        sources[name] = len(got)
        sources[f"{name}_synthetic_unanswerable"] = len(twins)
        print(f"{name}: {len(got)} training questions, {len(twins)} synthetic unanswerable twins")
    if composer is None or not items:
        raise SystemExit("no training questions: is ../shared/benchmarks/squad-dev-half there?")
    return items, sources, composer


def weigh(items: list[dict[str, Any]], synthetic_weight: float) -> None:
    """The news sets weigh half as much as SQuAD in total; the synthetic unanswerables together
    weigh ``synthetic_weight`` times the real answerable questions."""
    real = [it for it in items if not it["synthetic"]]
    squad_n = sum(it["group"].startswith("squad") for it in real)
    news_n = len(real) - squad_n
    for it in items:
        news = news_n and not it["group"].startswith("squad")
        it["weight"] = max(1.0, 0.5 * squad_n / news_n) if news else 1.0
    fake = [it for it in items if it["synthetic"]]
    answerable = sum(it["weight"] for it in real if it["asked"].answers)
    total = sum(it["weight"] for it in fake)
    for it in fake:
        it["weight"] *= synthetic_weight * answerable / total if total else 0.0


def fit_all(
    items: list[dict[str, Any]], sources: dict[str, int], composer: ExtractiveComposer,
    synthetic_weight: float,
) -> tuple[AnswererModel, dict[str, Any]]:
    """All models of the answer step from the gathered training tables."""
    weigh(items, synthetic_weight)
    real = [it for it in items if not it["synthetic"]]
    lexical = [f for f in FEATURES if f not in DENSE]
    # Sentence and confidence models without the matcher's columns: it only chooses (``chooser``).
    base = [f for f in FEATURES if f not in ("match", "match_gap")]
    sentence = fit_sentence(real, base)
    sentence_lexical = fit_sentence(real, lexical)
    x, y, w, roles = crossfit_confidence(composer, items, base)
    confidence = fit(x, y, CONFIDENCE_FEATURES, weights=w)
    xl, yl, wl, _ = crossfit_confidence(composer, items, lexical)
    # Without an embedder there is no best-sentence similarity at question time either.
    no_dense = [f for f in CONFIDENCE_FEATURES if f != "best_dense"]
    xl = xl[:, columns(CONFIDENCE_FEATURES, no_dense)]
    confidence_lexical = fit(xl, yl, no_dense, weights=wl)
    # The trade-off and calibration of confidence models fitted on the other fold's questions
    # (what the threshold is chosen on), not of the final model on its own training rows.
    p, pl = crossfit_proba(x, y, w, roles, CONFIDENCE_FEATURES), crossfit_proba(xl, yl, wl, roles, no_dense)
    # The synthetic twins teach the ranking; the probability must hold for real questions, so
    # the logit is recalibrated (Platt: slope and offset) on the real training questions.
    real_rows = roles != "synthetic"
    confidence, p = recalibrate(confidence, p, y, w, real_rows)
    confidence_lexical, pl = recalibrate(confidence_lexical, pl, yl, wl, real_rows)
    threshold, threshold_lexical = choose_threshold(p, roles), choose_threshold(pl, roles)
    strict = float(np.quantile(p[(roles == "answerable") & (y == 1)], TARGET_FALSE_ABSTAIN))
    meta = {
        "data": sources, "seed": SEED, "command": "python -m bench.train_answerer",
        "synthetic_weight": synthetic_weight,
        "threshold_target":
            f"at most {TARGET_FALSE_ABSTAIN:.0%} of answerable training questions abstained on "
            "(cross-fitted confidence)",
        "train_abstained_at_threshold": {
            r: round(float((p[roles == r] < threshold).mean()), 3)
            for r in ("answerable", "unanswerable", "synthetic") if (roles == r).any()},
        "train_answer_right": round(float(y[roles == "answerable"].mean()), 3),
        "strict_threshold": round(strict, 6),
        "strict_target": f"at most {TARGET_FALSE_ABSTAIN:.0%} of the answerable training questions "
                         "answered right abstained on",
        "train_abstained_at_strict": {
            r: round(float((p[roles == r] < strict).mean()), 3)
            for r in ("answerable", "unanswerable", "synthetic") if (roles == r).any()},
        "train_ece_real": round(ece(p[real_rows], y[real_rows]), 3),
    }
    model = AnswererModel(VERSION, sentence, sentence_lexical, confidence, confidence_lexical,
                          threshold, threshold_lexical, meta)
    return model, {"tradeoff": tradeoff(p, y, roles), "tradeoff_lexical": tradeoff(pl, yl, roles)}


def recalibrate(
    model: Logistic, p: np.ndarray, y: np.ndarray, w: np.ndarray, rows: np.ndarray
) -> tuple[Logistic, np.ndarray]:
    """``model`` with its logit rescaled (``a * logit + b``, fitted on ``rows`` of the
    cross-fitted probabilities ``p``), and ``p`` recalibrated the same way."""
    logit = np.log(np.clip(p, 1e-9, 1 - 1e-9) / np.clip(1 - p, 1e-9, 1.0))
    clf = LogisticRegression(C=1e6, max_iter=2000, random_state=SEED)
    clf.fit(logit[rows, None], y[rows], sample_weight=w[rows])
    a, b = float(clf.coef_[0][0]), float(clf.intercept_[0])
    scaled = Logistic(model.features, model.mean, model.scale, model.coef * a, model.intercept * a + b)
    return scaled, 1.0 / (1.0 + np.exp(-(a * logit + b)))


def crossfit_proba(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, roles: np.ndarray, names: Sequence[str]
) -> np.ndarray:
    """Each row's confidence from a model fitted on the other half of the rows (seeded)."""
    half = np.random.default_rng(SEED).permutation(len(y)) % 2
    p = np.zeros(len(y))
    for f in (0, 1):
        model = fit(x[half != f], y[half != f], names, weights=w[half != f])
        p[half == f] = model.proba(x[half == f])
    return p


def training_parser(doc: str | None, out: str) -> argparse.ArgumentParser:
    """The options every training script of the answer step shares (``out``: the weights file
    in ``qa/answer``)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/answerer"))
    parser.add_argument("--out", type=Path, default=ROOT / "qa" / "answer" / out)
    parser.add_argument("--bbc-index", type=Path, default=None, help="Reuse this BBC data dir.")
    parser.add_argument("--sets", default="squad,readers,bbc", help="Training sets to use.")
    return parser


def main() -> None:
    parser = training_parser(__doc__, WEIGHTS_FILE)
    parser.add_argument("--limit", type=int, default=0,
                        help="SQuAD training questions (seeded sample of the train split; 0: all).")
    parser.add_argument("--synthetic", action=argparse.BooleanOptionalAction, default=True,
                        help="Add a synthetic unanswerable twin of each answerable question.")
    parser.add_argument("--chooser", action="store_true",
                        help="Fit only the chooser (needs --matcher-scores) into the weights at --out.")
    parser.add_argument("--matcher-scores", type=Path, default=None,
                        help="Out-of-fold matcher scores from bench.train_matcher (matcher-oof.pkl).")
    parser.add_argument("--synthetic-weight", type=float, default=SYNTHETIC_WEIGHT,
                        help="Total weight of the synthetic twins relative to the answerable questions.")
    args = parser.parse_args()
    if args.chooser and args.matcher_scores is None:
        parser.error("--chooser needs --matcher-scores (out-of-fold scores from bench.train_matcher)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.chooser:
        # Only the chooser, added to the shipped weights: abstention stays as it was fitted.
        args.synthetic = False
        items, sources, _ = gather(args)
        weigh(items, args.synthetic_weight)  # the news sets weigh as in the sentence model
        model = replace(AnswererModel.load(args.out), chooser=fit_sentence(items, FEATURES))
        model.meta["chooser_data"] = sources
        model.meta["matcher"] = MatcherWeights.load().digest
        args.out.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
        print(f"chooser ({len(items)} questions) -> {args.out}")
        return
    items, sources, composer = gather(args)
    model, report = fit_all(items, sources, composer, args.synthetic_weight)
    # A full refit has no chooser (refit it with --chooser): no matcher belongs to these weights.
    model.meta["matcher"] = None
    args.out.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
    print(json.dumps({**model.meta, **report}, indent=1))
    print(f"threshold {model.threshold:.3f} (lexical {model.threshold_lexical:.3f}) -> {args.out}")


if __name__ == "__main__":
    main()
