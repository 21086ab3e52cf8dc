"""The default answer step: choose the sentences of the retrieved passages that answer the question.

No LLM: each answer sentence is a verbatim sentence of an article, so every claim is its own
citation. Every sentence of the top passages is scored by a small fitted model
(``qa.answer.model``) from what ``qa.answer.features`` measures: how much of the question it
covers (IDF-weighted terms, alone and with the sentence before it), how close its meaning is to
the question's (the bundled model's sentence vectors, cached by ``qa.answer.sentvec``), whether it
holds the kind of thing asked for (a number, a date, a name, a cause for "why", a manner for
"how"), and where it sits. A second fitted model turns the best sentence's signals into
``confidence``, an estimated probability that the answer is right; below the fitted threshold
the answer is "not found". For factoid questions ``qa.answer.spans`` picks the short answer
phrase inside the best sentence (reading the learned reader's scores, ``qa.answer.reader``, when
one is given), and shows it only when it is likely right. ``python -m bench.ablation`` shows
what each signal is worth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from qa.answer.composer import ComposeRequest, Draft, Quote, Segment, stream_of
from qa.answer.features import (
    FEATURES,
    IdfFn,
    QuestionProfile,
    evidence_row,
    expected_type,
    has_type,
    missing_specifics,
    question_profile,
    sentence_rows,
    with_match,
)
from qa.answer.lexical import terms
from qa.answer.matcher import Matcher
from qa.answer.model import CONFIDENCE_FEATURES, AnswererModel, Logistic, confidence_row, default_model
from qa.answer.sentence_store import PassageSplitter, SentenceStore
from qa.answer.sentvec import SentenceVectors
from qa.answer.spans import Reader, SpanCandidate, SpanModel, pick, wants_phrase
from qa.models import Passage

__all__ = ["ExtractiveComposer", "ExtractiveConfig", "Table", "expected_type", "has_type",
           "missing_specifics"]


@dataclass(frozen=True)
class ExtractiveConfig:
    """The answer's shape. ``abstain_below`` None means the fitted model's threshold;
    ``min_span`` None means the span model's fitted floor; ``match_top``: how many of the best
    sentences the matcher reads to choose among; ``drop`` zeroes features (for ablations: a
    dropped feature is set to its training mean)."""

    passages: int = 3
    max_sentences: int = 2
    second_ratio: float = 0.8
    abstain_below: float | None = None
    min_span: float | None = None
    missing_name_factor: float = 0.3
    wrong_type_factor: float = 0.5
    dense: bool = True
    match_top: int = 10
    short: bool = True
    drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage; ``start``/``end`` are article offsets."""

    passage: Passage
    start: int
    end: int
    text: str


@dataclass
class Table:
    """A question's candidates and their feature rows (``FEATURES`` columns)."""

    profile: QuestionProfile
    candidates: list[Candidate]
    rows: np.ndarray
    dense: bool
    missing: bool
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    standalone: str = ""
    matched: np.ndarray | None = None  # ``rows`` with the matcher's columns (``with_match``)


# Reads ahead (``ExtractiveComposer._read_ahead``); two threads serve two questions at once.
_AHEAD = ThreadPoolExecutor(max_workers=2, thread_name_prefix="qa-read-ahead")



@lru_cache(maxsize=8192)
def _terms(text: str) -> frozenset[str]:
    return frozenset(terms(text))


