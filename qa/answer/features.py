"""What the answer step knows about a question and each candidate sentence, as numbers.

``question_profile`` reads the question once (its weighted terms, the kind of answer it wants,
its names); ``sentence_features`` turns each candidate sentence of the retrieved passages into
one row of ``FEATURES``. A small learned model (``qa.answer.model``) weighs the rows; nothing
here is tuned by hand beyond the word lists. The answer-kind and cue patterns are shared with
the span finder (``qa.answer.spans``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qa.answer.lexical import terms
from qa.models import Passage

IdfFn = Callable[[str], float]

_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
    r"|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|dozens|half|percent"
)
NUMBER = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE)
MONTH = r"January|February|March|April|May|June|July|August|September|October|November|December"
DATE = re.compile(rf"\b(?:1[0-9]{{3}}|20[0-9]{{2}}|{MONTH}|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
                  r"|century|decade|yesterday|today|tomorrow)\b")
PROPER = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][\w'’-]+")
_ASKS_NUMBER = re.compile(
    r"\bhow (?:many|much|old|far|often|large|big|tall|high|fast)\b"
    r"|\bwhat (?:percentage|percent|number|amount|proportion)\b", re.IGNORECASE)
_ASKS_DURATION = re.compile(r"\bhow long\b", re.IGNORECASE)
_ASKS_DATE = re.compile(r"\bwhen\b|\bwhat (?:year|date|day|month|decade|century|time)\b"
                        r"|\bwhich (?:year|date|day|month|decade|century)\b|\bwhat year\b",
                        re.IGNORECASE)
_ASKS_NAME = re.compile(r"\bwho(?:m|se)?\b|\bwhere\b|\bwhich (?:country|city|team|company|person|group)\b",
                        re.IGNORECASE)
_ASKS_LIST = re.compile(r"\b(?:which|what) (?:\w+ )?(?:countries|nations|states|members|companies"
                        r"|teams|groups|cities|people|ones)\b|\bname (?:the|all)\b|\blist\b",
                        re.IGNORECASE)
_ASKS_WHY = re.compile(r"\bwhy\b|\bwhat (?:caused|led to|sparked|triggered|prompted)\b|\breason\b",
                       re.IGNORECASE)
_ASKS_HOW = re.compile(r"\bhow (?!many|much|long|old|far|often|large|big|tall|high|fast)\w+",
                       re.IGNORECASE)
_CAUSE = re.compile(r"\b(?:because|due to|over|following|after|amid|as a result|caused|led to"
                    r"|sparked|triggered|in response to|in protest|prompted|blamed|thanks to)\b",
                    re.IGNORECASE)
# "by" alone is everywhere ("reported by"): only "by" + a means of transport or a gerund.
_MANNER = re.compile(r"\bby (?:air|road|sea|land|rail|plane|aircraft|train|bus|car|ship|boat|helicopter"
                     r"|truck|foot)\b|\bby \w+ing\b|\bvia\b|\busing\b|\baboard\b|\bairlift",
                     re.IGNORECASE)
_DURATION = re.compile(r"\bfor (?:a|an|the|\d+|several|many|some|two|three|four|five|six) ?\w*"
                       r" ?(?:period|days?|weeks?|months?|years?|hours?|time)\b|\buntil\b|\blimited\b",
                       re.IGNORECASE)
COUNTED = re.compile(r"\bhow many ([a-z]+)", re.IGNORECASE)
_ASKS_MONEY = re.compile(
    r"\bhow much\b.*\b(?:cost|costs|pay|paid|pays|worth|earn|earning|earns|spend|spent|offer|offering"
    r"|price|sell|sold|raise|raised|fund|charge|bid|fee|salary|budget|invest|owe|value|valued|receive)"
    r"|\bhow much (?:money|cash)\b|\bwhat (?:price|fee|salary|sum)\b|\bfor how much\b", re.IGNORECASE)
MONEY = re.compile(
    r"[$£€¥]\s?\d|\d[\d,.]*\s?(?:m|bn|k)?\s?(?:pounds?|dollars?|euros?|yen|pence|cents?)\b"
    r"|\b\d[\d,.]*(?:m|bn)\b", re.IGNORECASE)
_PLACE = re.compile(r"\b(?:in|at|from|to|near|into|across|outside|inside)\s+(?:the\s+)?([A-Z][\w'’-]+)")
# Sentences that say the asked fact is not (yet) there: "the fee was not disclosed", "declined to
# say", "has yet to decide". An answer resting on such a sentence is usually no answer.
ABSENT = re.compile(
    r"\b(?:not (?:been |yet )?(?:disclosed|revealed|known|announced|confirmed|decided|made public"
    r"|specified|given|released)|undisclosed|unspecified|undecided|unknown|unclear"
    r"|(?:declined|refused|would not|will not|did not|does not|wouldn't|won't|didn't) (?:to )?"
    r"(?:say|comment|reveal|disclose|confirm|give|discuss|specify|name)"
    r"|yet to (?:be )?(?:decide|decided|announce|announced|confirm|confirmed|make|set|reveal|revealed"
    r"|agree|agreed|name|named)|no decision|remains? to be seen|not yet|under review"
    r"|(?:will|would|is to|are to|set to|expected to) (?:decide|rule|announce)"
    r" (?:later|next|on|in|by|whether)"
    r"|whether or not)\b", re.IGNORECASE)
_SPECIFIC = re.compile(r"\b(?:[A-Z][\w'’-]*[A-Za-z]|\d[\d,.]*)")

FEATURES: tuple[str, ...] = (
    "own", "context", "own_q", "idf_sum", "own_gap", "context_gap",
    "dense", "dense_q", "dense_gap", "dense_q_gap",
    "type_ok", "type_ok_rare", "type_missing", "counted_near", "why_cause", "how_manner", "long_duration",
    "list_items", "names_missing", "rank_prior", "passage_dense", "first", "position", "log_len",
    "match", "match_gap",
)
# The model-based columns: sentence vectors and the matcher's (``qa.answer.matcher``); a
# composer built without an embedder uses the models fitted without them.
DENSE = frozenset({"dense", "dense_q", "dense_gap", "dense_q_gap", "match", "match_gap"})
# What the chosen sentence says about the asked fact, for the confidence model (see
# ``evidence_row``): it holds a thing of the asked kind, how much of the question's focus it
# misses, and whether it says the fact is undisclosed or undecided; plus the question's kind.
EVIDENCE_FEATURES: tuple[str, ...] = (
    "ev_typed", "ev_typed_window", "ev_focus_missing", "ev_focus_max_missing", "ev_names_window",
    "ev_absent", "ev_absent_near", "kind_number", "kind_money", "kind_date", "kind_name",
    "kind_why", "kind_how", "kind_other",
)


def expected_type(question: str) -> str | None:
    """The kind of answer asked for: number, duration, date, why, list, name, how or None."""
    for kind, pattern in (("number", _ASKS_NUMBER), ("duration", _ASKS_DURATION),
                          ("date", _ASKS_DATE), ("why", _ASKS_WHY), ("list", _ASKS_LIST),
                          ("name", _ASKS_NAME), ("how", _ASKS_HOW)):
        if pattern.search(question):
            return kind
    return None


def has_type(sentence: str, kind: str | None, question: str) -> bool:
    """Does the sentence hold a thing of that kind that the question does not already say?"""
    pattern = {"number": NUMBER, "date": DATE, "name": PROPER, "list": PROPER,
               "duration": _DURATION, "why": _CAUSE, "how": _MANNER}.get(kind or "")
    if pattern is None:
        return False
    asked = {w.lower() for w in re.findall(r"\w+", question)}
    return any(m.group(0).lower() not in asked for m in pattern.finditer(sentence))


def typed_evidence(sentence: str, kind: str | None, question: str) -> bool:
    """Stricter than ``has_type``: money for "how much" money questions, a number right before
    the counted noun for "how many X", a place after a preposition for "where", a name for
    "who", a date or year for "when", a cause or manner for why/how; never a word of the
    question itself."""
    asked = {w.lower() for w in re.findall(r"\w+", question)}

    def new(found: list[str]) -> bool:
        return any(not {w.lower() for w in re.findall(r"\w+", f)} <= asked for f in found)

    if kind == "number":
        if _ASKS_MONEY.search(question):
            return new([m.group(0) for m in MONEY.finditer(sentence)])
        counted = COUNTED.search(question)
        if counted and terms(counted.group(1)):
            noun = set(terms(counted.group(1)))
            words = re.findall(r"[\w'’.,-]+", sentence)
            for i, w in enumerate(words):
                if NUMBER.search(w) and w.lower() not in asked and any(
                        noun & set(terms(x)) for x in words[i + 1 : i + 4]):
                    return True
            return False
        return new([m.group(0) for m in NUMBER.finditer(sentence)])
    if kind == "name" and re.search(r"\bwhere\b", question, re.IGNORECASE):
        return new([m.group(1) for m in _PLACE.finditer(sentence)])
    return has_type(sentence, kind, question)


def evidence_row(profile: QuestionProfile, sentence: str, window: str, near: str) -> list[float]:
    """``EVIDENCE_FEATURES`` of the chosen ``sentence``; ``window`` is it with the sentence
    before, ``near`` it with its neighbours on both sides (same passage)."""
    kind, question = profile.kind, profile.question
    window_words = _terms_of(window)
    focus = {t: w for t, w in profile.weights.items() if t in profile.own}
    total = sum(focus.values())
    missing = [w for t, w in focus.items() if t not in window_words]
    names = (sum(bool(n & window_words) for n in profile.names) / len(profile.names)
             if profile.names else 1.0)
    money = kind == "number" and bool(_ASKS_MONEY.search(question))
    return [
        float(typed_evidence(sentence, kind, question)),
        float(typed_evidence(window, kind, question)),
        sum(missing) / total if total > 0 else 1.0,
        max(missing, default=0.0) / max(focus.values()) if focus else 1.0,
        names,
        float(bool(ABSENT.search(sentence))),
        float(bool(ABSENT.search(near))),
        float(kind in ("number", "duration") and not money), float(money), float(kind == "date"),
        float(kind == "name"), float(kind == "why"), float(kind == "how"),
        float(kind not in ("number", "duration", "date", "name", "why", "how")),
    ]


def _terms_of(text: str) -> set[str]:
    return set(terms(text))


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


@dataclass(frozen=True)
class QuestionProfile:
    """The question, read once: term weights (own terms full, history-only terms half), the
    answer kind, the noun counted by "how many X", and the question's names."""

    question: str
    weights: dict[str, float]
    own: frozenset[str]
    kind: str | None
    counted: frozenset[str]
    names: tuple[frozenset[str], ...]

    @property
    def total(self) -> float:
        return sum(self.weights.values())


