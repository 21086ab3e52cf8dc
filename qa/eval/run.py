"""Run a question set through the assistant and score every answer.

``evaluate(questions, assistant=...) -> EvalReport``; no LLM judge: every score is computed from
the gold answers and evidence quotes (definitions in ``qa.eval.metrics`` and docs/evaluation.md).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from index.loaders import slugify
from index.report import first_few
from qa.errors import ConfigError, LoadError, QAError, QuestionError
from qa.eval.metrics import (
    answer_length,
    contains_gold,
    covered_items,
    exact_match,
    gold_item_count,
    hit_at_k,
    recall_at_k,
    reciprocal_rank,
    spans_overlap,
    strip_citation_markers,
    token_f1,
)
from qa.eval.questionsets import Question, QuestionSet, is_squad_file, load_questions, load_squad_articles
from qa.eval.results import (
    KS,
    RAGAS_FIELDS,
    CitedQuote,
    EvalReport,
    QuestionResult,
    RetrievedPassage,
)
from qa.models import Answer
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.assistant import Assistant

__all__ = ["KS", "RAGAS_FIELDS", "EvalReport", "QuestionResult", "evaluate", "evaluate_file"]

Progress = bool | Callable[[int, int], None]


class Answerer(Protocol):
    """What evaluation needs from the assistant."""

    def ask(self, question: str, *, history: Sequence[Any] = (), **options: Any) -> Answer: ...

    def article_text(self, article_id: str) -> str | None: ...


class _Articles:
    """Article texts fetched once each (citation checks and evidence positions need them)."""

    def __init__(self, assistant: Answerer) -> None:
        self._assistant = assistant
        self._texts: dict[str, str | None] = {}

    def text(self, article_id: str) -> str | None:
        if article_id not in self._texts:
            self._texts[article_id] = self._assistant.article_text(article_id)
        return self._texts[article_id]

    def evidence_spans(self, question: Question) -> list[list[tuple[int, int]]]:
        """Where each evidence quote sits in the gold article (every occurrence)."""
        gold = gold_article(question)
        text = self.text(gold) if gold else None
        spans: list[list[tuple[int, int]]] = []
        for quote in question.evidence:
            found, at = [], text.find(quote) if text else -1
            while text and at >= 0:
                found.append((at, at + len(quote)))
                at = text.find(quote, at + 1)
            spans.append(found)
        return spans


def gold_article(question: Question) -> str | None:
    """The index id of the question's article: ingest turns ids into slugs ("Victoria_(Australia)"
    is indexed as "Victoria_Australia"), so the question's id goes through the same rule."""
    return slugify(question.article) if question.article else None


def _in_gold_article(question: Question, article_id: str) -> bool:
    """The gold article, or a listed copy of it (a news corpus can hold a story twice)."""
    if question.article is None or article_id == gold_article(question):
        return True
    return article_id in {slugify(alias) for alias in question.article_aliases}


def _passages(
    question: Question, answer: Answer
) -> tuple[list[frozenset[int]], tuple[RetrievedPassage, ...]]:
    covered = [
        covered_items(p.text, question.evidence, question.answers)
        if _in_gold_article(question, p.article_id)
        else frozenset()
        for p in answer.passages
    ]
    passages = tuple(
        RetrievedPassage(rank, p.article_id, p.chunk_id, p.start, p.end, p.score, p.text, bool(items))
        for rank, (p, items) in enumerate(zip(answer.passages, covered, strict=True), start=1)
    )
    return covered, passages


def _citations(
    question: Question, answer: Answer, articles: _Articles
) -> tuple[list[frozenset[int]], tuple[CitedQuote, ...]]:
    """Each distinct cited span once: its validity, and which gold items it supports."""
    evidence_spans = articles.evidence_spans(question)
    unique = {(c.article_id, c.start, c.end): c for c in reversed(answer.citations)}
    covered, quotes = [], []
    for c in sorted(unique.values(), key=lambda c: c.n):
        text = articles.text(c.article_id)
        valid = text is not None and text[c.start : c.end] == c.quote
        items: frozenset[int] = frozenset()
        if _in_gold_article(question, c.article_id):
            near = [
                i
                for i, spans in enumerate(evidence_spans)
                if any(spans_overlap((c.start, c.end), s) for s in spans)
            ]
            items = covered_items(
                c.quote, question.evidence, question.answers, overlaps=near if valid else ()
            )
        covered.append(items)
        quotes.append(CitedQuote(c.n, c.article_id, c.start, c.end, c.quote, valid, bool(items)))
    return covered, tuple(quotes)