class ExtractiveComposer:
    """Answers with the best one or two verbatim sentences of the retrieved passages, and the
    short answer phrase for factoid questions."""

    name = "extractive"

    def __init__(
        self, idf: IdfFn, config: ExtractiveConfig | None = None,
        *, known: Callable[[str], bool] | None = None, vectors: SentenceVectors | None = None,
        model: AnswererModel | None = None, span_model: SpanModel | None = None,
        matcher: Matcher | None = None, reader: Reader | None = None,
        store: SentenceStore | None = None,
    ) -> None:
        self._idf = idf
        # Passages' sentence spans kept on disk too: pysbd takes ~4 ms a passage, a third of a
        # question whose sentence vectors are all known (BENCHMARKS.md, "Sentence vectors kept").
        self.splitter = PassageSplitter(store)
        self._known = known
        self._vectors = vectors
        self._matcher = matcher
        self._reader = reader
        self.config = config or ExtractiveConfig()
        self._model = model
        self._span_model = span_model

    @property
    def model(self) -> AnswererModel:
        """The fitted weights (the shipped file unless others were given), read on first use."""
        if self._model is None:
            self._model = default_model()
        return self._model

    @model.setter
    def model(self, value: AnswererModel) -> None:
        self._model = value

    def load(self) -> None:
        """Load the matcher and the reader now (exporting them on a first run) instead of on the
        first question."""
        for part in (self._matcher, self._reader):
            load = getattr(part, "load", None)
            if load is not None:
                load()

    def warm(self, sentences: Sequence[str]) -> int:
        """Compute now the vectors the sentence store lacks of these candidate sentences
        (``sentence_texts``), with each model a question reads them with (the bundled model, the
        matcher), so later questions over them embed nothing; returns how many vectors."""
        if not sentences:
            return 0
        embedded = 0
        if self._vectors is not None and self.config.dense:
            embedded += self._vectors.ensure(sentences)
        warm = getattr(self._matcher, "warm", None)
        if warm is not None:
            embedded += int(warm(sentences))
        return embedded

    def sentence_texts(self, passages: Sequence[str], *, remember: bool = True) -> list[str]:
        """The distinct candidate sentences of these passage texts, split as ``table`` does."""
        return self.splitter.sentence_texts(passages, remember=remember)

    def split(self, passages: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
        """Each passage text's sentence spans (``PassageSplitter``)."""
        return self.splitter.split(passages)

    @property
    def store(self) -> SentenceStore | None:
        """Where sentence spans (and, through ``vector_caches``, vectors) are kept on disk."""
        return self.splitter.store

    def vector_caches(self) -> list[SentenceVectors]:
        """The sentence-vector caches questions read (for pruning the store and for reports)."""
        caches = [self._vectors] if self._vectors is not None and self.config.dense else []
        matched = getattr(self._matcher, "vectors", None)
        return [*caches, *([matched] if isinstance(matched, SentenceVectors) else [])]

    # -- the protocol ----------------------------------------------------------------------------

    def compose(self, request: ComposeRequest) -> Draft:
        table = self.table(request)
        if not table.candidates:
            return Draft(answered=False, segments=(), confidence=0.0, backend=self.name)
        probs = self.score(table)
        confidence = self.confidence(table, probs)
        threshold = self.threshold(table)
        if confidence < threshold:
            return Draft(answered=False, segments=(), confidence=confidence, backend=self.name)
        ahead, guess = self._read_ahead(request.question, table, probs)
        chosen = self._choose(table, self.choice(table, probs))
        segments = tuple(
            Segment(text=c.text, quotes=(Quote(c.passage.article_id, c.start, c.end, c.text,
                                               c.passage.rank, round(float(p), 3)),))
            for c, p in chosen
        )
        short = None
        if self.config.short:
            if ahead is not None and ahead.cancel():  # never started (the pool was busy)
                ahead = None
            best = chosen[0][0]
            if ahead is not None and best is guess:
                short = ahead.result()
            else:
                short = self.short(request.question, best)
        return Draft(answered=True, segments=segments, confidence=confidence, backend=self.name,
                     short=short)

    def _read_ahead(
        self, question: str, table: Table, probs: np.ndarray
    ) -> tuple[Future[Quote | None] | None, Candidate | None]:
        """Start the short-answer reader on the sentence model's best sentence while the matcher
        chooses what to cite (each on its own core): the chooser's first pick is that sentence
        for most questions, and then its phrase is ready when wanted."""
        if (not self.config.short or self._reader is None or self._matcher is None
                or self.model.chooser is None or not table.dense or not wants_phrase(question)):
            return None, None
        # A reader not loaded yet loads in this thread, after the matcher: loading both at once
        # put two exports and two weight-file parses side by side (neither is thread-safe).
        if not getattr(self._reader, "loaded", True):
            return None, None
        guess = table.candidates[int(np.argmax(probs))]
        return _AHEAD.submit(self.short, question, guess), guess

    def stream(self, request: ComposeRequest) -> Iterator[str | Draft]:
        return stream_of(self.compose(request))

    # -- the parts (public for the training script and the ablation) -----------------------------

    def table(self, request: ComposeRequest) -> Table:
        """Every sentence of the top passages with its features."""
        profile = question_profile(request.question, request.standalone, self._idf)
        seen: set[tuple[str, int, int]] = set()
        cands: list[Candidate] = []
        sentences: list[tuple[Passage, int, str, set[str], set[str]]] = []
        passages = request.passages[: self.config.passages]
        split = self.split([p.text for p in passages])
        for passage in passages:
            spans = split[passage.text]
            words = [_terms(passage.text[a:b]) for a, b in spans]
            for i, (a, b) in enumerate(spans):
                key = (passage.article_id, passage.start + a, passage.start + b)
                if key in seen:
                    continue
                seen.add(key)
                text = passage.text[a:b]
                cands.append(Candidate(passage, key[1], key[2], text))
                window = set(words[i]) | (set(words[i - 1]) if i else set())
                sentences.append((passage, i, text, set(words[i]), window))
        dense = dense_q = None
        use_dense = self._vectors is not None and self.config.dense
        if use_dense and cands:
            assert self._vectors is not None
            vectors = self._vectors.sentences([c.text for c in cands])
            dense = vectors @ self._vectors.embed_query(request.standalone)
            if request.question != request.standalone:
                dense_q = vectors @ self._vectors.embed_query(request.question)
        rows = sentence_rows(profile, sentences, dense, dense_q)
        missing = bool(missing_specifics(request.question, request.passages, self._known))
        return Table(profile, cands, rows, use_dense, missing, standalone=request.standalone)

    def _sentence_model(self, table: Table) -> Logistic:
        return self.model.sentence if table.dense else self.model.sentence_lexical

    def score(self, table: Table) -> np.ndarray:
        """P(sentence holds the answer) per candidate."""
        model = self._sentence_model(table)
        rows = self._dropped(table.rows, FEATURES, model)
        table.scores = model.logit(model.select(rows, FEATURES))
        return np.asarray(1.0 / (1.0 + np.exp(-table.scores)))

    def choice(self, table: Table, probs: np.ndarray) -> np.ndarray:
        """P(sentence holds the answer) for choosing what to cite, once the answer is given: the
        fitted chooser's (which also reads the matcher) when the matcher ran, else ``probs``."""
        # Only which sentences are cited (and the score shown on each quote) comes from the
        # chooser; ``confidence`` still describes the sentence model's best sentence. The matcher
        # runs here, not in ``table``: a question that abstains never pays for it.
        chooser = self.model.chooser
        if chooser is None or not table.dense or self._matcher is None:
            return probs
        # The matcher embeds each sentence it reads: only the sentence model's best few are
        # worth it (the top 10 left every dev-set answer as it was, at ~half the cost: BENCHMARKS.md).
        top = np.argsort(-probs, kind="stable")[: self.config.match_top]
        rows = self._dropped(self.matched(table, top), FEATURES, chooser)
        choice = np.asarray(chooser.proba(chooser.select(rows, FEATURES)))
        rest = np.ones(len(choice), dtype=bool)
        rest[top] = False
        choice[rest] = 0.0  # unread by the matcher: never cited
        return choice

    def matched(self, table: Table, among: np.ndarray | None = None) -> np.ndarray:
        """``table.rows`` with the matcher's columns filled (the matcher asked once per table),
        for the candidates ``among`` (indices; default all); the others get the lowest score
        read. Kept on the table only when every candidate was read."""
        if table.matched is not None:
            return table.matched
        assert self._matcher is not None
        among = np.arange(len(table.candidates)) if among is None else np.asarray(among)
        read = self._matcher.score(table.standalone, [table.candidates[i].text for i in among])
        scores = np.full(len(table.candidates), float(np.min(read)) if len(read) else 0.0)
        scores[among] = read
        rows = with_match(table.rows, scores)
        if len(set(among.tolist())) == len(table.candidates):
            table.matched = rows
        return rows

    def confidence_features(self, table: Table, probs: np.ndarray) -> np.ndarray:
        """The ``CONFIDENCE_FEATURES`` row of the question (after ``score``)."""
        top = max((c.passage.dense_score or 0.0 for c in table.candidates), default=0.0)
        best = table.candidates[int(np.argsort(-table.scores)[0])]
        spans = self.split([best.passage.text])[best.passage.text]
        i = next((j for j, (a, _) in enumerate(spans) if best.passage.start + a == best.start), None)
        if i is None:
            window = near = best.text
        else:
            text = best.passage.text
            window = " ".join(text[a:b] for a, b in spans[max(i - 1, 0) : i + 1])
            near = " ".join(text[a:b] for a, b in spans[max(i - 1, 0) : i + 2])
        return confidence_row(
            probs, table.scores, table.rows, FEATURES, missing=table.missing,
            top_passage_dense=top, kind=table.profile.kind, counted=bool(table.profile.counted),
            evidence=evidence_row(table.profile, best.text, window, near),
        )

    def confidence(self, table: Table, probs: np.ndarray) -> float:
        """Estimated probability that the answer (the best sentence) is right."""
        row = self.confidence_features(table, probs)
        model = self.model.confidence if table.dense else self.model.confidence_lexical
        row = self._dropped(row[None, :], CONFIDENCE_FEATURES, model)
        confidence = float(model.proba(model.select(row, CONFIDENCE_FEATURES))[0])
        # Signals the training sets hold too few examples of for the model to weigh (SQuAD
        # has no unanswerable questions), kept as main's measured factors: the question names
        # something (Nur-Sultan, 2018) no passage and no indexed chunk mentions; "how many X"
        # answered by a sentence without X nearby.
        if table.missing and "missing_specifics" not in self.config.drop:
            confidence *= self.config.missing_name_factor
        if table.profile.counted and row[0, CONFIDENCE_FEATURES.index("counted_absent")] \
                and "counted_absent" not in self.config.drop:
            confidence *= self.config.wrong_type_factor
        # "How much did X pay?" answered by a sentence (with the one before it) holding no sum of
        # money: on the training split 6 of 7 such answers were wrong (4 of them BBC tempting
        # unanswerables whose story says the figure was not disclosed), too few rows for the
        # model to weigh; the same factor as "how many X" answered without X.
        money = row[0, CONFIDENCE_FEATURES.index("kind_money")]
        if money and not row[0, CONFIDENCE_FEATURES.index("ev_typed_window")] \
                and "money_absent" not in self.config.drop:
            confidence *= self.config.wrong_type_factor
        return confidence

    def threshold(self, table: Table) -> float:
        if self.config.abstain_below is not None:
            return self.config.abstain_below
        return self.model.threshold if table.dense else self.model.threshold_lexical

    def short(self, question: str, best: Candidate) -> Quote | None:
        """The short answer phrase inside ``best`` (article offsets), or None."""
        if not wants_phrase(question):
            # Why/how questions and lists: the answer is the sentence itself, not one phrase.
            return None
        # ``pick`` chooses the fitted trees (with or without the reader's columns) unless given some.
        found = pick(question, best.text, self._span_model, reader=self._reader,
                     min_probability=self.config.min_span)
        if found is None:
            return None
        span: SpanCandidate = found.span
        return Quote(best.passage.article_id, best.start + span.start, best.start + span.end,
                     span.text, best.passage.rank, round(found.probability, 3))

    # -- helpers ---------------------------------------------------------------------------------

    def _dropped(self, rows: np.ndarray, names: Sequence[str], model: Logistic) -> np.ndarray:
        if not self.config.drop:
            return rows
        rows = rows.copy()
        for name in self.config.drop:
            if name in names and name in model.features:
                rows[:, list(names).index(name)] = model.mean[model.features.index(name)]
        return rows

    def _choose(self, table: Table, probs: np.ndarray) -> list[tuple[Candidate, float]]:
        order = [int(i) for i in np.argsort(-probs, kind="stable")]
        best = order[0]
        chosen = [(table.candidates[best], float(probs[best]))]
        said = set(_terms(table.candidates[best].text))
        for i in order[1:]:
            if len(chosen) >= self.config.max_sentences or probs[i] < self.config.second_ratio * probs[best]:
                break
            other = table.candidates[i]
            words = set(_terms(other.text))
            if words <= said and len(other.text.split()) <= 8:
                # A heading that only repeats what is already said adds nothing.
                continue
            chosen.append((other, float(probs[i])))
            said |= words
        return chosen