def question_profile(question: str, standalone: str, idf: IdfFn) -> QuestionProfile:
    own = terms(question)
    weights = {t: idf(t) for t in own}
    for t in terms(standalone):
        # Terms only the conversation supplies count for less than the question's own.
        weights.setdefault(t, 0.5 * idf(t))
    counted = COUNTED.search(question)
    names = tuple(
        frozenset(terms(m.group(0))) for m in _SPECIFIC.finditer(question) if m.start() > 0
    )
    return QuestionProfile(
        question=question, weights=weights, own=frozenset(own), kind=expected_type(question),
        counted=frozenset(terms(counted.group(1))) if counted else frozenset(),
        names=tuple(n for n in names if n),
    )


def _coverage(profile: QuestionProfile, words: set[str], *, own_only: bool = False) -> float:
    weights = {t: w for t, w in profile.weights.items() if not own_only or t in profile.own}
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in words) / total if total > 0 else 0.0


def sentence_rows(
    profile: QuestionProfile,
    sentences: Sequence[tuple[Passage, int, str, set[str], set[str]]],
    dense: np.ndarray | None,
    dense_q: np.ndarray | None,
) -> np.ndarray:
    """One row of ``FEATURES`` per candidate ``(passage, index in passage, text, its terms,
    terms of it and the sentence before)``; ``dense``/``dense_q`` are cosine similarities with
    the standalone question and the question as asked (None: no embedder, zeros). The matcher's
    columns stay zero (``with_match`` fills them, only for the sentences an answer cites)."""
    n = len(sentences)
    rows = np.zeros((n, len(FEATURES)), dtype=np.float64)
    if n == 0:
        return rows
    col = {name: i for i, name in enumerate(FEATURES)}
    question = profile.question
    for r, (passage, index, text, words, window) in enumerate(sentences):
        words_near = window
        row = rows[r]
        row[col["own"]] = _coverage(profile, words)
        row[col["context"]] = _coverage(profile, window)
        row[col["own_q"]] = _coverage(profile, words, own_only=True)
        row[col["idf_sum"]] = math.log1p(sum(w for t, w in profile.weights.items() if t in words))
        kind = profile.kind
        typed = has_type(text, kind, question)
        row[col["type_ok"]] = float(typed)
        # Causes, manners, durations and lists are rarer in text than names: their own weight.
        row[col["type_ok_rare"]] = float(typed and kind in ("why", "how", "duration", "list"))
        row[col["type_missing"]] = float(kind in ("number", "date") and not typed)
        row[col["counted_near"]] = float(bool(profile.counted & words_near)) if profile.counted else 0.0
        row[col["why_cause"]] = float(kind == "why" and typed)
        row[col["how_manner"]] = float(kind == "how" and typed)
        row[col["long_duration"]] = float(kind == "duration" and typed)
        row[col["list_items"]] = (
            min(len(PROPER.findall(text)), 6) / 6 if kind == "list" and text.count(",") >= 1 else 0.0
        )
        if profile.names:
            row[col["names_missing"]] = sum(not (n & window) for n in profile.names) / len(profile.names)
        row[col["rank_prior"]] = 1.0 / (1 + passage.rank)
        row[col["passage_dense"]] = passage.dense_score or 0.0
        row[col["first"]] = float(index == 0)
        row[col["position"]] = min(index, 10) / 10
        row[col["log_len"]] = math.log1p(len(text.split()))
    if dense is not None:
        rows[:, col["dense"]] = dense
        rows[:, col["dense_q"]] = dense_q if dense_q is not None else dense
    for name in ("own", "context", "dense", "dense_q"):
        _gap(rows, col, name)
    return rows


def with_match(rows: np.ndarray, match: np.ndarray) -> np.ndarray:
    """``rows`` (of ``sentence_rows``) with the matcher's score per sentence in its columns."""
    col = {name: i for i, name in enumerate(FEATURES)}
    rows = rows.copy()
    rows[:, col["match"]] = match
    _gap(rows, col, "match")
    return rows


def _gap(rows: np.ndarray, col: dict[str, int], name: str) -> None:
    rows[:, col[name + "_gap"]] = rows[:, col[name]] - rows[:, col[name]].max()
