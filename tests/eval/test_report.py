"""report.html is self-contained and escapes what it shows; report.md carries the headline table."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from qa.eval.questionsets import Question
from qa.eval.report import render_markdown, render_text, write_report
from qa.eval.results import EvalReport
from qa.eval.run import evaluate
from tests.eval.scripted import QUESTIONS, ScriptedAssistant, answer, scripted_assistant

HOSTILE = 'Is <script>alert("x")</script> & <b>bold</b> escaped?'


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[EvalReport, dict[str, Path]]:
    assistant: ScriptedAssistant = scripted_assistant()
    assistant.script[HOSTILE] = answer(HOSTILE, "<img src=x onerror=alert(1)> [1]", confidence=0.1)
    questions = [*QUESTIONS, Question("hostile", HOSTILE, (), (), "kz")]
    report = evaluate(questions, assistant=assistant, k=3, warmup=False)
    return report, write_report(report, tmp_path_factory.mktemp("out"))


def test_write_produces_every_file(written: tuple[EvalReport, dict[str, Path]]) -> None:
    _, paths = written
    assert sorted(paths) == ["metrics.json", "ragas.jsonl", "report.html", "report.md", "results.jsonl"]
    assert all(p.stat().st_size > 0 for p in paths.values())


def test_html_is_offline_and_escapes_every_text(written: tuple[EvalReport, dict[str, Path]]) -> None:
    html = written[1]["report.html"].read_text(encoding="utf-8")
    assert "<script" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from a network
    assert "<link" not in html


def test_html_embeds_the_six_plots_as_png(written: tuple[EvalReport, dict[str, Path]]) -> None:
    html = written[1]["report.html"].read_text(encoding="utf-8")
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', html)
    titles = ["Retrieval by k", "Latency", "Abstention threshold", "Reliability", "Risk-coverage",
              "By article"]
    assert [title for title, _ in images] == titles
    assert all(base64.b64decode(data).startswith(b"\x89PNG") for _, data in images)


def test_failures_come_first_in_the_question_table(written: tuple[EvalReport, dict[str, Path]]) -> None:
    html = written[1]["report.html"].read_text(encoding="utf-8")
    table = html[html.index("Questions (failures first)") :]
    order = re.findall(r"<tr class=\"(fail|)\"><td>([^<]+)</td>", table)
    assert [row_id for _, row_id in order] == ["late", "none", "boom", "hostile", "good"]
    assert [cls for cls, _ in order] == ["fail"] * 4 + [""]


def test_markdown_and_terminal_show_the_headline_table(written: tuple[EvalReport, dict[str, Path]]) -> None:
    report, paths = written
    markdown = paths["report.md"].read_text(encoding="utf-8")
    for name, value, n, ci in report.headline_rows():
        assert f"| {name} | {value} | {n} | {ci} |" in markdown
    assert markdown == render_markdown(report)
    text = render_text(report)
    assert all(name in text for name, *_ in report.headline_rows())
    assert "embed" in text  # the per-stage latency table


def test_report_has_calibration_and_risk_coverage(written: tuple[EvalReport, dict[str, Path]]) -> None:
    report, files = written
    summary = json.loads(files["metrics.json"].read_text(encoding="utf-8"))
    answered = [r for r in report.results if r.answered and not r.error]
    assert sum(b["n"] for b in summary["reliability"]) == len(answered)
    assert summary["risk_coverage"] and summary["risk_coverage"][-1]["coverage"] <= 1.0
    assert "## Calibration" in files["report.md"].read_text(encoding="utf-8")
