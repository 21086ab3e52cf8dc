"""Shared helpers of the benchmark scripts: paths, the question set, SQuAD normalisation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qa.eval.metrics import normalize_answer

ROOT = Path(__file__).resolve().parent.parent


def normalize(text: str) -> str:
    """SQuAD answer normalisation, the evaluation's own (``qa.eval.metrics.normalize_answer``),
    so benchmark numbers and ``qa eval`` numbers mean the same thing."""
    return normalize_answer(text)


def load_questions(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
