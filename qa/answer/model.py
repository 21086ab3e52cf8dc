"""The fitted weights of the answer step, read from a small versioned JSON file.

Two logistic models, fitted by ``python -m bench.train_answerer`` on its training split (see
that script for data, command and seed) and applied here with numpy alone (no scikit-learn at
question time):

- ``sentence``: P(this candidate sentence holds the answer), from ``qa.answer.features.FEATURES``;
- ``confidence``: P(the answer given is right), from ``CONFIDENCE_FEATURES`` of the question's
  best sentence (its scores and the answer-type evidence of ``qa.answer.features.evidence_row``;
  fitted with synthetic unanswerable twins, recalibrated on real questions): this is
  ``Answer.confidence``, and the answer abstains below ``threshold``.

The short-answer span model has its own file and script (``qa.answer.spans``, ``spans-v2.json``,
``python -m bench.train_spans``); a ``span`` entry left in an older weights file is ignored.

``sentence_lexical`` and ``confidence_lexical`` are the same models fitted without the dense
features, for a composer built without an embedder.

``chooser`` (optional): the sentence model fitted with the matcher's columns as well
(``qa.answer.matcher``; ``python -m bench.train_answerer --chooser``). It only picks which
sentences to cite once ``confidence`` (from ``sentence``) has decided to answer: the matcher ranks
answer sentences better, but fitted into confidence it made tempting unanswerables look
answerable (BENCHMARKS.md, "Reading the question against the sentence"), so abstention stays
exactly as fitted without it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from qa.answer.features import EVIDENCE_FEATURES
from qa.errors import ConfigError

_M = TypeVar("_M")


def load_weights(
    build: Callable[[dict[str, Any]], _M], shipped: str, path: str | Path | None, what: str, refit: str
) -> _M:
    """A fitted model from its JSON weights: the file shipped in ``qa/answer`` (``shipped``), or
    the one at ``path``; any failure is a ConfigError naming the file and the refit command."""
    try:
        if path is None:
            text = resources.files("qa.answer").joinpath(shipped).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return build(json.loads(text))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        where = path or f"qa/answer/{shipped}"
        raise ConfigError(
            f"cannot read the {what} at {where}: {exc} (refit it with: python -m {refit})"
        ) from exc

WEIGHTS_FILE = "answerer-v1.json"

CONFIDENCE_FEATURES: tuple[str, ...] = (
    "best_p", "best_logit", "margin", "best_own", "best_own_q", "best_context", "best_dense",
    "best_names_missing", "best_type_missing", "best_type_ok", "missing_specifics",
    "top_passage_dense", "counted_absent", "kind_known", *EVIDENCE_FEATURES,
)


@dataclass(frozen=True)
class Logistic:
    """``sigmoid(((x - mean) / scale) @ coef + intercept)`` over named features."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logit(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(((rows - self.mean) / self.scale) @ self.coef + self.intercept)

    def proba(self, rows: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(rows)))

    def select(self, rows: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """The columns of ``rows`` (named ``names``) this model reads, in its order."""
        index = {n: i for i, n in enumerate(names)}
        return rows[:, [index[f] for f in self.features]]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Logistic:
        return cls(
            features=tuple(data["features"]), mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64), intercept=float(data["intercept"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": _round(self.mean),
                "scale": _round(self.scale), "coef": _round(self.coef),
                "intercept": round(self.intercept, 6)}


def _round(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


@dataclass(frozen=True)
class AnswererModel:
    """All fitted parts of the answer step, and the abstention threshold with its target."""

    version: str
    sentence: Logistic
    sentence_lexical: Logistic
    confidence: Logistic
    confidence_lexical: Logistic
    threshold: float
    threshold_lexical: float
    meta: dict[str, Any]
    chooser: Logistic | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswererModel:
        models = {k: Logistic.from_dict(data[k]) for k in
                  ("sentence", "sentence_lexical", "confidence", "confidence_lexical")}
        chooser = Logistic.from_dict(data["chooser"]) if data.get("chooser") else None
        return cls(version=str(data["version"]), threshold=float(data["threshold"]),
                   threshold_lexical=float(data["threshold_lexical"]),
                   meta=dict(data.get("meta", {})), chooser=chooser, **models)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "threshold": round(self.threshold, 6),
                "threshold_lexical": round(self.threshold_lexical, 6), "meta": self.meta,
                **{k: getattr(self, k).to_dict() for k in
                   ("sentence", "sentence_lexical", "confidence", "confidence_lexical")},
                **({"chooser": self.chooser.to_dict()} if self.chooser else {})}

    @classmethod
    def load(cls, path: str | Path | None = None) -> AnswererModel:
        """The shipped weights (``qa/answer/answerer-v1.json``), or those at ``path``."""
        return load_weights(cls.from_dict, WEIGHTS_FILE, path, "answer model", "bench.train_answerer")


@lru_cache(maxsize=1)
def default_model() -> AnswererModel:
    return AnswererModel.load()


def confidence_row(
    probs: np.ndarray, logits: np.ndarray, rows: np.ndarray, features: Sequence[str],
    *, missing: bool, top_passage_dense: float, kind: str | None, counted: bool,
    evidence: Sequence[float],
) -> np.ndarray:
    """``CONFIDENCE_FEATURES`` of a question from its candidates' rows and sentence scores;
    ``evidence`` is ``qa.answer.features.evidence_row`` of the best sentence."""
    col = {n: i for i, n in enumerate(features)}
    order = np.argsort(-logits)
    best = rows[order[0]]
    second = float(logits[order[1]]) if len(order) > 1 else float(logits[order[0]]) - 5.0
    return np.array([
        float(probs[order[0]]), float(logits[order[0]]), float(logits[order[0]]) - second,
        best[col["own"]], best[col["own_q"]], best[col["context"]], best[col["dense"]],
        best[col["names_missing"]], best[col["type_missing"]], best[col["type_ok"]],
        float(missing), top_passage_dense,
        float(counted and best[col["counted_near"]] == 0), float(kind is not None), *evidence,
    ], dtype=np.float64)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
