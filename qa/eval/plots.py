"""The evaluation report's charts: recall by k, latency, the abstention curve, calibration
(reliability), risk-coverage, per-article scores.

The only module that imports matplotlib (Agg, no display); each chart comes back as a base64 PNG
for the self-contained report.html.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qa.eval.results import EvalReport, QuestionResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_ARTICLES = 25



def _figure(width: float = 6.4, height: float = 3.6) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plot_by_k(report: EvalReport) -> Figure | None:
    ks = [int(name[4:]) for name in report.metrics if name.startswith("hit@")]
    if not ks:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for family in ("hit", "recall"):
        ms = [report.metrics[f"{family}@{k}"] for k in ks]
        ax.errorbar(
            ks,
            [m.value for m in ms],
            marker="o",
            capsize=4,
            label=f"{family}@k",
            yerr=[[m.value - m.ci_low for m in ms], [m.ci_high - m.value for m in ms]],
        )
    ax.set(
        xlabel="k (passages)",
        ylabel="share of answerable questions",
        ylim=(0, 1.05),
        xticks=ks,
        title="Retrieval by k (95% CI)",
    )
    ax.legend()
    return fig


def _plot_latency(report: EvalReport) -> Figure | None:
    latencies = [r.latency * 1000 for r in report.results if not r.error]
    if not latencies:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    ax.hist(latencies, bins=min(40, max(5, len(latencies) // 3)), color="#4c72b0")
    for label, color in (("p50", "#dd8452"), ("p95", "#c44e52")):
        if (m := report.metrics.get(f"latency_{label}")) is not None:
            ax.axvline(m.value * 1000, color=color, linestyle="--", label=f"{label} {m.value * 1000:.0f} ms")
    ax.set(xlabel="latency per question (ms)", ylabel="questions", title="Latency")
    ax.legend()
    return fig


def _plot_abstention(report: EvalReport) -> Figure | None:
    if not report.curve:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    ts = [p.threshold for p in report.curve]
    for attr, label in (
        ("abstain_unanswerable", "abstains on unanswerable (want high)"),
        ("false_abstain", "abstains on answerable (want low)"),
    ):
        ys = [getattr(p, attr) for p in report.curve]
        if any(y is not None for y in ys):
            ax.step(ts, [y if y is not None else float("nan") for y in ys], where="post", label=label)
    current = report.config.get("settings", {}).get("abstain_threshold")
    if current is not None:
        ax.axvline(current, color="grey", linestyle=":", label=f"current threshold {current:g}")
    if (best := report.suggested_threshold) is not None:
        ax.axvline(best.threshold, color="#55a868", linestyle="--", label=f"suggested {best.threshold:.2f}")
    ax.set(
        xlabel="threshold t (abstain when confidence < t)",
        ylabel="rate",
        ylim=(-0.02, 1.05),
        title="Abstention by threshold",
    )
    ax.legend(fontsize="small")
    return fig


def article_breakdown(report: EvalReport) -> list[tuple[str, int, float | None, float | None]]:
    """(article, answerable questions, hit@k, answer_contains_gold) per article, largest first."""
    groups: dict[str, list[QuestionResult]] = {}
    for r in report.results:
        if r.answerable:
            groups.setdefault(r.article or "(none)", []).append(r)
    rows = []
    for article, rs in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        rows.append((article, len(rs), _mean(rs, f"hit@{report.k}"), _mean(rs, "answer_contains_gold")))
    return rows


def _mean(results: Sequence[QuestionResult], name: str) -> float | None:
    values = [v for r in results if (v := r.scores.get(name)) is not None]
    return sum(values) / len(values) if values else None


def _plot_articles(report: EvalReport) -> Figure | None:
    rows = article_breakdown(report)[:MAX_ARTICLES]
    if not rows:
        return None
    fig = _figure(height=max(2.2, 0.32 * len(rows) + 1.2))
    ax = fig.add_subplot()
    ys = range(len(rows))
    ax.barh([y - 0.2 for y in ys], [r[2] or 0 for r in rows], height=0.4, label=f"hit@{report.k}")
    ax.barh([y + 0.2 for y in ys], [r[3] or 0 for r in rows], height=0.4, label="answer contains gold")
    ax.set_yticks(list(ys), [f"{r[0][:40]} ({r[1]})" for r in rows], fontsize="small")
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.05), xlabel="share of answerable questions", title="By article (questions)")
    ax.legend(fontsize="small", loc="lower right")
    return fig


def _plot_reliability(report: EvalReport) -> Figure | None:
    bins = [b for b in report.reliability() if b.n]
    if not bins:
        return None
    fig = _figure(4.8, 3.6)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
    xs = [b.mean_confidence or 0.0 for b in bins]
    ys = [b.accuracy or 0.0 for b in bins]
    ax.plot(xs, ys, marker="o", label="answers given")
    for x, y, b in zip(xs, ys, bins, strict=True):
        ax.annotate(str(b.n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize="x-small")
    ax.set(xlabel="confidence (binned, mean)", ylabel="share right", xlim=(0, 1), ylim=(-0.02, 1.05),
           title="Reliability (calibration)")
    ax.legend(fontsize="small")
    return fig


def _plot_risk_coverage(report: EvalReport) -> Figure | None:
    points = report.risk_coverage()
    if not points:
        return None
    fig = _figure(4.8, 3.6)
    ax = fig.add_subplot()
    ax.plot([p.coverage for p in points], [p.accuracy or 0.0 for p in points], drawstyle="steps-post")
    ax.set(xlabel="share of questions answered (coverage)", ylabel="share of answers right",
           xlim=(0, 1.02), ylim=(-0.02, 1.05), title="Risk-coverage (raise the threshold: go left)")
    return fig


def plots(report: EvalReport) -> dict[str, str]:
    """Title -> base64 PNG for each plot that has data."""
    makers = {
        "Retrieval by k": _plot_by_k,
        "Latency": _plot_latency,
        "Abstention threshold": _plot_abstention,
        "Reliability": _plot_reliability,
        "Risk-coverage": _plot_risk_coverage,
        "By article": _plot_articles,
    }
    return {title: _png(fig) for title, make in makers.items() if (fig := make(report)) is not None}


# -- markdown ---------------------------------------------------------------------------------------
