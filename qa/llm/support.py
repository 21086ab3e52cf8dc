"""Is a generated sentence backed by the passages it cites? What it asserts must be in one sentence.

A claim is supported by a cited passage when one sentence of the passage (``qa.answer.claims``):

- holds each of the claim's content words: the same stem, a longer form of it ("police" /
  "policemen"), or, for words that are not names, a word whose embedding is close ("died" /
  "killed", "troops" / "soldiers"; ``word_threshold``);
- states each of the claim's numbers counting the same thing: "353 policemen were killed" is not
  backed by "Twelve policemen have been killed and 353 injured";
- has the same polarity ("not", "never", "refused" ...);
- and is close to the claim as a whole: the mean of embedding similarity and content-word
  coverage reaches ``threshold`` (the ranking that picks the quote).

Sentences holding a URL or e-mail address, a call to action ("visit ...", "call ...") or an
instruction to an AI are never claims and never evidence, whatever they overlap with.

The checker was tuned on the "tune" half of ``tests/llm/data/claim_set.jsonl`` and measured on its
"report" half; ``python -m bench.support_bench`` prints both and the numbers are in BENCHMARKS.md.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.embedder import Embedder
from index.sentences import sentence_spans_in
from qa.answer.claims import (
    NEUTRAL_STEMS,
    Assertion,
    Word,
    assertion_of,
    looks_like_instruction,
    never_a_claim,
    numbers_agree,
    stems_match,
)
from qa.answer.composer import Quote
from qa.models import Passage

__all__ = ["Evidence", "Support", "SupportChecker", "evidence_in", "looks_like_instruction"]

# A sentence this short says one thing; only longer ones are also compared clause by clause.
_SHORT_SENTENCE_WORDS = 12
_CLAUSE_BREAKS = ",;:()\"“”–—"
# Tuned on the "tune" half of the claim set (bench/support_bench.py prints the grid).
WORD_THRESHOLD = 0.8
CONTEXT = True
ONE_WORD_SIMILARITY = 0.8


@dataclass(frozen=True)
class Evidence:
    """A sentence of a passage, with its offsets in the article."""

    passage: Passage
    start: int
    end: int
    text: str


def evidence_in(passage: Passage) -> list[Evidence]:
    """The sentences of a passage that may back a claim: not instructions, links or calls to action."""
    out: list[Evidence] = []
    for a, b in sentence_spans_in(passage.text, 0, len(passage.text)):
        text = passage.text[a:b]
        if never_a_claim(text) is None:
            out.append(Evidence(passage, passage.start + a, passage.start + b, text))
    return out


@dataclass(frozen=True)
class Support:
    """The outcome for one claim: the quotes that back it, its best score, and why not if none."""

    quotes: tuple[Quote, ...]
    best: float
    reason: str = ""

    @property
    def supported(self) -> bool:
        return bool(self.quotes)


class SupportChecker:
    """Finds, for each claim, the cited sentence that asserts what the claim asserts."""

    def __init__(
        self, embedder: Embedder, *, threshold: float, word_threshold: float = WORD_THRESHOLD,
        context: bool = CONTEXT, one_word_similarity: float = ONE_WORD_SIMILARITY, cache_size: int = 8192,
    ) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.word_threshold = word_threshold
        self.context = context
        self.one_word_similarity = one_word_similarity
        # Passages recur from question to question (follow-ups, re-asks): their sentences and words
        # are embedded once. Insertion-ordered dict as a FIFO cache.
        self._cache: dict[str, np.ndarray] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def check(self, claims: Sequence[tuple[str, Sequence[Passage]]]) -> list[Support]:
        """``claims`` pairs each sentence with its cited passages; one ``Support`` per claim."""
        evidence: dict[int, list[Evidence]] = {}
        for _, cited in claims:
            for p in cited:
                if id(p) not in evidence:
                    evidence[id(p)] = evidence_in(p)
        return [self._check_one(claim, cited, evidence) for claim, cited in claims]

    def _check_one(
        self, claim: str, cited: Sequence[Passage], evidence: dict[int, list[Evidence]]
    ) -> Support:
        if reason := never_a_claim(claim):
            return Support((), 0.0, f"the sentence {reason}")
        if not cited:
            return Support((), 0.0, "cites no passage")
        said = assertion_of(claim)
        lowered = " ".join(p.text for p in cited).lower()
        quotes: list[Quote] = []
        best, why = 0.0, "no cited sentence says this"
        for passage in cited:
            candidates = evidence[id(passage)]
            if not candidates:
                continue
            similarity = self._similarity(claim, [e.text for e in candidates])
            top: tuple[float, Evidence] | None = None
            for i, (e, sim) in enumerate(zip(candidates, similarity, strict=True)):
                source = assertion_of(e.text)
                words = source.words
                if self.context and i > 0 and candidates[i - 1].end <= e.start:
                    # The sentence before names who "they" and "who" are; numbers and polarity
                    # still come from the sentence quoted.
                    words = assertion_of(candidates[i - 1].text).words + words
                coverage, lacking = self._coverage(said, words, lowered)
                score = 0.5 * float(sim) + 0.5 * coverage
                best = max(best, score)
                if (len(lacking) == 1 and not _is_name(lacking[0], said, lowered)
                        and sim >= self.one_word_similarity):
                    lacking = []
                missing = f"“{lacking[0].text}” is not in the cited sentence" if lacking else None
                problem = missing or _disagreement(said, source)
                if problem is None and score >= self.threshold and (top is None or score > top[0]):
                    top = (score, e)
                elif problem and score >= best:
                    why = problem
            if top is not None:
                score, e = top
                quotes.append(
                    Quote(passage.article_id, e.start, e.end, e.text, passage.rank, round(score, 4))
                )
        return Support(tuple(quotes), best, "" if quotes else why)

    def _coverage(
        self, claim: Assertion, source: Sequence[Word], cited_text: str
    ) -> tuple[float, list[Word]]:
        """Share of the claim's content words the source words hold, and the words they lack."""
        words = [w for w in claim.words if w.stem not in NEUTRAL_STEMS]
        if not words:
            return 1.0, []
        soft = [w for w in words if not any(stems_match(w.stem, s.stem) for s in source)]
        close = self._close_words([w for w in soft if not _is_name(w, claim, cited_text)], source)
        lacking = [w for w in soft if not close.get(w, False)]
        return 1 - len(lacking) / len(words), lacking

    def _close_words(self, plain: list[Word], source: Sequence[Word]) -> dict[Word, bool]:
        """Which of the ``plain`` words (not names) have a close word in the source."""
        if not plain or not source:
            return {}
        vectors = self._embed([w.text.lower() for w in plain] + [s.text.lower() for s in source])
        mine, theirs = vectors[: len(plain)], vectors[len(plain) :]
        closest = (mine @ theirs.T).max(axis=1)
        return {w: bool(c >= self.word_threshold) for w, c in zip(plain, closest, strict=True)}

    def _similarity(self, claim: str, sentences: list[str]) -> np.ndarray:
        """Each sentence's embedding similarity to the claim: the better of it and its clauses."""
        pieces = [(i, piece) for i, s in enumerate(sentences) for piece in (s, *clauses_of(s))]
        vectors = self._embed([claim] + [piece for _, piece in pieces])
        owner = np.array([i for i, _ in pieces], dtype=np.int64)
        similarity = np.full(len(sentences), -1.0, dtype=np.float32)
        np.maximum.at(similarity, owner, vectors[1:] @ vectors[0])
        return similarity

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


