"""Two evaluation runs side by side: metric changes beyond noise, and questions that flipped."""

from __future__ import annotations

from dataclasses import dataclass

from qa.eval.metrics import Metric, paired_difference
from qa.eval.results import NEUTRAL, EvalReport, format_value, higher_is_better, is_stage_metric

COMPARISON_COLUMNS = ("metric", "old", "new", "change", "95% CI of change", "verdict")


def format_change(name: str, delta: float) -> str:
    if name.startswith("latency"):
        return f"{delta * 1000:+.1f} ms" if abs(delta) < 0.01 else f"{delta * 1000:+.0f} ms"
    if name == "questions_per_second":
        return f"{delta:+.2f}/s"
    return f"{delta:+.1f}" if name in NEUTRAL else f"{delta:+.3f}"


@dataclass(frozen=True)
class MetricChange:
    """One metric in two runs; ``diff`` is the paired mean difference (new - old) when it exists."""

    name: str
    old: Metric
    new: Metric
    diff: Metric | None
    verdict: str  # "better", "worse", "same" (within noise) or "changed" (no better direction)


@dataclass(frozen=True)
class Flip:
    """A question whose outcome on ``metric`` changed between the runs."""

    id: str
    question: str
    metric: str
    old: float
    new: float


@dataclass(frozen=True)
class Comparison:
    changes: tuple[MetricChange, ...]
    improved: tuple[Flip, ...]
    regressed: tuple[Flip, ...]
    shared: int
    only_old: int
    only_new: int

    def rows(self, *, stages: bool = False) -> list[list[str]]:
        """[metric, old, new, change, 95% CI of change, verdict] (see ``COMPARISON_COLUMNS``)."""
        rows = []
        for c in self.changes:
            if is_stage_metric(c.name) and not stages:
                continue
            delta = c.diff.value if c.diff else c.new.value - c.old.value
            ci = (
                f"{format_change(c.name, c.diff.ci_low)} – {format_change(c.name, c.diff.ci_high)}"
                if c.diff
                else "-"
            )
            old, new = format_value(c.name, c.old.value), format_value(c.name, c.new.value)
            rows.append([c.name, old, new, format_change(c.name, delta), ci, c.verdict])
        return rows


def _verdict(name: str, diff: Metric | None, old: Metric, new: Metric) -> str:
    direction = higher_is_better(name)
    if diff is not None:
        low, high = diff.ci_low, diff.ci_high
    else:  # percentiles and rates: unpaired, so only intervals that do not overlap count
        low, high = new.ci_low - old.ci_high, new.ci_high - old.ci_low
    if low <= 0 <= high:
        return "same"
    if direction is None:
        return "changed"
    return "better" if (low > 0) == direction else "worse"


def compare(new_run: EvalReport, old_run: EvalReport) -> Comparison:
    """``new_run`` against ``old_run``: metric changes beyond noise, and questions that flipped."""
    old_by_id = {r.id: r for r in old_run.results}
    pairs = [(old_by_id[r.id], r) for r in new_run.results if r.id in old_by_id]
    changes = []
    for name, new in new_run.metrics.items():
        old = old_run.metrics.get(name)
        if old is None:
            continue
        paired = [(o.scores.get(name), n.scores.get(name)) for o, n in pairs]
        usable = [(o, n) for o, n in paired if o is not None and n is not None]
        diff = paired_difference([o for o, _ in usable], [n for _, n in usable]) if usable else None
        changes.append(MetricChange(name, old, new, diff, _verdict(name, diff, old, new)))
    flips = [
        Flip(n.id, n.question, name, o.scores[name] or 0.0, n.scores[name] or 0.0)
        for o, n in pairs
        for name in (f"hit@{new_run.k}", "answer_contains_gold", "abstain_unanswerable")
        if o.scores.get(name) is not None
        and n.scores.get(name) is not None
        and o.scores[name] != n.scores[name]
    ]
    new_ids = {r.id for r in new_run.results}
    return Comparison(
        tuple(changes),
        tuple(f for f in flips if f.new > f.old),
        tuple(f for f in flips if f.new < f.old),
        len(pairs),
        len(old_by_id.keys() - new_ids),
        len(new_ids - old_by_id.keys()),
    )
