"""evaluate() scores hand-made answers exactly, and the real assistant on the sample set."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import LoadError
from qa.eval.compare import compare
from qa.eval.questionsets import Question, load_questions
from qa.eval.report import write_report
from qa.eval.results import RAGAS_FIELDS, EvalReport
from qa.eval.run import evaluate, evaluate_file
from tests.conftest import SAMPLE_QUESTIONS
from tests.eval.scripted import (
    HOSPITAL,
    KILLED,
    P_HOSPITAL,
    QUESTIONS,
    ScriptedAssistant,
    answer,
    cite,
    scripted_assistant,
)


@pytest.fixture
def scripted() -> ScriptedAssistant:
    return scripted_assistant()


@pytest.fixture
def report(scripted: ScriptedAssistant) -> EvalReport:
    return evaluate(QUESTIONS, assistant=scripted, k=3, warmup=False)


def test_per_question_scores_are_exact(report: EvalReport) -> None:
    good, late, none, boom = (r.scores for r in report.results)
    assert (good["hit@1"], good["mrr"], good["answer_contains_gold"], good["false_abstain"]) == (1, 1, 1, 0)
    assert good["citation_validity"] == 1.0 and good["citation_precision"] == 0.5  # duplicate counted once
    assert good["citation_recall"] == 1.0 and good["exact_match"] == 0.0
    assert (late["hit@1"], late["hit@3"], late["recall@3"], late["mrr"]) == (0, 1, 1, pytest.approx(1 / 3))
    assert late["answer_contains_gold"] == 0.0 and late["citation_validity"] == 0.0
    assert none["abstain_unanswerable"] == 0.0 and none["hit@1"] is None and none["answer_f1"] is None
    assert boom["false_abstain"] == 1.0 and boom["hit@1"] == 0.0 and boom["citation_validity"] is None


def test_report_metrics_aggregate_the_applicable_questions(report: EvalReport) -> None:
    m = report.metrics
    assert (m["hit@1"].value, m["hit@1"].n) == (pytest.approx(1 / 3), 3)
    assert (m["abstain_unanswerable"].value, m["abstain_unanswerable"].n) == (0.0, 1)
    assert (m["citation_validity"].value, m["citation_validity"].n) == (pytest.approx(2 / 3), 3)
    assert "hit@5" not in m and "hit@3" in m  # only k up to the retrieval depth
    assert {"latency_p50", "latency_p95", "questions_per_second", "latency_embed_p50"} <= m.keys()
    assert "latency_total_p50" not in m


def test_failures_name_their_reasons(report: EvalReport) -> None:
    reasons = {r.id: r.failure_reasons(k=report.k) for r in report.results}
    assert reasons["good"] == []
    assert reasons["late"] == ["invalid citation", "answer lacks the gold answer"]
    assert reasons["none"] == ["answered an unanswerable question"]
    assert reasons["boom"][0] == "error: nothing is indexed yet" and "wrongly abstained" in reasons["boom"]
    assert [r.id for r in report.failures()] == ["late", "none", "boom"]
    assert report.failure_rows()[1][3] == "(unanswerable)"


def test_history_and_options_reach_the_assistant(scripted: ScriptedAssistant) -> None:
    evaluate(QUESTIONS[:2], assistant=scripted, k=3, hybrid=False, warmup=False)
    assert scripted.asked[1] == ("How many in hospital?", ["How many died?"], {"k": 3, "hybrid": False})


def test_missing_article_is_a_warning_not_a_silent_zero(scripted: ScriptedAssistant) -> None:
    q = Question("x", "How many policemen died?", ("Twelve",), (KILLED,), "not-indexed")
    report = evaluate([q, *QUESTIONS], assistant=scripted, warmup=False)
    assert any("'not-indexed'" in w and "not indexed" in w for w in report.warnings)


def test_a_set_none_of_whose_articles_is_indexed_is_refused_not_scored(scripted: ScriptedAssistant) -> None:
    """Every score would measure the index, not the answers: `qa eval` printed a full table (an
    exact match of 1.000 among them) and exited 0, with a warning below it."""
    q = Question("x", "How many policemen died?", ("Twelve",), (KILLED,), "not-indexed")
    said = r"none of the 1 article\(s\) its questions name is indexed \(not-indexed\)"
    with pytest.raises(LoadError, match=said):
        evaluate([q], assistant=scripted, warmup=False)
    assert scripted.asked == []
    # Not refused: a question that names no article, or an indexed copy listed for the missing one.
    unnamed = Question("y", "How many policemen died?", ("Twelve",), (KILLED,), None)
    evaluate([q, unnamed], assistant=scripted, warmup=False)
    indexed = QUESTIONS[0].article
    assert indexed is not None
    aliased = Question("z", "How many policemen died?", ("Twelve",), (KILLED,), "not-indexed",
                       article_aliases=(indexed,))
    evaluate([aliased], assistant=scripted, warmup=False)


def test_thresholds(report: EvalReport) -> None:
    assert report.check(minimums={"hit@3": 0.5}) == []
    assert report.check(minimums={"hit@1": 0.5})[0].startswith("hit@1 = 0.333 is below the min 0.5")
    assert report.check(maximums={"latency_p95": 1e-9})[0].startswith("latency_p95")
    assert "no value" in report.check(minimums={"hit@9": 0.1})[0]


def test_written_run_loads_back_and_compares_question_by_question(
    report: EvalReport, scripted: ScriptedAssistant, tmp_path: Path
) -> None:
    write_report(report, tmp_path / "old")
    old = EvalReport.load(tmp_path / "old")
    assert old.results == report.results and old.metrics == report.metrics
    scripted.script["How many in hospital?"] = answer(
        "How many in hospital?", f"{HOSPITAL} [1]", citations=(cite(1, 40, 68),), passages=(P_HOSPITAL,)
    )
    new = evaluate(QUESTIONS, assistant=scripted, k=3, warmup=False)
    comparison = compare(new, old)
    assert [(f.id, f.metric) for f in comparison.improved] == [("late", "answer_contains_gold")]
    assert comparison.regressed == () and comparison.shared == 4
    verdicts = {c.name: c.verdict for c in comparison.changes}
    assert verdicts["answer_contains_gold"] == "same"  # one question of three: within noise


def test_ragas_export_uses_ragas_field_names(report: EvalReport) -> None:
    row = report.results[0].to_ragas()
    assert set(RAGAS_FIELDS) <= row.keys()
    assert row["user_input"] == "How many policemen died?" and row["reference"] == "Twelve"
    assert row["retrieved_contexts"][0] == KILLED and row["response"].startswith(KILLED)


# -- the real assistant on the sample set -------------------------------------------------------

# What the project meets today (CI runs the same: qa eval ... --min/--max with these values).
SAMPLE_MINIMUMS = {
    "hit@5": 0.9,
    "mrr": 0.8,
    "answer_contains_gold": 0.7,
    "citation_validity": 1.0,
    "abstain_unanswerable": 0.4,
}
SAMPLE_MAXIMUMS = {"false_abstain": 0.2}


@pytest.fixture(scope="module")
def sample_report(sample_assistant) -> EvalReport:  # type: ignore[no-untyped-def]
    return evaluate_file(SAMPLE_QUESTIONS, sample_assistant)


def test_sample_set_meets_the_ci_thresholds(sample_report: EvalReport) -> None:
    assert sample_report.check(minimums=SAMPLE_MINIMUMS, maximums=SAMPLE_MAXIMUMS) == []
    assert sample_report.warnings == ()
    assert sample_report.metrics["hit@5"].n == sum(q.answerable for q in load_questions(SAMPLE_QUESTIONS))


def test_every_real_citation_is_verbatim(sample_report: EvalReport, sample_assistant) -> None:  # type: ignore[no-untyped-def]
    cited = [c for r in sample_report.results for c in r.citations]
    assert cited and all(c.valid for c in cited)
    text = sample_assistant.article_text("kazakhstan-unrest")
    assert all(text[c.start : c.end] == c.quote for c in cited)


def test_qa_evaluate_is_callable_even_after_the_submodule_is_imported(scripted: ScriptedAssistant) -> None:
    import qa
    import qa.eval.run

    report = qa.evaluate(QUESTIONS[:1], assistant=scripted, warmup=False)
    assert isinstance(report, EvalReport) and report.results[0].id == "good"


def test_an_empty_index_is_refused_not_scored(tmp_path: Path) -> None:
    """Every question was an error scored as "not found": all-zero metrics and exit 0."""
    from qa.assistant import Assistant
    from qa.errors import QuestionError
    from qa.settings import Settings
    from tests.fakes import FakeEmbedder

    empty = Assistant(Settings(data_dir=tmp_path / "empty"), embedder=FakeEmbedder())
    unnamed = Question("y", "How many policemen died?", ("Twelve",), (KILLED,), None)
    with pytest.raises(QuestionError, match=r"nothing is indexed yet: add articles first \(qa ingest PATH;"):
        evaluate([unnamed], assistant=empty, warmup=False)