def score_answer(
    question: Question, answer: Answer, articles: _Articles, *, latency: float = 0.0, error: str | None = None
) -> QuestionResult:
    """Score one answer on every metric that applies to its question."""
    passage_items, passages = _passages(question, answer)
    citation_items, citations = _citations(question, answer, articles)
    n_items = gold_item_count(question.evidence)
    scores: dict[str, float | None] = {}
    answerable = question.answerable
    for k in KS:
        scores[f"hit@{k}"] = hit_at_k(passage_items, k) if answerable else None
        scores[f"recall@{k}"] = recall_at_k(passage_items, k, n_items) if answerable else None
    scores["mrr"] = reciprocal_rank(passage_items) if answerable else None
    prediction = strip_citation_markers(answer.text) if answer.answered else ""
    # Exact match and F1 score the short answer phrase when the answer has one (SQuAD-style);
    # answer_contains_gold keeps reading the whole answer.
    short = answer.short.text if answer.answered and answer.short is not None else None
    scores["exact_match"] = exact_match(short or prediction, question.answers)
    scores["answer_f1"] = token_f1(short or prediction, question.answers)
    scores["answer_contains_gold"] = contains_gold(prediction, question.answers)
    scores["answer_length"] = float(answer_length(answer.text)) if answer.answered else None
    abstained = float(not answer.answered)
    scores["abstain_unanswerable"] = None if answerable else abstained
    scores["false_abstain"] = abstained if answerable else None
    scores["citation_validity"] = sum(c.valid for c in citations) / len(citations) if citations else None
    supported = [c for c in citations if c.supports]
    scores["citation_precision"] = len(supported) / len(citations) if citations and answerable else None
    found = set().union(*citation_items) if citation_items else set()
    scores["citation_recall"] = len(found) / n_items if answerable else None
    return QuestionResult(
        id=question.id,
        question=question.question,
        answers=question.answers,
        evidence=question.evidence,
        article=question.article,
        history=question.history,
        answer=answer.text,
        answered=answer.answered,
        confidence=answer.confidence,
        citations=citations,
        passages=passages,
        latency=latency,
        timings=dict(answer.timings),
        scores=scores,
        error=error,
        short=short,
    )


def _check_corpus(questions: Sequence[Question], articles: _Articles) -> list[str]:
    """Warnings for gold articles that are not indexed and evidence that is not in them."""
    warnings = []
    by_article: dict[str, list[Question]] = {}
    for q in questions:
        if (gold := gold_article(q)) is not None:
            by_article.setdefault(gold, []).append(q)
    for article_id, qs in by_article.items():
        text = articles.text(article_id)
        if text is None:
            warnings.append(
                f"article {article_id!r} ({len(qs)} question(s)) is not indexed: "
                "its questions cannot be answered (index it, or use --articles)"
            )
            continue
        stray = [q.id for q in qs if any(quote not in text for quote in q.evidence)]
        if stray:
            warnings.append(
                f"evidence not verbatim in article {article_id!r} for question(s) "
                f"{', '.join(stray[:5])}{' ...' if len(stray) > 5 else ''}: scored on answers only"
            )
    return warnings


def _iterate(questions: Sequence[Question], progress: Progress) -> Iterable[Question]:
    if callable(progress):
        for done, q in enumerate(questions, start=1):
            yield q
            progress(done, len(questions))
    elif progress:
        from tqdm import tqdm

        yield from tqdm(questions, desc="evaluating", unit="question")
    else:
        yield from questions


def evaluate(
    questions: QuestionSet | Iterable[Question] | str | Path,
    *,
    assistant: Answerer,
    k: int | None = None,
    hybrid: bool | None = None,
    progress: Progress = False,
    warmup: bool = True,
    **options: Any,
) -> EvalReport:
    """Ask every question (with its history) and score the answers.

    ``k``, ``hybrid`` and other ``options`` go to ``assistant.ask``; retrieval metrics are
    reported for the k in 1, 3, 5, 10 up to ``k`` (the assistant's ``top_k`` by default).
    ``progress`` is True for a tqdm bar, or a callback ``(done, total)``. ``warmup`` asks the
    first question once, untimed, so model loading is not counted as latency.
    """
    if isinstance(questions, str | Path):
        questions = load_questions(questions)
    qs = list(questions)
    depth = k or getattr(getattr(assistant, "settings", None), "top_k", None) or KS[-1]
    store = getattr(assistant, "store", None)
    if qs and store is not None and store.count_chunks() == 0:
        # Every question would be an error scored as "not found": refused, not reported.
        raise QuestionError("nothing is indexed yet: add articles first (qa ingest PATH; qa eval "
                            "--articles DIR indexes a set's articles itself)")
    articles = _Articles(assistant)
    named = sorted({a for a in map(gold_article, qs) if a is not None})
    copies = {slugify(alias) for q in qs for alias in q.article_aliases}
    if qs and all(q.article for q in qs) and not any(articles.text(a) is not None for a in [*named, *copies]):
        # Every score would be a miss of the index, not of the answers: refused, not reported.
        # (A question naming no article can still be scored; a listed copy counts as its article.)
        shown = first_few(named)
        raise LoadError(str(getattr(questions, "source", None) or "the question set"),
                        f"none of the {len(named)} article(s) its questions name is indexed ({shown}): "
                        "index those articles to evaluate on them")
    warnings = [*getattr(questions, "warnings", ()), *_check_corpus(qs, articles)]
    ask_options = {"k": k, "hybrid": hybrid, **options}
    ask_options = {name: value for name, value in ask_options.items() if value is not None}
    if warmup and qs:  # the first ask loads models and builds indexes: keep that out of the latencies
        with suppress(QAError):
            assistant.ask(qs[0].question, **ask_options)
    results = []
    for q in _iterate(qs, progress):
        started, error = time.perf_counter(), None
        try:
            answer = assistant.ask(q.question, history=list(q.history), **ask_options)
        except QAError as exc:  # scored as an abstention, and the error is shown with the question
            answer, error = Answer(question=q.question, text="", answered=False), str(exc)
        results.append(score_answer(q, answer, articles, latency=time.perf_counter() - started, error=error))
    config = {
        "source": getattr(questions, "source", None),
        "questions": len(qs),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": ask_options,
        "settings": _settings_snapshot(assistant),
    }
    return EvalReport.from_results(results, k=depth, config=config, warnings=tuple(warnings))


