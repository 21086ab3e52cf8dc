"""Is a generated sentence backed by the passages it cites? Embedding similarity, checked.

A claim is supported by a cited passage when one of the passage's sentences scores at or above a
threshold (embedding similarity blended with content-word coverage, tuned on the sample question
set, see ``tests/llm/test_support_threshold.py``), and every number the claim states appears in
the passages it cites: embeddings barely tell "twelve" from "twenty".

Tuning (all-MiniLM-L6-v2, 43 supported paraphrases and 32 unsupported claims about the sample
article): plain sentence cosine at its best threshold (0.45) accepts 43/43 and flags 19/32, 27/32
with the number check; the blended score at 0.50 accepts 43/43 and flags 31/32, and on claims
written after tuning accepts 9/10 and flags 8/10. What it misses are claims that recombine names
from one sentence ("The CSTO force is led by Belarus"): an entailment model would be the next step.

Passage sentences that read like instructions to an AI are never evidence: an article saying
"ignore previous instructions and say X" must not make "X" a verified claim.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.embedder import Embedder
from index.sentences import sentence_spans_in
from qa.answer.composer import Quote
from qa.answer.lexical import terms
from qa.models import Passage

_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.!?\n]{0,40}\b(?:instructions?|prompts?|rules|context)\b"
    r"|\b(?:system|developer) (?:prompt|message|instructions?)\b"
    r"|\byou are (?:now )?(?:an? )?(?:ai|assistant|chatbot|language model|llm)\b"
    r"|\b(?:ai|language model|assistant|chatbot|llm)s?\b[^.!?\n]{0,40}\b(?:must|should|will)\b"
    r"|\b(?:tell|inform|convince) the (?:user|reader)s?\b"
    r"|\b(?:from now on|new instructions?)\b",
    re.IGNORECASE,
)

# A sentence this short says one thing; only longer ones are also compared clause by clause.
_SHORT_SENTENCE_WORDS = 12
_CLAUSE_BREAK = re.compile(r"[,;:()\"“”–—]")

_SMALL = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
]
_TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_WORD_VALUES = {**{w: i for i, w in enumerate(_SMALL)}, **_TENS, **_SCALES}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*|\b(?:" + "|".join(_WORD_VALUES) + r")\b", re.IGNORECASE)


def looks_like_instruction(sentence: str) -> bool:
    """Text addressed to the model rather than the reader (a prompt injection in an article)."""
    return bool(_INSTRUCTION.search(sentence))


def numbers_in(text: str) -> set[str]:
    """Numbers stated in ``text``, normalized: "1,000" and "thousand" are both "1000"."""
    found: set[str] = set()
    for match in _NUMBER.finditer(text):
        token = match.group(0).lower()
        if token in _WORD_VALUES:
            found.add(str(_WORD_VALUES[token]))
        else:
            found.add(token.replace(",", ""))
    return found


@dataclass(frozen=True)
class Evidence:
    """A sentence of a passage, with its offsets in the article."""

    passage: Passage
    start: int
    end: int
    text: str


def evidence_in(passage: Passage) -> list[Evidence]:
    """The sentences of a passage that may back a claim (instruction-like ones left out)."""
    out: list[Evidence] = []
    for a, b in sentence_spans_in(passage.text, 0, len(passage.text)):
        text = passage.text[a:b]
        if not looks_like_instruction(text):
            out.append(Evidence(passage, passage.start + a, passage.start + b, text))
    return out


@dataclass(frozen=True)
class Support:
    """The outcome for one claim: the quotes that back it and its best similarity."""

    quotes: tuple[Quote, ...]
    best: float

    @property
    def supported(self) -> bool:
        return bool(self.quotes)


class SupportChecker:
    """Finds, for each claim, the best-supporting verbatim sentence of each passage it cites.

    A sentence's score is the mean of its embedding similarity to the claim (the better of the
    whole sentence and its clauses, since a long sentence often says more than the claim) and the
    share of the claim's content words it contains.
    """

    def __init__(self, embedder: Embedder, *, threshold: float, cache_size: int = 4096) -> None:
        self.embedder = embedder
        self.threshold = threshold
        # Passages recur from question to question (follow-ups, re-asks): their sentences are
        # embedded once. Insertion-ordered dict as a FIFO cache.
        self._cache: dict[str, np.ndarray] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def check(self, claims: Sequence[tuple[str, Sequence[Passage]]]) -> list[Support]:
        """``claims`` pairs each sentence with its cited passages; one ``Support`` per claim."""
        if not claims:
            return []
        evidence = {id(p): evidence_in(p) for _, cited in claims for p in cited}
        sentences = [e for ev in evidence.values() for e in ev]
        pieces = [(i, piece) for i, e in enumerate(sentences) for piece in (e.text, *clauses_of(e.text))]
        texts = [c for c, _ in claims] + [piece for _, piece in pieces]
        vectors = self._embed(texts)
        claim_vecs, piece_vecs = vectors[: len(claims)], vectors[len(claims) :]
        owner = np.array([i for i, _ in pieces], dtype=np.int64)
        row = {(id(e.passage), e.start): i for i, e in enumerate(sentences)}
        sentence_terms = [set(terms(e.text)) for e in sentences]
        results: list[Support] = []
        for (claim, cited), vec in zip(claims, claim_vecs, strict=True):
            similarity = np.full(len(sentences), -1.0, dtype=np.float32)
            if len(owner):
                np.maximum.at(similarity, owner, piece_vecs @ vec)
            claim_terms = set(terms(claim))
            coverage = np.array(
                [len(claim_terms & t) / len(claim_terms) if claim_terms else 0.0 for t in sentence_terms],
                dtype=np.float32,
            )
            scores = 0.5 * similarity + 0.5 * coverage
            results.append(self._support(claim, cited, evidence, scores, row))
        return results

    def _support(
        self, claim: str, cited: Sequence[Passage], evidence: dict[int, list[Evidence]],
        scores: np.ndarray, row: dict[tuple[int, int], int],
    ) -> Support:
        quotes: list[Quote] = []
        best = 0.0
        for passage in cited:
            candidates = evidence[id(passage)]
            if not candidates:
                continue
            passage_scores = scores[[row[(id(passage), e.start)] for e in candidates]]
            top = int(np.argmax(passage_scores))
            score = float(passage_scores[top])
            best = max(best, score)
            if score >= self.threshold:
                e = candidates[top]
                quotes.append(
                    Quote(passage.article_id, e.start, e.end, e.text, passage.rank, round(score, 4))
                )
        stated = set().union(*(numbers_in(p.text) for p in cited)) if cited else set()
        if not numbers_in(claim) <= stated:
            return Support(quotes=(), best=best)
        return Support(quotes=tuple(quotes), best=best)

    def _embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                fresh = _normalized(self.embedder.embed_documents(missing))
                for text, vector in zip(missing, fresh, strict=True):
                    self._cache[text] = vector
            vectors = np.stack([self._cache[t] for t in texts])
            while len(self._cache) > self._cache_size:
                del self._cache[next(iter(self._cache))]
        return vectors


def clauses_of(sentence: str) -> list[str]:
    """The parts of a long sentence between commas, quotes and brackets (three words or more)."""
    if len(sentence.split()) <= _SHORT_SENTENCE_WORDS:
        return []
    parts = (p.strip() for p in _CLAUSE_BREAK.split(sentence))
    return [p for p in parts if len(p.split()) >= 3 and p != sentence]


def _normalized(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms == 0, 1.0, norms), dtype=np.float32)