def _is_name(w: Word, claim: Assertion, cited_text: str) -> bool:
    """Names must match literally: "China" is close to "Russia" as a vector, not as a fact.

    The sentence's opening word is capitalized anyway: it counts as a name unless the passages use it in
    lower case (``cited_text`` is their lower-cased text).
    """
    if w.text.isupper() and len(w.text) > 1:
        return True
    if claim.words and w is claim.words[0] and claim.opening:
        return w.text[:1].isupper() and f" {w.text.lower()}" not in cited_text
    return w.is_name


def _disagreement(claim: Assertion, source: Assertion) -> str | None:
    """What the source sentence states differently: polarity or a number and what it counts."""
    if claim.negated != source.negated:
        return "the cited sentence says the opposite" if source.negated else "the claim negates the source"
    for n in claim.numbers:
        if not any(numbers_agree(n, s) for s in source.numbers):
            shown = f"{n.value:g}" + (f" {n.after[0]}" if n.after else "")
            return f"the cited sentence does not state “{shown}”"
    return None


def clauses_of(sentence: str) -> list[str]:
    """The parts of a long sentence between commas, quotes and brackets (three words or more)."""
    if len(sentence.split()) <= _SHORT_SENTENCE_WORDS:
        return []
    parts: list[str] = [""]
    for ch in sentence:
        if ch in _CLAUSE_BREAKS:
            parts.append("")
        else:
            parts[-1] += ch
    return [p.strip() for p in parts if len(p.split()) >= 3 and p.strip() != sentence]


def _normalized(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms == 0, 1.0, norms), dtype=np.float32)
