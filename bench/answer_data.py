"""Question sets and retrieved passages for fitting and measuring the answer step.

The SQuAD shared half is split BY ARTICLE, fixed and seeded: the 24 article ids sorted, shuffled
with ``random.Random(SPLIT_SEED)``, the first 12 are ``train`` and the other 12 ``dev``
(``squad_split``). The reader-written sets carry their own ``split`` field. Retrieval runs once
per question set and is cached (pickle) in the work dir, keyed by the set and the question ids.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.squad import ROOT, load_questions
from qa.answer.composer import ComposeRequest
from qa.answer.followup import standalone_query
from qa.answer.history import Turn
from qa.answer.retrieval import SearchOptions
from qa.assistant import Assistant
from qa.settings import Settings

SPLIT_SEED = 12
# ../shared next to the repository (a worktree under wt/ looks one level further up).
SHARED = next((p / "shared" / "benchmarks" for p in (ROOT.parent, ROOT.parent.parent)
               if (p / "shared" / "benchmarks").is_dir()), ROOT.parent / "shared" / "benchmarks")
SQUAD = SHARED / "squad-dev-half"
BBC = SHARED / "bbc-news"
SAMPLE_ARTICLES = ROOT / "qa" / "samples" / "articles"
READERS = ROOT / "qa" / "samples" / "questions" / "kazakhstan-readers.jsonl"
SAMPLE_SET = ROOT / "qa" / "samples" / "questions" / "kazakhstan.jsonl"
BBC_QUESTIONS = ROOT / "bench" / "data" / "bbc-questions.jsonl"


def squad_split(articles: Path = SQUAD / "articles.jsonl") -> dict[str, str]:
    """article id -> "train" | "dev" (12 and 12, fixed by ``SPLIT_SEED``)."""
    ids = sorted(json.loads(line)["id"] for line in articles.read_text().splitlines() if line.strip())
    random.Random(SPLIT_SEED).shuffle(ids)
    half = len(ids) // 2
    return {a: ("train" if i < half else "dev") for i, a in enumerate(ids)}


def squad_questions(split: str) -> list[dict[str, Any]]:
    which = squad_split()
    return [q for q in load_questions(SQUAD / "questions.jsonl") if which.get(q["article"]) == split]


def set_questions(path: Path, split: str | None) -> list[dict[str, Any]]:
    """A reader-written set, only the ``split`` part (all of it when None)."""
    if not path.exists():
        return []
    return [q for q in load_questions(path) if split is None or q.get("split") == split]


@dataclass
class Asked:
    """One question with what retrieval gave the answer step."""

    question: dict[str, Any]
    request: ComposeRequest

    @property
    def answers(self) -> list[str]:
        return list(self.question.get("answers") or [])


def open_index(workdir: Path, name: str, articles: Path) -> Assistant:
    """An assistant over ``articles`` indexed in ``workdir/name`` (ingest is idempotent)."""
    assistant = Assistant(Settings(data_dir=workdir / name))
    assistant.ingest([articles])
    return assistant


def history_of(question: dict[str, Any]) -> tuple[Turn, ...]:
    return tuple(Turn(h) if isinstance(h, str) else Turn(h[0], h[1] if len(h) > 1 else "")
                 for h in question.get("history") or [])


def retrieve_all(
    assistant: Assistant, questions: list[dict[str, Any]], workdir: Path, tag: str, *, k: int = 5
) -> list[Asked]:
    """ComposeRequests for each question (retrieval cached on disk under ``workdir``)."""
    key = hashlib.sha1(json.dumps([tag, k, [q.get("id") for q in questions]]).encode()).hexdigest()[:12]
    cache = workdir / f"retrieved-{tag}-{key}.pkl"
    if cache.exists():
        return list(pickle.loads(cache.read_bytes()))
    out: list[Asked] = []
    retriever = assistant.chain.retriever
    for q in tqdm(questions, desc=f"retrieve {tag}", unit="q", mininterval=10):
        history = history_of(q)
        standalone = standalone_query(q["question"], history)
        passages, _ = retriever.retrieve(standalone, SearchOptions(k=k))
        out.append(Asked(q, ComposeRequest(q["question"], standalone, history, tuple(passages))))
    cache.write_bytes(pickle.dumps(out))
    return out
