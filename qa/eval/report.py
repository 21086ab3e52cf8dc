"""An evaluation run as report.html (self-contained, opens offline) and report.md.

Charts come from ``qa.eval.plots`` as base64 PNG; every text from questions, answers and articles
is HTML-escaped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from qa.eval.compare import COMPARISON_COLUMNS, Comparison
from qa.eval.metrics import expected_calibration_error
from qa.eval.plots import plots
from qa.eval.results import (
    HEADLINE_COLUMNS,
    STAGE_COLUMNS,
    EvalReport,
    QuestionResult,
    describe,
)

MAX_ROWS = 2000  # per-question rows in the HTML; results.jsonl always has them all
MAX_MD_FAILURES = 100
OK, NO, NA = "✓", "✗", "–"


def _md_cell(value: str) -> str:
    return " ".join(value.replace("|", "\\|").split())


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _headline_with_help(report: EvalReport) -> list[list[str]]:
    return [[*row, describe(row[0])] for row in report.headline_rows()]


def _summary_line(report: EvalReport) -> str:
    results = report.results
    answerable = sum(r.answerable for r in results)
    line = (
        f"{len(results)} questions ({answerable} answerable, {len(results) - answerable} unanswerable), "
        f"retrieval depth k = {report.k}, {len(report.failures())} failed"
    )
    if (best := report.suggested_threshold) is not None:
        line += f"; suggested abstain threshold {best.threshold:.2f}"
    return line


def render_markdown(report: EvalReport, comparison: Comparison | None = None) -> str:
    parts = [
        "# Evaluation report",
        "",
        _summary_line(report),
        "",
        _md_table((*HEADLINE_COLUMNS, "meaning"), _headline_with_help(report)),
        "",
        _md_table(STAGE_COLUMNS, report.stage_rows()),
    ]
    if report.warnings:
        parts += ["", "## Warnings", "", *[f"- {_md_cell(w)}" for w in report.warnings]]
    parts += ["", *_calibration_md(report)]
    if comparison is not None:
        parts += [
            "",
            "## Compared with the earlier run",
            "",
            _md_table(COMPARISON_COLUMNS, comparison.rows()),
        ]
        for title, flips in (("Got better", comparison.improved), ("Got worse", comparison.regressed)):
            parts += [
                "",
                f"### {title} ({len(flips)})",
                "",
                *[f"- {f.id} {f.metric}: {f.question}" for f in flips],
            ]
    failures = report.failure_rows()
    shown = f", the first {MAX_MD_FAILURES} shown" if len(failures) > MAX_MD_FAILURES else ""
    parts += ["", f"## Failures ({len(failures)}{shown})", ""]
    parts.append(
        _md_table(
            ("id", "question", "answer", "gold", "why"),
            [[i, q, _clip(a, 200), g, w] for i, q, a, g, w in failures[:MAX_MD_FAILURES]],
        )
    )
    return "\n".join(parts) + "\n"


def _calibration_md(report: EvalReport) -> list[str]:
    """Reliability bins and a few risk-coverage points, as tables."""
    bins = [b for b in report.reliability() if b.n]
    if not bins:
        return []
    ece = expected_calibration_error(report.reliability())
    rows = [[f"{b.lo:.1f}–{b.hi:.1f}", str(b.n), f"{b.mean_confidence:.3f}", f"{b.accuracy:.3f}"]
            for b in bins]
    points = report.risk_coverage()
    step = max(1, len(points) // 8)
    risk = [[f"{p.threshold:.3f}", f"{p.coverage:.3f}", f"{p.accuracy:.3f}"]
            for p in [*points[step - 1 :: step], points[-1]][:9]]
    return [
        f"## Calibration (expected calibration error {ece:.3f})" if ece is not None else "## Calibration",
        "",
        _md_table(("confidence", "answers", "mean confidence", "share right"), rows),
        "",
        "## Risk-coverage (answer only at confidence >= threshold)",
        "",
        _md_table(("threshold", "share answered", "share right"), risk),
    ]


# -- terminal ---------------------------------------------------------------------------------------


def text_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(columns, *rows, strict=True)]
    lines = [columns, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def render_text(report: EvalReport, comparison: Comparison | None = None) -> str:
    """What ``qa eval`` prints: the summary, the headline table, warnings and the comparison."""
    parts = [_summary_line(report), "", text_table(HEADLINE_COLUMNS, report.headline_rows())]
    parts += ["", text_table(STAGE_COLUMNS, report.stage_rows())]
    parts += [f"warning: {w}" for w in report.warnings]
    if comparison is not None:
        parts += ["", "Compared with the earlier run:", text_table(COMPARISON_COLUMNS, comparison.rows())]
        parts.append(
            f"{len(comparison.improved)} question outcome(s) got better, "
            f"{len(comparison.regressed)} got worse"
        )
    return "\n".join(parts)


# -- html -------------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1400px;
  color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:12px}
.plots figure{margin:0}.plots img{width:100%;max-width:720px}
.q{color:#444;border-left:3px solid #ddd;padding-left:6px}
table.questions{table-layout:fixed;width:100%}.questions td,.questions th{overflow-wrap:anywhere}
.questions th{font-size:12px;overflow-wrap:normal}.fail{background:#fff3f3}
.ok{color:#1a7f37;font-weight:bold}.no{color:#cf222e;font-weight:bold}
.why{color:#cf222e}.muted{color:#666}.quote{font-size:12px;margin:2px 0}.hist{color:#666;font-size:12px}
.better{color:#1a7f37}.worse{color:#cf222e}.warn{background:#fff8c5;padding:6px 10px}
"""


