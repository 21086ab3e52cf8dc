"""main's extractive composer before the learned answer step (kept for side-by-side benchmarks).

A verbatim copy of ``qa/answer/extractive.py`` at commit 364f16a, renamed ``LegacyComposer``.
The original docstring follows.

The default answer step: choose the sentences of the retrieved passages that answer the question.

No LLM: each answer sentence is a verbatim sentence of an article, so every claim is its own
citation. A sentence scores by how much of the question it covers (IDF-weighted stemmed terms,
alone and with the sentence before it, which often names what "it" or "they" refers to), by
and whether it holds the kind of thing asked for (a number for "how many", a name for "who").
A small prior for the passage's rank decides between near-equal sentences of different passages.
Each idea was measured on question sets before it was kept (``python -m bench.ablation``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from index.sentences import sentence_spans_in
from qa.answer.composer import ComposeRequest, Draft, Quote, Segment
from qa.answer.lexical import terms
from qa.models import Passage

IdfFn = Callable[[str], float]

_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
    r"|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|dozens|half|percent"
)
_NUMBER = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE)
_MONTH = r"January|February|March|April|May|June|July|August|September|October|November|December"
_DATE = re.compile(rf"\b(?:1[0-9]{{3}}|20[0-9]{{2}}|{_MONTH}|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
                   r"|century|decade|yesterday|today|tomorrow)\b")
_PROPER = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][\w'’-]+")
_ASKS_NUMBER = re.compile(
    r"\bhow (?:many|much|long|old|far|often|large|big|tall|high|fast)\b"
    r"|\bwhat (?:percentage|percent|number|amount|proportion)\b", re.IGNORECASE)
_ASKS_DATE = re.compile(r"\bwhen\b|\bwhat (?:year|date|day|month|decade|century|time)\b"
                        r"|\bwhich (?:year|date|day|month|decade|century)\b", re.IGNORECASE)
_ASKS_NAME = re.compile(r"\bwho(?:m|se)?\b|\bwhere\b|\bwhich (?:country|city|team|company|person|group)\b",
                        re.IGNORECASE)


@dataclass(frozen=True)
class ExtractiveConfig:
    """Weights of the sentence score and the answer's shape (tuned on question sets)."""

    overlap: float = 1.0
    context: float = 0.5
    answer_type: float = 0.3
    passage_prior: float = 0.2
    passages: int = 3
    max_sentences: int = 2
    second_ratio: float = 0.8
    abstain_below: float = 0.35
    missing_name_factor: float = 0.3
    wrong_type_factor: float = 0.5


@dataclass(frozen=True)
class _Candidate:
    passage: Passage
    start: int
    end: int
    text: str
    score: float
    coverage: float


@lru_cache(maxsize=4096)
def _sentences(text: str) -> list[tuple[int, int]]:
    # Popular passages come back question after question; splitting them once is enough.
    return sentence_spans_in(text, 0, len(text))


def expected_type(question: str) -> str | None:
    """What kind of thing the question asks for: 'number', 'date', 'name' or None."""
    if _ASKS_NUMBER.search(question):
        return "number"
    if _ASKS_DATE.search(question):
        return "date"
    if _ASKS_NAME.search(question):
        return "name"
    return None


def has_type(sentence: str, kind: str | None, question: str) -> bool:
    """Does the sentence hold a thing of that kind that the question does not already say?"""
    if kind is None:
        return False
    asked = {w.lower() for w in re.findall(r"\w+", question)}
    pattern = {"number": _NUMBER, "date": _DATE, "name": _PROPER}[kind]
    return any(m.group(0).lower() not in asked for m in pattern.finditer(sentence))


_COUNTED = re.compile(r"\bhow many ([a-z]+)", re.IGNORECASE)
_SPECIFIC = re.compile(r"\b(?:[A-Z][\w'’-]*[A-Za-z]|\d[\d,.]*)")


def missing_specifics(
    question: str, passages: Sequence[Passage], known: Callable[[str], bool] | None = None
) -> list[str]:
    """Names and numbers of the question (not its first word) found in none of the passages,
    and, when ``known`` is given, in no indexed chunk at all."""
    haystack = " ".join(p.text for p in passages).lower()
    missing = [
        m.group(0) for m in _SPECIFIC.finditer(question)
        if m.start() > 0 and m.group(0).lower() not in haystack
    ]
    if known is not None:
        missing = [w for w in missing if not any(known(t) for t in terms(w))]
    return missing


