"""Evaluation metrics as pure functions, and a bootstrap confidence interval for each.

Definitions (docs/evaluation.md says the same at more length):

- Answer text is normalised as in the SQuAD v1.1 script (lower case, punctuation and the articles
  a/an/the removed, whitespace collapsed), with two Unicode additions: NFKC first, and every
  Unicode punctuation character (category P*), not only ASCII, is removed. Citation markers such
  as ``[1]`` are stripped from the answer before that.
- ``exact_match``: 1 when the normalised answer equals some normalised gold answer; ``answer_f1``:
  the best token F1 over the gold answers; ``answer_contains_gold``: 1 when some normalised gold
  answer occurs in the normalised answer as a whole-token run.
- Gold items of a question: its evidence quotes; with no evidence, one item stands for "any gold
  answer". A text supports item *i* when it contains evidence quote *i* (whitespace-normalised),
  or contains a gold answer that also occurs in quote *i* (whole tokens, normalised).
- ``hit@k``: some passage among the first *k* supports a gold item; ``recall@k``: the share of
  gold items supported by the first *k*; ``mrr``: 1 / rank of the first supporting passage (0
  when none does).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CITATION_MARKER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE_LEVEL = 0.95


# -- answers --------------------------------------------------------------------------------------


def _is_punctuation(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation, Unicode-aware: NFKC, case-fold, drop punctuation and a/an/the."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if ch.isspace() else ch for ch in text if not _is_punctuation(ch))
    return " ".join(_ARTICLES.sub(" ", text).split())


def strip_citation_markers(text: str) -> str:
    return _CITATION_MARKER.sub(" ", text)


def _golds(golds: Iterable[str]) -> list[str]:
    return [g for g in (normalize_answer(gold) for gold in golds) if g]


def exact_match(prediction: str, golds: Sequence[str]) -> float | None:
    """1.0 when the normalised prediction equals a normalised gold answer; None without golds."""
    normalized = _golds(golds)
    if not normalized:
        return None
    return float(normalize_answer(prediction) in normalized)


def _f1(prediction: list[str], gold: list[str]) -> float:
    common = sum((Counter(prediction) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(prediction), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float | None:
    """The best SQuAD token F1 of the prediction against any gold answer; None without golds."""
    normalized = _golds(golds)
    if not normalized:
        return None
    tokens = normalize_answer(prediction).split()
    return max(_f1(tokens, gold.split()) for gold in normalized)


def contains_gold(prediction: str, golds: Sequence[str]) -> float | None:
    """1.0 when some normalised gold answer is a whole-token run of the normalised prediction."""
    normalized = _golds(golds)
    if not normalized:
        return None
    padded = f" {normalize_answer(prediction)} "
    return float(any(f" {gold} " in padded for gold in normalized))


def answer_length(prediction: str) -> int:
    """Length of the answer in words: whitespace-separated runs holding a letter or digit."""
    return sum(any(ch.isalnum() for ch in word) for word in strip_citation_markers(prediction).split())


# -- support: which gold items a passage or quote backs ------------------------------------------


def _squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def covered_items(
    text: str, evidence: Sequence[str], answers: Sequence[str], *, overlaps: Iterable[int] = ()
) -> frozenset[int]:
    """Indices of the gold items ``text`` supports (see the module docstring).

    ``overlaps`` are evidence indices known to be supported by position (a citation whose span
    overlaps where the quote sits in the article).
    """
    if not answers:
        return frozenset()
    padded = f" {normalize_answer(text)} "
    mentioned = [gold for gold in _golds(answers) if f" {gold} " in padded]
    if not evidence:
        return frozenset({0}) if mentioned else frozenset()
    flat = _squash(text)
    return frozenset(
        i
        for i, quote in enumerate(evidence)
        if _squash(quote) in flat or any(f" {gold} " in f" {normalize_answer(quote)} " for gold in mentioned)
    ) | frozenset(overlaps)


def gold_item_count(evidence: Sequence[str]) -> int:
    return max(len(evidence), 1)


def hit_at_k(covered: Sequence[frozenset[int]], k: int) -> float:
    return float(any(covered[:k]))


def recall_at_k(covered: Sequence[frozenset[int]], k: int, n_items: int) -> float:
    found: set[int] = set().union(*covered[:k]) if covered[:k] else set()
    return len(found) / n_items if n_items else 0.0


def reciprocal_rank(covered: Sequence[frozenset[int]]) -> float:
    return next((1.0 / rank for rank, items in enumerate(covered, start=1) if items), 0.0)


def spans_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


# -- aggregation with confidence intervals --------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A metric's value over ``n`` questions with its 95% bootstrap interval."""

    value: float
    n: int
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Statistic = Callable[[np.ndarray], np.ndarray]


def _mean(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=-1)


def percentile_stat(q: float) -> Statistic:
    def stat(samples: np.ndarray) -> np.ndarray:
        return np.percentile(samples, q, axis=-1)

    return stat


