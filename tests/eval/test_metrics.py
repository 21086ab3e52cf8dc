"""Metric functions on hand-made cases whose answers are known."""

from __future__ import annotations

import math

import pytest

from qa.eval.metrics import (
    abstention_curve,
    answer_length,
    best_threshold,
    contains_gold,
    covered_items,
    exact_match,
    hit_at_k,
    normalize_answer,
    paired_difference,
    percentile_stat,
    recall_at_k,
    reciprocal_rank,
    strip_citation_markers,
    summarize,
    token_f1,
)

EVIDENCE = (
    "Twelve policemen have been killed and 353 injured in the riots in Almaty.",
    "About 400 have been hospitalized and 62 are in intensive care.",
)


def test_normalisation_follows_squad_and_handles_unicode() -> None:
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("“Counter-terrorism” operation…") == "counterterrorism operation"
    assert normalize_answer("ＡＢＣ Café") == normalize_answer(
        "abc cafe\u0301"
    )  # NFKC: full width, combining accent
    assert normalize_answer("STRASSE") == normalize_answer("straße")  # case-folding, not just lower()


def test_exact_match_and_f1_take_the_best_gold() -> None:
    assert exact_match("the Denver Broncos", ["Carolina", "Denver Broncos"]) == 1.0
    assert exact_match("Denver", ["Denver Broncos"]) == 0.0
    assert token_f1("Denver", ["Denver Broncos", "Broncos"]) == pytest.approx(2 / 3)
    assert token_f1("Twelve policemen were killed", ["Twelve"]) == pytest.approx(
        2 * (1 / 4) * 1 / (1 / 4 + 1)
    )
    assert token_f1("", ["Twelve"]) == 0.0


def test_answer_metrics_do_not_apply_without_gold() -> None:
    for metric in (exact_match, token_f1, contains_gold):
        assert metric("anything", []) is None
        assert metric("anything", ["the", "!"]) is None  # golds that normalise to nothing


def test_contains_gold_matches_whole_tokens_after_normalisation() -> None:
    assert contains_gold("Twelve policemen have been killed [1]", ["twelve"]) == 1.0
    assert contains_gold("In 1962 it rained", ["62"]) == 0.0
    assert contains_gold("About 400 hospitalized, 62 in intensive care", ["62", "sixty-two"]) == 1.0


def test_citation_markers_are_not_part_of_the_answer() -> None:
    assert strip_citation_markers("Twelve died [1] and 353 [2, 3] were hurt.").split() == [
        "Twelve",
        "died",
        "and",
        "353",
        "were",
        "hurt.",
    ]
    assert answer_length("Twelve died [1].") == 2


def test_a_passage_supports_evidence_it_contains_or_a_gold_answer_inside_that_evidence() -> None:
    answers = ("Twelve",)
    whole = "Intro. Twelve policemen have been killed and 353 injured in the riots in Almaty. Outro."
    assert covered_items(whole, EVIDENCE, answers) == {0}
    assert covered_items("Twelve policemen killed", EVIDENCE, answers) == {0}  # the answer, not the quote
    assert covered_items("About 400 have been hospitalized", EVIDENCE, answers) == set()
    assert covered_items("Twelve policemen", (), answers) == {0}  # no evidence: one item, "any gold answer"
    assert covered_items(whole, EVIDENCE, ()) == set()  # unanswerable: nothing supports it
    assert covered_items("nothing here", EVIDENCE, answers, overlaps=[1]) == {1}


def test_whitespace_differences_do_not_hide_the_evidence() -> None:
    wrapped = "Twelve policemen have been\nkilled and 353 injured in the  riots in Almaty."
    assert covered_items(wrapped, EVIDENCE[:1], ("353",)) == {0}


