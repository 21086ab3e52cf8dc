"""What an evaluation run produced: per-question results, metrics with intervals, comparisons.

Every metric is a mean (or a latency percentile) of per-question scores, so each carries its
count and a bootstrap 95% interval, and two runs compare question by question (paired).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import ConfigError, LoadError
from qa.eval.metrics import (
    CurvePoint,
    Metric,
    ReliabilityBin,
    RiskPoint,
    abstention_curve,
    best_threshold,
    expected_calibration_error,
    percentile_stat,
    reliability_curve,
    risk_coverage,
    summarize,
)

KS = (1, 3, 5, 10)
ANSWER_METRICS = ("exact_match", "answer_f1", "answer_contains_gold", "answer_length")
ABSTENTION_METRICS = ("abstain_unanswerable", "false_abstain")
CITATION_METRICS = ("citation_validity", "citation_precision", "citation_recall")
# Smaller is better for these; answer_length is neither better nor worse.
LOWER_IS_BETTER = ("false_abstain", "latency")
NEUTRAL = ("answer_length",)
HEADLINE_COLUMNS = ("metric", "value", "n", "95% CI")
STAGE_COLUMNS = ("stage", "p50", "p95", "n")
# One line per metric family for report tables; docs/evaluation.md has the precise definitions.
METRIC_HELP = {
    "hit": "some passage among the first k supports a gold item",
    "recall": "share of gold items supported by the first k passages",
    "mrr": "1 / rank of the first supporting passage",
    "exact_match": "normalised answer equals a gold answer",
    "answer_f1": "best token F1 against the gold answers",
    "answer_contains_gold": "a gold answer occurs in the answer",
    "answer_length": "words per given answer",
    "abstain_unanswerable": "abstained on unanswerable questions (want high)",
    "false_abstain": "abstained on answerable questions (want low)",
    "citation_validity": "citations verbatim at their offsets (must be 1)",
    "citation_precision": "cited quotes that support a gold item",
    "citation_recall": "gold items supported by some citation",
    "latency": "seconds per question for the whole ask",
    "questions_per_second": "questions / total time asking",
}


def describe(name: str) -> str:
    if is_stage_metric(name):
        return "seconds in this stage"
    return METRIC_HELP.get(name.split("@")[0].removesuffix("_p50").removesuffix("_p95"), "")


RAGAS_FIELDS = ("user_input", "retrieved_contexts", "response", "reference")


@dataclass(frozen=True)
class CitedQuote:
    """A citation as scored: ``valid`` = verbatim at its offsets; ``supports`` = backs a gold item."""

    n: int
    article_id: str
    start: int
    end: int
    quote: str
    valid: bool
    supports: bool


@dataclass(frozen=True)
class RetrievedPassage:
    rank: int
    article_id: str
    chunk_id: str
    start: int
    end: int
    score: float
    text: str
    supports: bool


@dataclass(frozen=True)
class QuestionResult:
    """One question, what the assistant answered, and its score on every applicable metric.

    ``scores`` maps metric names to a value or None when the metric does not apply (answer
    metrics on unanswerable questions, citation precision without citations).
    """

    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[str, ...]
    article: str | None
    history: tuple[str, ...]
    answer: str
    answered: bool
    confidence: float
    citations: tuple[CitedQuote, ...]
    passages: tuple[RetrievedPassage, ...]
    latency: float
    timings: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None
    short: str | None = None

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    @property
    def right(self) -> bool:
        """An answer was given and it holds a gold answer (an answer to an unanswerable is wrong)."""
        return self.answered and self.answerable and bool(self.scores.get("answer_contains_gold"))

    def failure_reasons(self, *, k: int) -> list[str]:
        """Why this question counts as a failure (empty when it passed), most serious first."""
        s, reasons = self.scores, []
        if self.error:
            reasons.append(f"error: {self.error}")
        if s.get("citation_validity") not in (None, 1.0):
            reasons.append("invalid citation")
        if not self.answerable:
            if self.answered:
                reasons.append("answered an unanswerable question")
            return reasons
        if not self.answered:
            reasons.append("wrongly abstained")
        elif not s.get("answer_contains_gold"):
            reasons.append("answer lacks the gold answer")
        if s.get(f"hit@{k}") == 0.0:
            reasons.append(f"no supporting passage in the top {k}")
        return reasons

    def to_ragas(self) -> dict[str, Any]:
        """This result under the RAGAS ``SingleTurnSample`` field names."""
        return {
            "user_input": self.question,
            "retrieved_contexts": [p.text for p in self.passages],
            "response": self.answer,
            "reference": self.answers[0] if self.answers else "",
            "reference_contexts": list(self.evidence),
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuestionResult:
        tuples = {name: tuple(data.get(name) or ()) for name in ("answers", "evidence", "history")}
        return cls(
            **{
                **data,
                **tuples,
                "citations": tuple(CitedQuote(**c) for c in data.get("citations", [])),
                "passages": tuple(RetrievedPassage(**p) for p in data.get("passages", [])),
            }
        )


def _values(results: list[QuestionResult], name: str) -> list[float]:
    return [v for r in results if (v := r.scores.get(name)) is not None]


def _stages(results: list[QuestionResult]) -> list[str]:
    """Stage names in the order the assistant reports them (dicts keep insertion order)."""
    names = dict.fromkeys(stage for r in results for stage in r.timings if stage != "total")
    return list(names)


def _question_metrics(k: int) -> list[str]:
    """The metrics scored per question at retrieval depth ``k``, in headline order."""
    ks = [x for x in KS if x <= k] or [KS[0]]
    return [f"hit@{x}" for x in ks] + [f"recall@{x}" for x in ks] + ["mrr", *ANSWER_METRICS,
                                                                    *ABSTENTION_METRICS, *CITATION_METRICS]


def aggregate(results: list[QuestionResult], *, k: int) -> dict[str, Metric]:
    """Every metric of the run, in headline order; metrics that apply to no question are left out."""
    metrics = {name: summarize(_values(results, name)) for name in _question_metrics(k)}
    latencies = [r.latency for r in results]
    metrics["latency_p50"] = summarize(latencies, stat=percentile_stat(50))
    metrics["latency_p95"] = summarize(latencies, stat=percentile_stat(95))
    metrics["questions_per_second"] = summarize(latencies, stat=lambda s: s.shape[-1] / s.sum(axis=-1))
    for stage in _stages(results):
        stage_times = [r.timings[stage] for r in results if stage in r.timings]
        for label, q in (("p50", 50), ("p95", 95)):
            metrics[f"latency_{stage}_{label}"] = summarize(stage_times, stat=percentile_stat(q))
    return {name: m for name, m in metrics.items() if m is not None}


def check_metric_names(names: Iterable[str], *, k: int) -> None:
    """Refuse a threshold on a metric no run reports (a typo would pass unchecked, or only fail
    after every question was asked); stage latencies are ``latency_<stage>_p50`` / ``_p95``."""
    known = [*_question_metrics(k), "latency_p50", "latency_p95", "questions_per_second"]
    unknown = [n for n in names if n not in known and not re.fullmatch(r"latency_\w+_p(?:50|95)", n)]
    if unknown:
        raise ConfigError(f"no metric {', '.join(map(repr, unknown))} with k={k}; the metrics: "
                          f"{', '.join(known)}, latency_<stage>_p50/_p95")


def is_stage_metric(name: str) -> bool:
    return name.startswith("latency_") and name not in ("latency_p50", "latency_p95")


def format_value(name: str, value: float) -> str:
    if name.startswith("latency"):
        if value < 0.01:
            return f"{value * 1000:.1f} ms"
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    if name == "questions_per_second":
        return f"{value:.2f}/s"
    if name in NEUTRAL:
        return f"{value:.1f}"
    return f"{value:.3f}"


def higher_is_better(name: str) -> bool | None:
    if name in NEUTRAL:
        return None
    return not name.startswith(LOWER_IS_BETTER)


@dataclass(frozen=True)
class EvalReport:
    """An evaluation run: results in question-set order, metrics, the abstention curve, settings."""

    results: tuple[QuestionResult, ...]
    metrics: dict[str, Metric]
    curve: tuple[CurvePoint, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_results(
        cls,
        results: list[QuestionResult],
        *,
        k: int,
        config: dict[str, Any] | None = None,
        warnings: tuple[str, ...] = (),
    ) -> EvalReport:
        curve = abstention_curve([r.confidence for r in results], [r.answerable for r in results])
        return cls(
            tuple(results), aggregate(results, k=k), tuple(curve), {**(config or {}), "k": k}, warnings
        )

    @property
    def k(self) -> int:
        return int(self.config.get("k", KS[-1]))

    @property
    def suggested_threshold(self) -> CurvePoint | None:
        return best_threshold(self.curve)

    def _answered(self) -> list[QuestionResult]:
        return [r for r in self.results if r.answered and not r.error]

    def reliability(self, *, bins: int = 10) -> list[ReliabilityBin]:
        """Calibration of ``confidence`` over the answers given (see ``reliability_curve``)."""
        answered = self._answered()
        return reliability_curve([r.confidence for r in answered], [r.right for r in answered], bins=bins)

    def risk_coverage(self) -> list[RiskPoint]:
        """Accuracy of the answers given vs the share of all questions answered, as the
        threshold rises from the one used in this run."""
        answered = self._answered()
        return risk_coverage([r.confidence for r in answered], [r.right for r in answered],
                             total=len(self.results))

    def headline_rows(self, *, stages: bool = False) -> list[list[str]]:
        """[metric, value, n, 95% CI] rows for a table (see ``HEADLINE_COLUMNS``).

        Per-stage latencies are left out unless ``stages``; ``stage_rows`` tabulates them.
        """
        return [
            [
                name,
                format_value(name, m.value),
                str(m.n),
                f"{format_value(name, m.ci_low)} – {format_value(name, m.ci_high)}",
            ]
            for name, m in self.metrics.items()
            if stages or not is_stage_metric(name)
        ]

    def stage_rows(self) -> list[list[str]]:
        """[stage, p50, p95, n] per pipeline stage (from ``Answer.timings``), in pipeline order."""
        rows = []
        for stage in _stages(list(self.results)):
            p50, p95 = self.metrics.get(f"latency_{stage}_p50"), self.metrics.get(f"latency_{stage}_p95")
            if p50 and p95:
                rows.append(
                    [
                        stage,
                        format_value("latency", p50.value),
                        format_value("latency", p95.value),
                        str(p50.n),
                    ]
                )
        return rows

    def failures(self) -> list[QuestionResult]:
        """The questions that failed (see ``QuestionResult.failure_reasons``), in set order."""
        return [r for r in self.results if r.failure_reasons(k=self.k)]

    def failure_rows(self) -> list[list[str]]:
        """[id, question, answer, gold answers, why] rows for a table."""
        return [
            [
                r.id,
                r.question,
                r.answer,
                " | ".join(r.answers) or "(unanswerable)",
                "; ".join(r.failure_reasons(k=self.k)),
            ]
            for r in self.failures()
        ]

    def check(
        self, *, minimums: dict[str, float] | None = None, maximums: dict[str, float] | None = None
    ) -> list[str]:
        """One message per missed threshold (an empty list means every threshold is met)."""
        missed = []
        for bound, limits in (("min", minimums or {}), ("max", maximums or {})):
            for name, limit in limits.items():
                metric = self.metrics.get(name)
                if metric is None:
                    missed.append(
                        f"{name}: no value for this question set (metrics: {', '.join(self.metrics)})"
                    )
                elif (metric.value < limit) if bound == "min" else (metric.value > limit):
                    word = "below" if bound == "min" else "above"
                    missed.append(
                        f"{name} = {format_value(name, metric.value)} is {word} the {bound} {limit}"
                    )
        return missed

    def to_dict(self) -> dict[str, Any]:
        """The summary (``metrics.json``); results are written separately as JSONL."""
        best = self.suggested_threshold
        return {
            "config": self.config,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "suggested_abstain_threshold": best.to_dict() if best else None,
            "abstention_curve": [p.to_dict() for p in self.curve],
            "reliability": [b.to_dict() for b in self.reliability()],
            "expected_calibration_error": expected_calibration_error(self.reliability()),
            "risk_coverage": [p.to_dict() for p in self.risk_coverage()],
            "warnings": list(self.warnings),
        }

    @classmethod
    def load(cls, out_dir: str | Path) -> EvalReport:
        """A run written by ``qa.eval.report.write_report`` (for ``--compare``)."""
        out = Path(out_dir)
        try:
            summary = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
            lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
            return cls(
                tuple(QuestionResult.from_dict(json.loads(line)) for line in lines if line.strip()),
                {name: Metric(**m) for name, m in summary["metrics"].items()},
                tuple(CurvePoint(**p) for p in summary.get("abstention_curve", [])),
                summary.get("config", {}),
                tuple(summary.get("warnings", [])),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            problem = f"{type(exc).__name__}: {exc}" if isinstance(exc, KeyError | TypeError) else str(exc)
            reason = f"not an evaluation report folder ({problem}): pass a folder written by qa eval --report"
            raise LoadError(str(out), reason) from None
