"""`qa eval`: a fresh temporary index, the report folder, --compare, and --min/--max exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import SAMPLE_ARTICLES, SAMPLE_QUESTIONS

runner = CliRunner()


@pytest.fixture(autouse=True)
def _reuse_loaded_model(monkeypatch: pytest.MonkeyPatch, real_embedder) -> None:  # type: ignore[no-untyped-def]
    """The CLI builds its own Assistant; hand it the session's already-loaded real model."""
    from qa import wiring

    monkeypatch.setattr(wiring, "build_embedder", lambda settings: real_embedder)


def qa_eval(*args: str) -> tuple[int, str]:
    from qa.cli import app

    result = runner.invoke(app, ["eval", str(SAMPLE_QUESTIONS), "--articles", str(SAMPLE_ARTICLES), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_eval_with_fresh_corpus_writes_the_report_and_compares(tmp_path: Path) -> None:
    code, output = qa_eval("--limit", "12", "--report", str(tmp_path / "old"))
    assert code == 0, output
    assert "12 questions" in output and "hit@5" in output and "citation_validity" in output
    metrics = json.loads((tmp_path / "old" / "metrics.json").read_text())
    assert metrics["metrics"]["citation_validity"]["value"] == 1.0
    assert len((tmp_path / "old" / "results.jsonl").read_text().splitlines()) == 12

    new, old = str(tmp_path / "new"), str(tmp_path / "old")
    code, output = qa_eval("--limit", "12", "--report", new, "--compare", old)
    assert code == 0, output
    assert "Compared with the earlier run" in output
    html = (tmp_path / "new" / "report.html").read_text(encoding="utf-8")
    assert "Compared with the earlier run" in html


def test_missed_threshold_exits_non_zero_and_names_the_metric() -> None:
    code, output = qa_eval("--limit", "6", "--min", "hit@5=0.5", "--max", "latency_p50=0.000001")
    assert code == 1
    assert "threshold missed: latency_p50" in output and "hit@5" not in output.split("threshold missed")[1]


@pytest.mark.parametrize("threshold", ["hit@5", "hit@5=nan", "hit@5=inf"])
def test_malformed_threshold_is_refused_before_any_work(threshold: str) -> None:
    """``nan`` never compares below anything: a gate of it could never fail."""
    from index.errors import ConfigError

    with pytest.raises(ConfigError, match="not METRIC=NUMBER"):
        qa_eval("--min", threshold)


@pytest.mark.parametrize("args", [["--min", "hitt@5=0.9"], ["--max", "hit@10=0.1", "-k", "5"],
                                  ["--gate", "GATE"]])
def test_a_threshold_on_no_metric_is_refused_before_any_work(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A misspelled metric was found only after every question was asked (and a misspelled
    gate key, below, turned the whole gate off)."""
    from index.errors import ConfigError
    from qa.eval import run

    gate = tmp_path / "gate.json"
    gate.write_text('{"min": {"answer_containsgold": 0.7}}', encoding="utf-8")
    asked: list[object] = []
    monkeypatch.setattr(run, "evaluate", lambda *a, **kw: asked.append(a))
    with pytest.raises(ConfigError, match=r"^no metric '(hitt@5|hit@10|answer_containsgold)' with k="):
        qa_eval(*[str(gate) if a == "GATE" else a for a in args])
    assert asked == []


def test_bad_numbers_and_a_report_path_that_is_a_file_are_refused_before_any_work(tmp_path: Path) -> None:
    from index.errors import ConfigError

    for args in (["--limit", "0"], ["--limit", "-1"], ["-k", "0"]):
        code, output = qa_eval(*args)
        assert code == 2 and "Invalid value" in output, (args, output)
    (tmp_path / "taken").write_text("a file", encoding="utf-8")
    with pytest.raises(ConfigError, match="is a file; give a folder"):
        qa_eval("--report", str(tmp_path / "taken"))


@pytest.mark.parametrize(("metrics", "results"), [("{}", ""), ('{"metrics": {}}', "{not json\n"),
                                                  ('{"metrics": {"x": 1}}', "")])
def test_compare_with_a_broken_report_folder_names_it(tmp_path: Path, metrics: str, results: str) -> None:
    from index.errors import LoadError
    from qa.eval.results import EvalReport

    (tmp_path / "metrics.json").write_text(metrics, encoding="utf-8")
    (tmp_path / "results.jsonl").write_text(results, encoding="utf-8")
    with pytest.raises(LoadError, match="not an evaluation report folder") as caught:
        EvalReport.load(tmp_path)
    assert caught.value.path == str(tmp_path)


def test_json_output_is_the_metrics_summary() -> None:
    code, output = qa_eval("--limit", "4", "--json")
    assert code == 0
    summary = json.loads(output)
    assert summary["config"]["questions"] == 4 and "hit@1" in summary["metrics"]


def test_compare_with_a_folder_that_is_no_report_says_so(tmp_path: Path) -> None:
    from index.errors import LoadError

    with pytest.raises(LoadError, match="pass a folder written by qa eval --report"):
        qa_eval("--compare", str(tmp_path))


def test_a_squad_json_file_is_both_the_question_set_and_the_corpus(tmp_path: Path) -> None:
    from qa.cli import app

    context = "Denver won Super Bowl 50. The game was played at Levi's Stadium in Santa Clara."
    squad = {
        "data": [
            {
                "title": "Super_Bowl_50",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "q1",
                                "question": "Where was Super Bowl 50 played?",
                                "answers": [{"text": "Levi's Stadium", "answer_start": 49}],
                            },
                        ],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    result = runner.invoke(app, ["eval", str(path), "--articles", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["warnings"] == [] and summary["metrics"]["hit@1"]["value"] == 1.0


def test_split_option_scores_only_that_split_and_an_unknown_split_is_refused() -> None:
    from qa.cli import app
    from qa.eval.questionsets import QuestionSetError

    readers = SAMPLE_QUESTIONS.with_name("kazakhstan-readers.jsonl")
    dev_ids = [json.loads(line)["id"] for line in readers.read_text(encoding="utf-8").splitlines()
               if json.loads(line)["split"] == "dev"]
    result = runner.invoke(
        app, ["eval", str(readers), "--articles", str(SAMPLE_ARTICLES), "--split", "dev", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["config"]["questions"] == len(dev_ids) < 49
    result = runner.invoke(app, ["eval", str(readers), "--articles", str(SAMPLE_ARTICLES), "--split", "test"])
    assert isinstance(result.exception, QuestionSetError) and "no question has split 'test'" in str(
        result.exception
    )


def test_a_fresh_index_keeps_the_model_exports_outside_itself(tmp_path: Path) -> None:
    """Exported into the temporary index, the matcher's and the reader's ONNX files were made
    again by every `qa eval --articles` run (~30 s each, `make eval-ci` included)."""
    from qa.eval.run import fresh_index
    from qa.settings import Settings

    with fresh_index(SAMPLE_ARTICLES, Settings(data_dir=tmp_path / "unused")) as assistant:
        assert assistant.settings.model_cache_dir == tmp_path / "unused" / "models"
        assert assistant.settings.data_dir != tmp_path / "unused"
    given = Settings(data_dir=tmp_path / "unused", model_cache=tmp_path / "models")
    with fresh_index(SAMPLE_ARTICLES, given) as assistant:
        assert assistant.settings.model_cache_dir == tmp_path / "models"
