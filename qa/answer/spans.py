"""The short answer: the phrase of the chosen sentence that answers a factoid question.

Candidates are the phrases a short answer usually is: numbers with their units, dates, runs of
capitalised words, and the content-word runs between function words ("Twelve policemen",
"expensive fuel"), with their shorter ends. Each candidate becomes one row of ``SPAN_FEATURES``
(does its kind fit the question, is it already in the question, how close it sits to the
question's words in the sentence...) and the fitted ``span`` model of ``qa.answer.model`` picks
one. Offsets are relative to the sentence; the composer turns them into article offsets.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from qa.answer.features import DATE, MONTH
from qa.answer.lexical import terms


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_WORD = re.compile(r"[$£€]?\d[\d,.:]*\d%?|[$£€]?\d%?|[\w][\w'’&.-]*\w|\w")
_FUNCTION = _words(
    "a an the and or but of in on at by for from to with as into over under about after before is "
    "are was were be been being has have had do does did will would can could may might must "
    "shall should that which who whom whose what when where why how this these those it its they "
    "their them he his him she her we our you your i not no than then there here also said says "
    "say while during such so if because since until against between through per both each either "
    "more most very"
)
_NUMBERISH = re.compile(
    r"^[$£€]?\d|^(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
    r"|fifteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million"
    r"|billion|dozens?|half)$", re.IGNORECASE)
_UNIT = _words(
    "% percent million billion trillion thousand hundred bn m km miles years days months weeks "
    "hours minutes people"
)
_MONTHS = frozenset(MONTH.split("|"))
_WH = ("who", "where", "when", "what", "which", "how many", "how much")
_FACTOID = re.compile(r"\b(?:who(?:m|se)?|where|when|what|which|how (?:many|much|old|far|big|large))\b",
                      re.IGNORECASE)

SPAN_FEATURES: tuple[str, ...] = (
    "is_number", "is_date", "is_cap", "is_lower", "n_tokens", "one_token", "in_question",
    "log_dist", "no_anchor", "q_term_after", "q_term_before", "prep_before", "by_before",
    "position", "number_x_number", "date_x_date", "cap_x_name", "cap_x_what", "lower_x_what",
    "number_x_other", "unit_inside", "has_comma", "ends_sentence", "starts_sentence",
    "cap_x_where", "cap_x_who", "number_x_date",
)


@dataclass(frozen=True)
class SpanCandidate:
    """A phrase of a sentence: ``sentence[start:end] == text``."""

    start: int
    end: int
    text: str


def is_factoid(question: str) -> bool:
    """Who, what, when, where, which, how many, how much: questions a phrase can answer."""
    q = question.lower()
    if re.search(r"\bwhy\b|\bhow (?!many|much|old|far|big|large)\w+", q):
        return False
    return bool(_FACTOID.search(question))


def _tokens(sentence: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0)) for m in _WORD.finditer(sentence)]


def candidates(sentence: str) -> list[SpanCandidate]:
    """Phrases of the sentence that could be a short answer, each once."""
    tokens = _tokens(sentence)
    found: dict[tuple[int, int], None] = {}

    def add(i: int, j: int) -> None:  # tokens i..j inclusive
        if 0 <= i <= j < len(tokens) and j - i < 8:
            found.setdefault((tokens[i][0], tokens[j][1]), None)

    # Content-word runs between function words and punctuation, and their shorter ends.
    run: list[int] = []
    for idx, (a, _b, word) in enumerate([*tokens, (len(sentence), len(sentence), ".")]):
        gap = idx > 0 and idx < len(tokens) and run and sentence[tokens[run[-1]][1]:a].strip(" ")
        if idx == len(tokens) or word.lower() in _FUNCTION or gap:
            if run:
                lo, hi = run[0], run[-1]
                for i in range(lo, hi + 1):
                    add(i, hi)
                    add(lo, i)
            run = [] if idx == len(tokens) or word.lower() in _FUNCTION else [idx]
        else:
            run.append(idx)
    for i, (_a, _b, word) in enumerate(tokens):
        if _NUMBERISH.match(word):
            add(i, i)
            if i + 1 < len(tokens) and tokens[i + 1][2].lower() in _UNIT:
                add(i, i + 1)
        if word[:1].isupper():
            # Capitalised runs may hold "of"/"the"/"and" (University of Chicago).
            j = i
            while j + 2 < len(tokens) and tokens[j + 1][2] in ("of", "the", "and", "de", "for") \
                    and tokens[j + 2][2][:1].isupper():
                j += 2
                add(i, j)
        if word in _MONTHS or DATE.fullmatch(word):
            j = i
            while j + 1 < len(tokens) and (tokens[j + 1][2].isdigit() or tokens[j + 1][2] in _MONTHS):
                j += 1
            add(max(0, i - 1) if i and tokens[i - 1][2].isdigit() else i, j)
    return [SpanCandidate(a, b, sentence[a:b]) for a, b in sorted(found)]


def span_rows(question: str, sentence: str, spans: list[SpanCandidate]) -> np.ndarray:
    """One row of ``SPAN_FEATURES`` per candidate."""
    q = question.lower()
    wh = next((w for w in _WH if re.search(rf"\b{w}\b", q)), "")
    asks_number = wh in ("how many", "how much") or bool(re.search(r"\bhow (?:old|far|big|large)\b|"
                                                                   r"\bwhat (?:percentage|number)", q))
    asks_date = wh == "when" or bool(re.search(r"\b(?:what|which) (?:year|date|day|month|century)", q))
    asks_name = wh in ("who", "where") or bool(re.search(r"\bwhich\b", q))
    asks_what = wh in ("what", "which") and not (asks_number or asks_date)
    qterms = set(terms(question))
    tokens = _tokens(sentence)
    anchors = [i for i, (_a, _b, w) in enumerate(tokens) if set(terms(w)) & qterms]
    rows = np.zeros((len(spans), len(SPAN_FEATURES)), dtype=np.float64)
    col = {n: i for i, n in enumerate(SPAN_FEATURES)}
    for r, span in enumerate(spans):
        inside = [i for i, t in enumerate(tokens) if t[0] >= span.start and t[1] <= span.end]
        if not inside:
            continue
        first, last = inside[0], inside[-1]
        words = span.text.split()
        is_number = bool(_NUMBERISH.match(words[0]))
        is_date = bool(DATE.search(span.text))
        is_cap = all(w[:1].isupper() or w in ("of", "the", "and", "de", "for") for w in words)
        own = set(terms(span.text))
        row = rows[r]
        row[col["is_number"]] = is_number
        row[col["is_date"]] = is_date
        row[col["is_cap"]] = is_cap
        row[col["is_lower"]] = span.text[:1].islower()
        row[col["n_tokens"]] = min(len(inside), 8) / 8
        row[col["one_token"]] = len(inside) == 1
        row[col["in_question"]] = len(own & qterms) / len(own) if own else 1.0
        outside = [i for i in anchors if i < first or i > last]
        dist = min((first - i if i < first else i - last) for i in outside) if outside else 30
        row[col["log_dist"]] = math.log1p(dist)
        row[col["no_anchor"]] = not outside
        row[col["q_term_after"]] = last + 1 in anchors or last + 2 in anchors
        row[col["q_term_before"]] = first - 1 in anchors or first - 2 in anchors
        before = tokens[first - 1][2].lower() if first else ""
        row[col["prep_before"]] = before in ("in", "at", "on", "from", "to", "near")
        row[col["by_before"]] = before == "by"
        row[col["position"]] = span.start / max(1, len(sentence))
        row[col["number_x_number"]] = is_number and asks_number
        row[col["date_x_date"]] = is_date and asks_date
        row[col["cap_x_name"]] = is_cap and asks_name
        row[col["cap_x_what"]] = is_cap and asks_what
        row[col["lower_x_what"]] = span.text[:1].islower() and asks_what
        row[col["number_x_other"]] = is_number and not (asks_number or asks_date)
        row[col["unit_inside"]] = any(w.lower() in _UNIT for w in words[1:])
        row[col["has_comma"]] = "," in span.text
        row[col["ends_sentence"]] = last == len(tokens) - 1
        row[col["starts_sentence"]] = first == 0
        row[col["cap_x_where"]] = is_cap and wh == "where"
        row[col["cap_x_who"]] = is_cap and wh == "who"
        row[col["number_x_date"]] = is_number and asks_date
    return rows