def _html_table(columns: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{escape(c)}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _mark(value: float | None, *, good: bool = True) -> str:
    if value is None:
        return f'<span class="muted">{NA}</span>'
    passed = (value >= 1.0) == good
    return f'<span class="{"ok" if passed else "no"}">{OK if passed else NO}</span>'


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _question_cells(r: QuestionResult, k: int) -> list[str]:
    s = r.scores
    history = "".join(f'<div class="hist">↳ after: {escape(h)}</div>' for h in r.history)
    reasons = r.failure_reasons(k=k)
    quotes = "".join(
        f'<div class="quote"><b>[{c.n}]</b> <code>{escape(c.article_id)}:{c.start}-{c.end}</code> '
        f"{_mark(1.0 if c.valid else 0.0)} verbatim · {_mark(1.0 if c.supports else 0.0)} gold"
        f'<div class="q">{escape(_clip(c.quote, 300))}</div></div>'
        for c in r.citations
    )
    gold = escape(" | ".join(r.answers)) if r.answers else '<span class="muted">(unanswerable)</span>'
    f1 = s.get("answer_f1")
    abstain_ok = float(r.answered == r.answerable)  # answered the answerable, abstained on the rest
    return [
        escape(r.id),
        history + escape(r.question) + "".join(f'<div class="why">{escape(w)}</div>' for w in reasons),
        escape(_clip(r.answer, 600)) + (f' <span class="muted">(confidence {r.confidence:.2f})</span>'),
        gold,
        quotes,
        _mark(s.get(f"hit@{k}")),
        _mark(s.get("answer_contains_gold")),
        _mark(s.get("exact_match")),
        "–" if f1 is None else f"{f1:.2f}",
        _mark(abstain_ok),
        _mark(s.get("citation_validity")),
    ]


def _questions_html(report: EvalReport) -> str:
    failed = {r.id for r in report.failures()}
    ordered = sorted(report.results, key=lambda r: r.id not in failed)[:MAX_ROWS]
    columns = {  # name -> width in % of the page (the table is laid out fixed, long text wraps)
        "id": 7, "question": 15, "answer": 19, "gold answers": 10, "cited passages": 22,
        f"hit@{report.k}": 4.5, "has gold": 4.5, "EM": 4.5, "F1": 4.5, "abstain right": 4.5, "cites ok": 4.5,
    }  # fmt: skip
    cols = "".join(f'<col style="width:{width}%">' for width in columns.values())
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = "".join(
        f'<tr class="{"fail" if r.id in failed else ""}">'
        + "".join(f"<td>{c}</td>" for c in _question_cells(r, report.k))
        + "</tr>"
        for r in ordered
    )
    more = len(report.results) - len(ordered)
    note = f'<p class="muted">{more} more passing questions are in results.jsonl.</p>' if more > 0 else ""
    return f'<table class="questions"><colgroup>{cols}</colgroup><tr>{head}</tr>{rows}</table>{note}'


def _comparison_html(comparison: Comparison) -> str:
    rows = comparison.rows()
    table = _html_table(COMPARISON_COLUMNS, rows, numeric=(1, 2, 3))
    for verdict in ("better", "worse"):
        table = table.replace(f"<td>{verdict}</td>", f'<td class="{verdict}">{verdict}</td>')
    parts = [
        f'<p class="muted">{comparison.shared} questions in both runs; '
        f"{comparison.only_old} only in the old, "
        f"{comparison.only_new} only in the new. “same” means the change is within the 95% interval.</p>",
        table,
    ]
    for title, flips in (("Got better", comparison.improved), ("Got worse", comparison.regressed)):
        items = "".join(
            f"<li><code>{escape(f.id)}</code> {escape(f.metric)}: {escape(f.question)}</li>" for f in flips
        )
        parts.append(f"<h3>{title} ({len(flips)})</h3><ul>{items}</ul>")
    return "".join(parts)


def render_html(report: EvalReport, comparison: Comparison | None = None) -> str:
    images = "".join(
        f'<figure><img alt="{escape(title)}" src="data:image/png;base64,{data}"></figure>'
        for title, data in plots(report).items()
    )
    warnings = "".join(f'<p class="warn">{escape(w)}</p>' for w in report.warnings)
    config = _html_table(("setting", "value"), [[k, _text(v)] for k, v in report.config.items()])
    sections = [
        f"<h1>Evaluation report</h1><p>{escape(_summary_line(report))}</p>{warnings}",
        "<h2>Headline</h2>"
        + _html_table((*HEADLINE_COLUMNS, "meaning"), _headline_with_help(report), numeric=(1, 2, 3))
        + "<h3>Latency by stage</h3>"
        + _html_table(STAGE_COLUMNS, report.stage_rows(), numeric=(1, 2, 3)),
        f"<h2>Compared with the earlier run</h2>{_comparison_html(comparison)}" if comparison else "",
        f'<h2>Plots</h2><div class="plots">{images}</div>',
        f"<h2>Questions (failures first)</h2>{_questions_html(report)}",
        f"<h2>Run</h2>{config}",
    ]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Evaluation report</title>'
        f"<style>{CSS}</style></head><body>{''.join(sections)}</body></html>\n"
    )


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def write_report(
    report: EvalReport, out_dir: str | Path, *, comparison: Comparison | None = None
) -> dict[str, Path]:
    """results.jsonl, metrics.json, ragas.jsonl, report.md and report.html in ``out_dir``.

    ``comparison`` (from ``EvalReport.compare``) adds the side-by-side section to the reports.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in
             ("results.jsonl", "metrics.json", "ragas.jsonl", "report.md", "report.html")}
    _write_jsonl(paths["results.jsonl"], [r.to_dict() for r in report.results])
    _write_jsonl(paths["ragas.jsonl"], [r.to_ragas() for r in report.results])
    paths["metrics.json"].write_text(
        json.dumps(report.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    paths["report.md"].write_text(render_markdown(report, comparison), encoding="utf-8")
    paths["report.html"].write_text(render_html(report, comparison), encoding="utf-8")
    return paths


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