class LegacyComposer:
    """Answers with the best one or two verbatim sentences of the retrieved passages."""

    name = "extractive-main"

    def __init__(
        self, idf: IdfFn, config: ExtractiveConfig | None = None,
        *, known: Callable[[str], bool] | None = None,
    ) -> None:
        self._idf = idf
        self._known = known
        self.config = config or ExtractiveConfig()

    def compose(self, request: ComposeRequest) -> Draft:
        candidates = self.rank(request)
        confidence = candidates[0].coverage if candidates else 0.0
        if missing_specifics(request.question, request.passages, self._known):
            # The question names something (Belarus, 2018) that no retrieved passage mentions:
            # the articles are about something else, however well the other words match.
            confidence *= self.config.missing_name_factor
        if candidates and not self._fits_type(request.question, candidates[0]):
            # "How many soldiers...?" answered by a sentence with no number, or about policemen.
            confidence *= self.config.wrong_type_factor
        if not candidates or confidence < self.config.abstain_below:
            return Draft(answered=False, segments=(), confidence=confidence, backend=self.name)
        best = candidates[0]
        chosen = [best]
        said = set(terms(best.text))
        for other in candidates[1:]:
            if len(chosen) >= self.config.max_sentences:
                break
            if other.score < self.config.second_ratio * best.score:
                break
            words = set(terms(other.text))
            if words <= said and len(other.text.split()) <= 8:
                # A heading that only repeats what is already said ("Twelve policemen killed"
                # after "Twelve policemen have been killed...") adds nothing.
                continue
            chosen.append(other)
            said |= words
        segments = tuple(
            Segment(
                text=c.text,
                quotes=(Quote(c.passage.article_id, c.start, c.end, c.text, c.passage.rank,
                              round(c.coverage, 3)),),
            )
            for c in chosen
        )
        return Draft(answered=True, segments=segments, confidence=confidence, backend=self.name)

    def stream(self, request: ComposeRequest) -> Iterator[str | Draft]:
        draft = self.compose(request)
        for segment in draft.segments:
            yield segment.text + " "
        yield draft

    def _fits_type(self, question: str, best: _Candidate) -> bool:
        kind = expected_type(question)
        if kind in ("number", "date") and not has_type(best.text, kind, question):
            return False
        counted = _COUNTED.search(question)
        if counted:
            offset = best.passage.start
            window = best.passage.text[max(0, best.start - offset - 200) : best.end - offset]
            return bool(set(terms(counted.group(1))) & set(terms(window)))
        return True

    def rank(self, request: ComposeRequest) -> list[_Candidate]:
        """Candidate sentences of the top passages, best first."""
        question = request.question
        weights = self._term_weights(question, request.standalone)
        total = sum(weights.values())
        if total <= 0:
            return []
        kind = expected_type(question)
        seen: set[tuple[str, int, int]] = set()
        out: list[_Candidate] = []
        for passage in request.passages[: self.config.passages]:
            spans = _sentences(passage.text)
            sentence_terms = [set(terms(passage.text[a:b])) for a, b in spans]
            for i, (a, b) in enumerate(spans):
                key = (passage.article_id, passage.start + a, passage.start + b)
                if key in seen:
                    continue
                seen.add(key)
                text = passage.text[a:b]
                own = sum(w for t, w in weights.items() if t in sentence_terms[i]) / total
                window = sentence_terms[i] | (sentence_terms[i - 1] if i else set())
                context = sum(w for t, w in weights.items() if t in window) / total
                score = (
                    self.config.overlap * own
                    + self.config.context * context
                    + self.config.answer_type * has_type(text, kind, question)
                    + self.config.passage_prior / (1 + passage.rank)
                )
                out.append(_Candidate(passage, key[1], key[2], text, score, context))
        return sorted(out, key=lambda c: -c.score)

    def _term_weights(self, question: str, standalone: str) -> dict[str, float]:
        weights = {t: self._idf(t) for t in terms(question)}
        # Terms that only the conversation supplies count for less than the question's own.
        for t in terms(standalone):
            weights.setdefault(t, 0.5 * self._idf(t))
        return weights