def test_retrieval_metrics_by_rank() -> None:
    covered = [frozenset(), frozenset({1}), frozenset(), frozenset({0, 1})]
    assert [hit_at_k(covered, k) for k in (1, 3, 5, 10)] == [0.0, 1.0, 1.0, 1.0]
    assert [recall_at_k(covered, k, 2) for k in (1, 3, 5)] == [0.0, 0.5, 1.0]
    assert reciprocal_rank(covered) == 0.5
    assert reciprocal_rank([frozenset()] * 3) == 0.0
    assert hit_at_k([], 5) == 0.0 and recall_at_k([], 5, 1) == 0.0


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_questions() -> None:
    small = summarize([1, 0] * 10)
    large = summarize([1, 0] * 500)
    assert small is not None and large is not None
    assert small.value == large.value == 0.5 and (small.n, large.n) == (20, 1000)
    assert small.ci_low < 0.5 < small.ci_high
    assert (large.ci_high - large.ci_low) < (small.ci_high - small.ci_low) / 3
    assert summarize([1, 0] * 10) == small  # fixed seed: the same report every time
    assert summarize([]) is None
    one = summarize([0.7])
    assert one is not None and (one.ci_low, one.ci_high) == (0.7, 0.7)


def test_percentile_summary() -> None:
    metric = summarize([0.1] * 19 + [2.0], stat=percentile_stat(50))
    assert metric is not None and metric.value == pytest.approx(0.1)
    p95 = summarize(list(range(101)), stat=percentile_stat(95))
    assert p95 is not None and p95.value == pytest.approx(95)


def test_a_one_point_change_on_25_questions_is_within_noise() -> None:
    old = [1.0] * 20 + [0.0] * 5
    new = [1.0] * 21 + [0.0] * 4
    diff = paired_difference(old, new)
    assert diff is not None and diff.value == pytest.approx(0.04)
    assert diff.ci_low <= 0 <= diff.ci_high
    fixed = paired_difference([0.0] * 25, [1.0] * 25)
    assert fixed is not None and fixed.ci_low > 0


def test_abstention_curve_and_suggested_threshold() -> None:
    confidences = [0.9, 0.8, 0.6, 0.2, 0.1, 0.5]
    answerable = [True, True, True, False, False, True]
    curve = {round(p.threshold, 6): p for p in abstention_curve(confidences, answerable)}
    at_zero = curve[0.0]
    assert (at_zero.abstain_unanswerable, at_zero.false_abstain, at_zero.answered) == (0.0, 0.0, 1.0)
    at_half = curve[0.5]  # abstain when confidence < 0.5: both unanswerable, no answerable
    assert (at_half.abstain_unanswerable, at_half.false_abstain) == (1.0, 0.0)
    best = best_threshold(list(curve.values()))
    assert best is not None and 0.2 < best.threshold <= 0.5
    assert best.abstain_unanswerable == 1.0 and best.false_abstain == 0.0


def test_no_threshold_is_suggested_without_unanswerable_questions() -> None:
    curve = abstention_curve([0.3, 0.9], [True, True])
    assert all(p.abstain_unanswerable is None for p in curve)
    assert best_threshold(curve) is None
    assert abstention_curve([], []) == []
    assert not math.isnan(curve[-1].false_abstain or 0.0) and curve[-1].false_abstain == 1.0


def test_reliability_bins_hold_mean_confidence_and_share_right() -> None:
    from qa.eval.metrics import expected_calibration_error, reliability_curve

    bins = reliability_curve([0.05, 0.15, 0.95, 0.91, 1.0], [False, True, True, True, False], bins=10)
    assert [b.n for b in bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    assert bins[-1].accuracy == pytest.approx(2 / 3)
    assert bins[-1].mean_confidence == pytest.approx(0.9533, abs=1e-3)
    assert bins[2].accuracy is None
    ece = expected_calibration_error(bins)
    assert ece is not None and 0.0 <= ece <= 1.0


def test_risk_coverage_is_accuracy_of_the_most_confident_answers() -> None:
    from qa.eval.metrics import risk_coverage

    points = risk_coverage([0.9, 0.8, 0.8, 0.2], [True, True, False, False], total=8)
    assert [(p.threshold, p.coverage) for p in points] == [(0.9, 1 / 8), (0.8, 3 / 8), (0.2, 4 / 8)]
    assert [p.accuracy for p in points] == [1.0, pytest.approx(2 / 3), 0.5]
    assert risk_coverage([], []) == []
