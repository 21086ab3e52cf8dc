"""The shipped sample set meets the same gate `make eval-ci` enforces (one file of thresholds)."""

from __future__ import annotations

import json

import pytest

from qa.errors import ConfigError
from qa.eval.run import evaluate, load_gate
from tests.conftest import SAMPLE_QUESTIONS

GATE = SAMPLE_QUESTIONS.with_name("kazakhstan.gate.json")


def test_the_makefile_gate_and_this_test_read_one_file() -> None:
    makefile = (SAMPLE_QUESTIONS.parents[3] / "Makefile").read_text(encoding="utf-8")
    assert f"GATE = {GATE.relative_to(SAMPLE_QUESTIONS.parents[3])}" in makefile
    assert "--gate $(GATE)" in makefile


def test_the_sample_set_meets_its_gate(sample_assistant) -> None:  # type: ignore[no-untyped-def]
    minimums, maximums = load_gate(GATE)
    report = evaluate(SAMPLE_QUESTIONS, assistant=sample_assistant)
    assert report.check(minimums=minimums, maximums=maximums) == []


def test_a_malformed_gate_file_says_what_it_expects(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "gate.json"
    bad.write_text(json.dumps({"min": {"hit@5": "high"}}))
    with pytest.raises(ConfigError, match="not a gate file"):
        load_gate(bad)
    # A misspelled key turned the gate off: nothing was checked and the run passed.
    for gate, said in (({"minimum": {"hit@5": 0.99}}, "unknown key 'minimum'"),
                       ({"about": "no thresholds"}, "sets no threshold")):
        bad.write_text(json.dumps(gate))
        with pytest.raises(ConfigError, match=said):
            load_gate(bad)