def summarize(values: Sequence[float], *, stat: Statistic = _mean, seed: int = 0) -> Metric | None:
    """The statistic (mean by default) of ``values`` with a percentile-bootstrap 95% interval.

    Resampling uses a fixed seed so the same results always give the same report.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None
    value = float(stat(data))
    rng = np.random.default_rng(seed)
    resampled = stat(data[rng.integers(0, data.size, size=(BOOTSTRAP_RESAMPLES, data.size))])
    tail = (1 - CONFIDENCE_LEVEL) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail])
    return Metric(value, int(data.size), float(low), float(high))


def paired_difference(old: Sequence[float], new: Sequence[float], *, seed: int = 0) -> Metric | None:
    """Mean of ``new - old`` over the same questions, with a bootstrap interval of that mean."""
    if len(old) != len(new):
        raise ValueError("paired values must have the same length")
    return summarize(np.asarray(new, dtype=float) - np.asarray(old, dtype=float), seed=seed)


# -- abstention ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurvePoint:
    """What abstaining below ``threshold`` (confidence < threshold) would have done."""

    threshold: float
    abstain_unanswerable: float | None
    false_abstain: float | None
    answered: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rate(mask: np.ndarray) -> float | None:
    return float(mask.mean()) if mask.size else None


def abstention_curve(
    confidences: Sequence[float], answerable: Sequence[bool], *, points: int = 41
) -> list[CurvePoint]:
    """Abstention rates over thresholds: an even grid plus every observed confidence."""
    conf = np.asarray(confidences, dtype=float)
    gold = np.asarray(answerable, dtype=bool)
    if conf.size == 0:
        return []
    top = max(1.0, float(conf.max()))
    grid = np.unique(
        np.concatenate([np.linspace(0.0, top, points), conf, [np.nextafter(conf.max(), np.inf)]])
    )
    curve = []
    for t in grid:
        abstain = conf < t
        curve.append(
            CurvePoint(float(t), _rate(abstain[~gold]), _rate(abstain[gold]), float((~abstain).mean()))
        )
    return curve


def best_threshold(curve: Sequence[CurvePoint]) -> CurvePoint | None:
    """The point that maximises correct abstentions minus wrong ones (Youden's J); lowest wins ties.

    None when the set has no unanswerable or no answerable questions: nothing to trade off.
    """
    scored = [p for p in curve if p.abstain_unanswerable is not None and p.false_abstain is not None]
    if not scored:
        return None
    return max(
        scored, key=lambda p: (p.abstain_unanswerable or 0) - (p.false_abstain or 0) - 1e-9 * p.threshold
    )


# -- calibration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityBin:
    """Answers whose confidence fell in ``[lo, hi)``: how sure the assistant was, how often right."""

    lo: float
    hi: float
    n: int
    mean_confidence: float | None
    accuracy: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reliability_curve(
    confidences: Sequence[float], correct: Sequence[bool], *, bins: int = 10
) -> list[ReliabilityBin]:
    """Calibration: per confidence bin, the mean confidence and the share of right answers.

    A calibrated assistant sits on the diagonal: of answers given with confidence 0.8, 80% right.
    """
    conf = np.clip(np.asarray(confidences, dtype=float), 0.0, 1.0)
    right = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for i in range(bins):
        lo, hi = float(edges[i]), float(edges[i + 1])
        mask = (conf >= lo) & ((conf < hi) if i < bins - 1 else (conf <= hi))
        n = int(mask.sum())
        out.append(ReliabilityBin(lo, hi, n, float(conf[mask].mean()) if n else None,
                                  float(right[mask].mean()) if n else None))
    return out


def expected_calibration_error(bins: Sequence[ReliabilityBin]) -> float | None:
    """Sum over bins of |accuracy - mean confidence|, weighted by the bin's share of answers."""
    total = sum(b.n for b in bins)
    if not total:
        return None
    return sum(b.n / total * abs((b.accuracy or 0.0) - (b.mean_confidence or 0.0)) for b in bins if b.n)


@dataclass(frozen=True)
class RiskPoint:
    """Answering only when confidence >= ``threshold``: the share of questions answered and the
    share of those answers that are right."""

    threshold: float
    coverage: float
    accuracy: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def risk_coverage(
    confidences: Sequence[float], correct: Sequence[bool], *, total: int | None = None
) -> list[RiskPoint]:
    """The risk-coverage curve over the given answers, most confident first.

    ``correct`` says whether each answer was right (an answer to an unanswerable question is
    wrong); ``total`` is the number of questions asked (coverage's denominator; default: answers).
    """
    conf = np.asarray(confidences, dtype=float)
    right = np.asarray(correct, dtype=bool)
    n = total if total is not None else conf.size
    if not conf.size or not n:
        return []
    order = np.argsort(-conf, kind="stable")
    hits = np.cumsum(right[order])
    points = []
    for i, idx in enumerate(order):
        if i + 1 < conf.size and conf[order[i + 1]] == conf[idx]:
            continue  # one point per distinct threshold
        points.append(RiskPoint(float(conf[idx]), (i + 1) / n, float(hits[i] / (i + 1))))
    return points
