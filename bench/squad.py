"""Shared helpers of the benchmark scripts: paths, the question set, SQuAD normalisation."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize(text: str) -> str:
    """SQuAD v1.1 answer normalisation: lower case, no punctuation, articles or extra spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def load_questions(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