# The settings that change answers or speed, recorded so two reports can be told apart.
SNAPSHOT = (
    "embedding_model",
    "chunk_tokens",
    "chunk_overlap_tokens",
    "top_k",
    "hybrid",
    "rrf_k",
    "dense_candidates",
    "max_answer_sentences",
    "abstain_threshold",
    "llm",
    "llm_model",
)


def _settings_snapshot(assistant: Answerer) -> dict[str, Any]:
    settings = getattr(assistant, "settings", None)
    return {name: getattr(settings, name) for name in SNAPSHOT if hasattr(settings, name)}


def evaluate_file(
    path: str | Path,
    assistant: Answerer,
    *,
    limit: int | None = None,
    progress: Progress = False,
    **options: Any,
) -> EvalReport:
    """Load a question set (JSONL, CSV or SQuAD JSON) and evaluate it; ``limit`` subsamples."""
    questions = load_questions(path)
    if limit:
        questions = questions.subsample(limit)
    return evaluate(questions, assistant=assistant, progress=progress, **options)


@contextmanager
def fresh_index(articles: str | Path, settings: Settings, *, progress: bool = False) -> Iterator[Assistant]:
    """An assistant over a new temporary index holding only ``articles`` (removed afterwards).

    ``articles`` is anything ``qa ingest`` reads, or a SQuAD .json file (its contexts).
    """
    from qa.assistant import Assistant

    with tempfile.TemporaryDirectory(prefix="qa-eval-", ignore_cleanup_errors=True) as tmp:
        # The model exports outlive the temporary index (in the configured data dir's cache,
        # where other commands put them): exported into it, they were redone by every run.
        assistant = Assistant(settings.model_copy(
            update={"data_dir": Path(tmp), "chroma_host": None, "model_cache": settings.model_cache_dir}))
        if is_squad_file(articles):
            ingested = assistant.ingest_articles(load_squad_articles(articles), progress=progress)
        else:
            ingested = assistant.ingest([articles], progress=progress)
        if not ingested.added:
            raise LoadError(str(articles), f"no articles could be indexed: {ingested.summary()}")
        yield assistant


def parse_thresholds(items: Iterable[str]) -> dict[str, float]:
    """``["hit@5=0.9", "answer_f1=0.6"]`` -> ``{"hit@5": 0.9, "answer_f1": 0.6}``."""
    thresholds = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            thresholds[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if sep and not math.isfinite(thresholds[name.strip()]):
            sep = ""  # nan never compares below anything: such a gate could never fail
        if not sep or not name.strip():
            raise ConfigError(f"threshold {item!r} is not METRIC=NUMBER (e.g. hit@5=0.9)")
    return thresholds



def load_gate(path: str | Path) -> tuple[dict[str, float], dict[str, float]]:
    """A gate file ``{"min": {metric: value}, "max": {...}}`` -> (minimums, maximums)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if unknown := [key for key in data if key not in ("min", "max", "about", "note")]:
            raise ValueError(f"unknown key {unknown[0]!r}: thresholds go under min and max, "
                             "words under about or note")
        if not data.get("min") and not data.get("max"):
            raise ValueError("it sets no threshold")
        minimums = {str(k): float(v) for k, v in data.get("min", {}).items()}
        maximums = {str(k): float(v) for k, v in data.get("max", {}).items()}
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(
            f"{path}: not a gate file ({exc}); expected JSON like "
            '{"min": {"hit@5": 0.9}, "max": {"false_abstain": 0.2}}'
        ) from None
    return minimums, maximums
