"""The short answer: the phrase of the chosen sentence that answers a factoid question.

``candidates`` lists the phrases a short answer can be: every run of up to ``MAX_TOKENS`` tokens
that starts and ends on a content word (or a number, a currency sign, a quote) and crosses no
sentence punctuation, plus the few function-word starts answers keep ("by air", "over two
million", "until 1796"). That covers names, noun phrases with "of", lists ("A, B and C"),
numbers with units, money, percentages and dates. ``span_rows`` describes each candidate by its
kind (number, date, money, capitalised...), the kind the question asks for (its wh-word and focus
noun: "what year", "which team", "how many policemen"), whether it repeats the question, how many
question words sit right before and after it in the sentence, and its boundaries. A small tree
ensemble evaluated here with numpy alone scores them: with the learned reader
(``qa.answer.reader``), whose scores fill ``READER_FEATURES``, the one fitted by
``python -m bench.train_reader`` (``spans-v3.json``); without it, the one fitted by
``python -m bench.train_spans`` (``spans-v2.json``). ``pick`` returns the best one when its
probability reaches the model's floor (fitted so that shown phrases are right at least 3 times
in 4 on the training questions), else None: the answer is then the sentence alone. Offsets are relative to the
sentence; the composer turns them into article offsets.

(Longer than our ~400 lines on purpose: the candidate rules, the feature columns and the model
that reads them by name change together and are refitted together.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.answer.features import DATE, MONTH, expected_type
from qa.answer.figures import asked_figure, clause_fit, figure_kind, is_date_or_time, values_in
from qa.answer.lexical import terms
from qa.answer.model import load_weights

WEIGHTS_FILE = "spans-v2.json"
# The trees that also read the reader's scores (used when the reader is available).
READER_WEIGHTS_FILE = "spans-v3.json"
MAX_TOKENS = 10


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Numbers keep their separators, signs and suffixes ("$4.6bn", "1890s", "19th"); every other
# character that is not a word or a space is a token of its own, so phrases stop at punctuation.
_TOKEN = re.compile(r"[$£€]?\d(?:[\d,.:]*\d)?(?:%|(?:bn|m|k|s|st|nd|rd|th|am|pm)\b)?"
                    r"|\w[\w'’&.-]*\w|\w|[^\w\s]")
_FUNCTION = _words(
    "a an the and or but of in on at by for from to with as into over under about after before is "
    "are was were be been being has have had do does did will would can could may might must "
    "shall should that which who whom whose what when where why how this these those it its they "
    "their them he his him she her we our you your i not than then there here also said says "
    "say while during such so if because since until against between through per each either "
    "very its it's whether"
)
# Function words a short answer may start with, before what they govern ("by air", "over two
# million", "between 150,000 and 200,000", "until 1796", "after liberation").
_STARTS = _words("by over about nearly around almost between until since after before during more")
_STOP = frozenset(".;:!?")
_NUMBER_WORD = re.compile(
    r"^(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    r"|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy"
    r"|eighty|ninety|hundred|hundreds|thousand|thousands|million|millions|billion|billions"
    r"|dozens?|half|several|first|second|third|fourth|fifth)$", re.IGNORECASE)
_UNIT = _words(
    "% percent per cent million billion trillion thousand hundred bn m km kg miles mph years days "
    "months weeks hours minutes seconds people times pounds dollars euros tonnes metres meters feet"
)
_MONTHS = frozenset(MONTH.split("|"))
_OPENERS = frozenset("$£€\"“‘'(")
_CLOSERS = frozenset("%\"”’')")
_FACTOID = re.compile(r"\b(?:who(?:m|se)?|where|when|what|which|how (?:many|much|old|far|big|large"
                      r"|long))\b", re.IGNORECASE)
_FOCUS = re.compile(r"\b(?:what|which|whose|how many|how much)\s+([a-z][\w-]*)(?:\s+([a-z][\w-]*))?",
                    re.IGNORECASE)
_DATE_FOCUS = _words("year years date day month decade century era time period")
_NUMBER_FOCUS = _words("number percentage percent amount proportion share size rate price cost "
                       "population total")
_PLACE_FOCUS = _words("country countries city cities state states town region place area "
                      "county continent island river nation")
_PERSON_FOCUS = _words("person people man woman player president leader name chief minister "
                       "king queen author singer actor director")
_QTYPES = ("who", "when", "where", "how_many", "how_much", "how_long", "how_num", "how", "why",
           "which", "what", "other")

SPAN_FEATURES: tuple[str, ...] = (
    *(f"q_{t}" for t in _QTYPES),
    "asks_number", "asks_date", "asks_place", "asks_person",
    "starts_number", "has_number", "is_date", "has_month", "has_year", "money", "percent", "unit",
    "all_cap", "first_cap", "any_cap", "all_lower", "has_comma", "has_and", "has_of", "quoted",
    "starts_function", "n_words", "n_chars",
    "in_question", "any_in_question", "all_in_question",
    "left1", "left3", "left6", "right1", "right3", "right6", "dist_left", "dist_right", "dist",
    "q_coverage",
    "before_start", "before_punct", "before_function", "before_cap", "before_number",
    "after_end", "after_punct", "after_function", "after_cap", "after_number",
    "before_det", "before_prep", "before_of", "before_by", "before_to", "before_as", "before_and",
    "before_comma", "after_of", "after_comma", "after_and", "after_paren", "after_possessive",
    "counted_after", "focus_inside", "focus_near", "position", "full_run",
    "near_rel", "dist_rel", "words_rel",
    "pre_left", "pre_right", "post_left", "post_right", "type_match", "type_clash",
    # The learned reader's scores (``qa.answer.reader``), filled by ``with_reader`` (0 without it).
    "reader_prob", "reader_gap", "reader_top",
)
READER_FEATURES = ("reader_prob", "reader_gap", "reader_top")
# Prior knowledge the trees are held to (fitted as monotonic constraints): a phrase of the kind
# asked for is never worse for it, one of a clashing kind never better.
MONOTONE: dict[str, int] = {"type_match": 1, "type_clash": -1}


@dataclass(frozen=True)
class SpanCandidate:
    """A phrase of a sentence: ``sentence[start:end] == text``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ScoredSpan:
    """The chosen phrase and its fitted probability of being the short answer."""

    span: SpanCandidate
    probability: float


def is_factoid(question: str) -> bool:
    """Who, what, when, where, which, how many, how much: questions a phrase can answer."""
    q = question.lower()
    if re.search(r"\bwhy\b|\bhow (?!many|much|old|far|big|large|long)\w+", q):
        return False
    return bool(_FACTOID.search(question))


@lru_cache(maxsize=65536)
def _stems(word: str) -> frozenset[str]:
    return frozenset(terms(word))


def _tokens(sentence: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(sentence)]


def _is_word(token: str) -> bool:
    return token[:1].isalnum() or token[:1] in "$£€"


def _is_function(token: str, index: int) -> bool:
    # "Will" and "May" inside a sentence are names ("Will Smith", "in May").
    return token.lower() in _FUNCTION and (index == 0 or token not in ("Will", "May"))


def _is_number(token: str) -> bool:
    return token[:1].isdigit() or token[1:2].isdigit() or bool(_NUMBER_WORD.match(token))


def candidates(sentence: str) -> list[SpanCandidate]:
    """Phrases of the sentence that could be a short answer, each once, in sentence order."""
    tokens = _tokens(sentence)
    n = len(tokens)
    words = [w for _a, _b, w in tokens]
    content = [_is_word(w) and not _is_function(w, i) for i, w in enumerate(words)]
    ends = [c or w in _CLOSERS for c, w in zip(content, words, strict=True)]
    # Only a sentence with brackets or quotes needs the (slower) balance check.
    check = any(ch in sentence for ch in "()\"“”")
    found: list[tuple[int, int]] = []
    for i, word in enumerate(words):
        opener = word in _OPENERS
        if opener:
            if i + 1 >= n or not content[i + 1]:
                continue
        elif not (content[i] or (word.lower() in _STARTS and i + 1 < n and _is_word(words[i + 1]))):
            continue
        a = tokens[i][0]
        for j in range(i + opener, min(n, i + MAX_TOKENS)):
            if words[j] in _STOP:
                break
            if ends[j] and (not check or _balanced(sentence[a:tokens[j][1]])):
                found.append((a, tokens[j][1]))
    return [SpanCandidate(a, b, sentence[a:b]) for a, b in dict.fromkeys(found)]


def _balanced(text: str) -> bool:
    """No half of a bracket or quotation: "(Schenectady" and "Co.)" are not phrases."""
    return (text.count("(") == text.count(")") and text.count("“") == text.count("”")
            and text.count('"') % 2 == 0 and (text[:1] != "(" or text.endswith(")")))


@dataclass(frozen=True)
class _Question:
    qtype: str
    asks_number: bool
    asks_date: bool
    asks_place: bool
    asks_person: bool
    stems: frozenset[str]
    pre: frozenset[str]
    focus: frozenset[str]
    counted: frozenset[str]


def _question(question: str) -> _Question:
    q = question.lower()
    qtype = "other"
    for name, pattern in (("how_many", r"\bhow many\b"), ("how_much", r"\bhow much\b"),
                          ("how_long", r"\bhow long\b"), ("how_num", r"\bhow (?:old|far|big|large"
                                                          r"|tall|high|fast|often)\b"),
                          ("why", r"\bwhy\b"), ("how", r"\bhow\b"), ("who", r"\bwho(?:m|se)?\b"),
                          ("when", r"\bwhen\b"), ("where", r"\bwhere\b"), ("which", r"\bwhich\b"),
                          ("what", r"\bwhat\b")):
        if re.search(pattern, q):
            qtype = name
            break
    focus_word = _focus(question)
    # "How many naval bases": every content word up to the verb names what is counted.
    counted = re.search(r"\bhow many ((?:[a-z][\w-]* ?){1,3})", q)
    wh = re.search(r"\b(?:who(?:m|se)?|what|when|where|which|why|how)\b", q)
    asks_number = qtype in ("how_many", "how_much", "how_num") or focus_word in _NUMBER_FOCUS
    asks_date = qtype == "when" or focus_word in _DATE_FOCUS
    counting = asks_number or asks_date  # "how many people" asks for a number, not a person
    return _Question(
        qtype=qtype,
        asks_number=asks_number,
        asks_date=asks_date,
        asks_place=(qtype == "where" or focus_word in _PLACE_FOCUS) and not counting,
        asks_person=(qtype == "who" or focus_word in _PERSON_FOCUS) and not counting,
        stems=frozenset(terms(question)),
        # The words before the wh-word ("Super Bowl 50 was won by WHICH team"): a sentence that
        # says the same in the same order has them before the answer, the others after it.
        pre=frozenset(terms(question[:wh.start()])) if wh else frozenset(),
        focus=_stems(focus_word) if focus_word and focus_word not in _FUNCTION else frozenset(),
        counted=frozenset(terms(_first_content(counted.group(1)))) if counted else frozenset(),
    )


def _focus(question: str) -> str:
    """The noun a what/which question asks about: "which city were..." -> "city", "which NFL
    team" -> "team" (the second word when the first is not a known kind and the second is no
    function word)."""
    match = _FOCUS.search(question)
    if not match:
        return ""
    first, second = match.group(1).lower(), (match.group(2) or "").lower()
    known = _DATE_FOCUS | _NUMBER_FOCUS | _PLACE_FOCUS | _PERSON_FOCUS
    if first in known or not second or second in _FUNCTION:
        return first
    return second


def _first_content(words: str) -> str:
    """The words before the first function word ("naval bases were" -> "naval bases")."""
    kept = []
    for word in words.split():
        if word in _FUNCTION:
            break
        kept.append(word)
    return " ".join(kept)


def span_rows(question: str, sentence: str, spans: list[SpanCandidate]) -> np.ndarray:
    """One row of ``SPAN_FEATURES`` per candidate (vectorised over candidates: per-token flags
    once, then prefix sums, so a 100-candidate sentence costs about a millisecond)."""
    q = _question(question)
    tokens = _tokens(sentence)
    n = len(tokens)
    col = {name: k for k, name in enumerate(SPAN_FEATURES)}
    rows = np.zeros((len(spans), len(SPAN_FEATURES)), dtype=np.float64)
    starts = {a: i for i, (a, _b, _w) in enumerate(tokens)}
    ends = {b: i for i, (_a, b, _w) in enumerate(tokens)}
    pairs = [(starts.get(s.start, -1), ends.get(s.end, -1)) for s in spans]
    if not spans or n == 0:
        return rows
    first = np.array([p[0] for p in pairs])
    last = np.array([p[1] for p in pairs])
    ok = (first >= 0) & (last >= first)
    first, last = np.where(ok, first, 0), np.where(ok, last, 0)

    words = [w for _a, _b, w in tokens]
    stems = [_stems(w) for w in words]
    flag = {
        "word": [_is_word(w) for w in words],
        "function": [_is_function(w, i) for i, w in enumerate(words)],
        "number": [_is_word(w) and _is_number(w) for w in words],
        "cap": [w[:1].isupper() or w[:1].isdigit() for w in words],
        "upper": [w[:1].isupper() for w in words],
        "lower": [w.islower() or not _is_word(w) for w in words],
        "date": [bool(DATE.search(w)) for w in words],
        "month": [w in _MONTHS for w in words],
        "year": [bool(re.fullmatch(r"1[0-9]{3}|20[0-9]{2}", w)) for w in words],
        "money": [w[:1] in "$£€" or w.lower() in ("dollars", "dollar", "pounds", "euros") for w in words],
        "percent": [w.endswith("%") or w.lower() in ("percent", "cent") for w in words],
        "unit": [w.lower() in _UNIT for w in words],
        "comma": [w == "," for w in words],
        "and": [w in ("and", "or") for w in words],
        "of": [w == "of" for w in words],
        "hit": [bool(s & q.stems) for s in stems],
        "stemmed": [bool(s) for s in stems],
        "focus": [bool(s & q.focus) for s in stems],
        "pre": [bool(s & q.pre) for s in stems],
        "post": [bool(s & (q.stems - q.pre)) for s in stems],
        "counted": [bool(s & q.counted) for s in stems],
    }
    arr = {k: np.array(v, dtype=bool) for k, v in flag.items()}
    content = arr["word"] & ~arr["function"]
    arr["content"] = content
    arr["content_cap"] = content & arr["cap"]

    cumulative: dict[str, np.ndarray] = {}

    def prefix(key: str) -> np.ndarray:
        if key not in cumulative:
            cumulative[key] = np.concatenate([[0], np.cumsum(arr[key])])
        return cumulative[key]

    def inside(key: str) -> np.ndarray:
        sums = prefix(key)
        return np.asarray(sums[last + 1] - sums[first], dtype=np.float64)

    def window(key: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        sums = prefix(key)
        lo, hi = np.clip(lo, 0, n), np.clip(hi, 0, n)  # [lo, hi)
        return np.asarray(np.where(hi > lo, sums[hi] - sums[lo], 0), dtype=np.float64)

    def at(key: str, index: np.ndarray) -> np.ndarray:
        padded = np.concatenate([[False], arr[key], [False]])
        return padded[np.clip(index + 1, 0, n + 1)].astype(np.float64)

    rows[:, col[f"q_{q.qtype}"]] = 1.0
    for name in ("asks_number", "asks_date", "asks_place", "asks_person"):
        rows[:, col[name]] = getattr(q, name)
    matched = set().union(*[s & q.stems for s in stems])
    rows[:, col["q_coverage"]] = len(matched) / len(q.stems) if q.stems else 0.0

    n_words = inside("word")
    n_content = inside("content")
    rows[:, col["starts_number"]] = arr["number"][first]
    rows[:, col["has_number"]] = inside("number") > 0
    rows[:, col["is_date"]] = inside("date") > 0
    rows[:, col["has_month"]] = inside("month") > 0
    rows[:, col["has_year"]] = inside("year") > 0
    rows[:, col["money"]] = inside("money") > 0
    rows[:, col["percent"]] = inside("percent") > 0
    rows[:, col["unit"]] = window("unit", first + 1, last + 1) > 0
    rows[:, col["all_cap"]] = (n_content > 0) & (inside("content_cap") == n_content)
    first_word = np.array([next((k for k in range(lo, hi + 1) if arr["word"][k]), lo)
                           for lo, hi in zip(first, last, strict=True)])
    rows[:, col["first_cap"]] = arr["upper"][first_word]
    rows[:, col["any_cap"]] = inside("content_cap") > 0
    rows[:, col["all_lower"]] = inside("lower") == (last - first + 1)
    rows[:, col["has_comma"]] = inside("comma") > 0
    rows[:, col["has_and"]] = inside("and") > 0
    rows[:, col["has_of"]] = inside("of") > 0
    opener = np.array([w in _OPENERS for w in words] + [False])
    quote = np.array([w in "\"“‘'" for w in words] + [False])
    rows[:, col["quoted"]] = opener[first] | quote[first - 1] * (first > 0)
    rows[:, col["starts_function"]] = [words[f].lower() in _STARTS for f in first]
    rows[:, col["n_words"]] = n_words
    rows[:, col["n_chars"]] = np.log1p([len(s.text) for s in spans])
    stemmed, hit = inside("stemmed"), inside("hit")
    rows[:, col["in_question"]] = np.where(stemmed > 0, hit / np.maximum(stemmed, 1), 0.0)
    rows[:, col["any_in_question"]] = hit > 0
    rows[:, col["all_in_question"]] = (stemmed > 0) & (hit == stemmed)
    for k in (1, 3, 6):
        rows[:, col[f"left{k}"]] = window("hit", first - k, first)
        rows[:, col[f"right{k}"]] = window("hit", last + 1, last + 1 + k)
    anchors = np.flatnonzero(arr["hit"])
    if len(anchors):
        before = np.searchsorted(anchors, first) - 1  # the last anchor < first
        after = np.searchsorted(anchors, last, side="right")  # the first anchor > last
        dist_left = np.where(before >= 0, first - anchors[np.clip(before, 0, None)], 40)
        dist_right = np.where(after < len(anchors),
                              anchors[np.clip(after, None, len(anchors) - 1)] - last, 40)
    else:
        dist_left = dist_right = np.full(len(spans), 40)
    rows[:, col["dist_left"]] = dist_left
    rows[:, col["dist_right"]] = dist_right
    rows[:, col["dist"]] = np.minimum(dist_left, dist_right)
    prev, nxt = first - 1, last + 1
    rows[:, col["before_start"]] = first == 0
    rows[:, col["before_punct"]] = (first > 0) & (at("word", prev) == 0)
    rows[:, col["before_function"]] = at("function", prev)
    rows[:, col["before_cap"]] = at("upper", prev) * (1 - at("function", prev))
    rows[:, col["before_number"]] = at("number", prev)
    stop = np.array([w in _STOP for w in words])
    rows[:, col["after_end"]] = (nxt >= n) | stop[np.clip(nxt, 0, n - 1)]
    rows[:, col["after_punct"]] = (nxt < n) & (at("word", nxt) == 0)
    rows[:, col["after_function"]] = at("function", nxt)
    rows[:, col["after_cap"]] = at("upper", nxt) * (1 - at("function", nxt))
    rows[:, col["after_number"]] = at("number", nxt)
    lowered = [w.lower() for w in words] + [""]
    b = [lowered[p] if p >= 0 else "" for p in prev]
    a = [lowered[p] if p < n else "" for p in nxt]
    for name, options in (("before_det", ("the", "a", "an")),
                          ("before_prep", ("in", "on", "at", "from", "near", "into", "within")),
                          ("before_of", ("of",)), ("before_by", ("by",)), ("before_to", ("to",)),
                          ("before_as", ("as", "called", "named", "known")),
                          ("before_and", ("and", "or")), ("before_comma", (",",))):
        rows[:, col[name]] = [w in options for w in b]
    for name, options in (("after_of", ("of",)), ("after_comma", (",",)), ("after_and", ("and", "or")),
                          ("after_paren", ("(",)), ("after_possessive", ("'s", "’s", "'", "’"))):
        rows[:, col[name]] = [w in options for w in a]
    rows[:, col["counted_after"]] = window("counted", last + 1, last + 4) > 0
    rows[:, col["focus_inside"]] = inside("focus") > 0
    rows[:, col["focus_near"]] = (window("focus", first - 3, first) + window("focus", last + 1, last + 4)) > 0
    rows[:, col["position"]] = [s.start / max(1, len(sentence)) for s in spans]
    # Runs of content words between function words and punctuation: a whole run is a natural phrase.
    run_id = np.cumsum(~content)
    whole = (content[first] & content[last] & (run_id[first] == run_id[last])
             & ((first == 0) | ~content[np.clip(first - 1, 0, None)])
             & ((last + 1 >= n) | ~content[np.clip(last + 1, None, n - 1)]))
    rows[:, col["full_run"]] = whole
    # Compared with the sentence's other candidates: one row alone cannot say "the closest".
    near = rows[:, col["left3"]] + rows[:, col["right3"]]
    rows[:, col["near_rel"]] = near / max(1.0, float(near.max()))
    rows[:, col["dist_rel"]] = rows[:, col["dist"]] - rows[:, col["dist"]].min()
    rows[:, col["words_rel"]] = n_words / max(1.0, float(n_words.max()))
    rows[:, col["pre_left"]] = window("pre", first - 6, first)
    rows[:, col["pre_right"]] = window("pre", last + 1, last + 7)
    rows[:, col["post_left"]] = window("post", first - 6, first)
    rows[:, col["post_right"]] = window("post", last + 1, last + 7)
    number = rows[:, col["has_number"]] > 0
    date = (rows[:, col["is_date"]] > 0) | (rows[:, col["has_year"]] > 0)
    named = (rows[:, col["all_cap"]] > 0) & ~number
    rows[:, col["type_match"]] = ((q.asks_number & number) | (q.asks_date & date)
                                  | ((q.asks_place | q.asks_person) & named))
    rows[:, col["type_clash"]] = (((q.asks_place | q.asks_person) & number & ~date)
                                  | ((q.asks_number | q.asks_date) & ~number & ~date))
    rows[~ok] = 0.0
    return rows


def with_reader(rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``rows`` with the ``READER_FEATURES`` columns filled from the reader's candidate scores:
    its softmax over the sentence's candidates, the gap to the best score, and whether it is
    the best."""
    rows = rows.copy()
    if not len(scores):
        return rows
    col = {name: k for k, name in enumerate(SPAN_FEATURES)}
    gap = scores - scores.max()
    prob = np.exp(gap) / np.exp(gap).sum()
    rows[:, col["reader_prob"]] = prob
    rows[:, col["reader_gap"]] = gap
    rows[:, col["reader_top"]] = np.arange(len(scores)) == int(np.argmax(scores))
    return rows


@dataclass(frozen=True)
class SpanModel:
    """Gradient-boosted trees over ``SPAN_FEATURES`` (scikit-learn's HistGradientBoosting,
    exported): raw score = ``baseline`` + the leaf value each tree reaches; a row goes left at a
    node when ``row[feature] <= threshold``."""

    version: str
    features: tuple[str, ...]
    baseline: float
    trees: tuple[dict[str, np.ndarray], ...]
    min_probability: float
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        # All trees as one flat node table (a leaf points to itself), so every row walks every
        # tree at once: ``depth`` rounds of array indexing instead of a Python loop per tree.
        sizes = [len(t["leaf"]) for t in self.trees]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes \
            else np.zeros(0, np.int64)
        parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("feature", "threshold", "left", "right", "value")}
        depth = 0
        for tree, offset in zip(self.trees, offsets, strict=True):
            own = np.arange(len(tree["leaf"])) + offset
            leaf = tree["leaf"]
            parts["feature"].append(np.where(leaf, 0, tree["feature"]))
            parts["threshold"].append(np.where(leaf, 0.0, tree["threshold"]))
            parts["left"].append(np.where(leaf, own, tree["left"] + offset))
            parts["right"].append(np.where(leaf, own, tree["right"] + offset))
            parts["value"].append(np.where(leaf, tree["value"], 0.0))
            depth = max(depth, _depth(tree))
        flat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
        index = {f: i for i, f in enumerate(SPAN_FEATURES)}
        object.__setattr__(self, "_flat", (flat, offsets, depth, [index[f] for f in self.features]))

    def logit(self, rows: np.ndarray) -> np.ndarray:
        flat, roots, depth, columns = self._flat  # type: ignore[attr-defined]
        x = rows[:, columns]
        node = np.broadcast_to(roots, (len(x), len(roots))).copy()
        at = np.arange(len(x))[:, None]
        for _ in range(depth):
            left = x[at, flat["feature"][node]] <= flat["threshold"][node]
            node = np.where(left, flat["left"][node], flat["right"][node])
        return np.asarray(self.baseline + flat["value"][node].sum(axis=1))

    def proba(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-self.logit(rows))))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpanModel:
        features = tuple(data["features"])
        unknown = set(features) - set(SPAN_FEATURES)
        if unknown:
            raise ValueError(f"features this code does not compute: {sorted(unknown)}")
        trees = tuple({
            "feature": np.asarray(t["feature"], dtype=np.int64),
            "threshold": np.asarray(t["threshold"], dtype=np.float64),
            "left": np.asarray(t["left"], dtype=np.int64),
            "right": np.asarray(t["right"], dtype=np.int64),
            "value": np.asarray(t["value"], dtype=np.float64),
            "leaf": np.asarray(t["leaf"], dtype=bool),
        } for t in data["trees"])
        return cls(str(data["version"]), features, float(data["baseline"]), trees,
                   float(data["min_probability"]), dict(data.get("meta", {})))

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "features": list(self.features),
                "baseline": round(self.baseline, 6), "min_probability": round(self.min_probability, 6),
                "meta": self.meta,
                "trees": [{"feature": t["feature"].tolist(),
                           "threshold": [float(v) for v in t["threshold"]],
                           "left": t["left"].tolist(), "right": t["right"].tolist(),
                           "value": [round(float(v), 8) for v in t["value"]],
                           "leaf": [int(v) for v in t["leaf"]]} for t in self.trees]}

    @classmethod
    def load(cls, path: str | Path | None = None) -> SpanModel:
        """The shipped weights (``qa/answer/spans-v2.json``), or those at ``path``."""
        return load_weights(cls.from_dict, WEIGHTS_FILE, path, "short-answer model", "bench.train_spans")


def _depth(tree: dict[str, np.ndarray]) -> int:
    """Edges on the longest path from the root to a leaf."""
    deepest, stack = 0, [(0, 0)]
    while stack:
        node, d = stack.pop()
        if tree["leaf"][node]:
            deepest = max(deepest, d)
        else:
            stack += [(int(tree["left"][node]), d + 1), (int(tree["right"][node]), d + 1)]
    return deepest


@lru_cache(maxsize=1)
def default_model() -> SpanModel:
    return SpanModel.load()


@lru_cache(maxsize=1)
def default_reader_model() -> SpanModel:
    """The trees that also read the reader's scores (``spans-v3.json``)."""
    return load_weights(SpanModel.from_dict, READER_WEIGHTS_FILE, None, "short-answer model",
                        "bench.train_reader")


class Reader(Protocol):
    """The learned reader (``qa.answer.reader.OnnxReader``): a score per candidate phrase."""

    def scores(self, question: str, sentence: str, spans: Sequence[tuple[int, int]]) -> np.ndarray: ...


def wants_phrase(question: str) -> bool:
    """A factoid question whose answer is one phrase (a list's answer is the whole sentence)."""
    return is_factoid(question) and expected_type(question) != "list"


def pick(
    question: str, sentence: str, model: SpanModel | None = None, *, reader: Reader | None = None,
    min_probability: float | None = None,
) -> ScoredSpan | None:
    """The phrase of ``sentence`` that best answers ``question``, or None when no candidate reaches
    ``min_probability`` (the model's own fitted floor unless given). With a ``reader`` its scores
    fill ``READER_FEATURES`` and the default model is the one fitted with them (spans-v3)."""
    spans = candidates(sentence)
    if not spans:
        return None
    rows = span_rows(question, sentence, spans)
    if reader is not None:
        model = model or default_reader_model()
        rows = with_reader(rows, reader.scores(question, sentence, [(s.start, s.end) for s in spans]))
    model = model or default_model()
    probs = model.proba(rows)
    best = _figure_of_its_clause(question, sentence, spans, probs, int(np.argmax(probs)))
    floor = model.min_probability if min_probability is None else min_probability
    if probs[best] < floor:
        return None
    return ScoredSpan(spans[best], float(probs[best]))


def _figure_of_its_clause(
    question: str, sentence: str, spans: Sequence[SpanCandidate], probs: np.ndarray, best: int
) -> int:
    """For a "how many" / "how much" / "what percentage" question answered by a figure whose
    clause holds none of the question's words: the likeliest figure of the same kind (count,
    money, percent) whose clause holds the most of them, when one does ("62 are in intensive
    care", not "About 400 have been hospitalized", for "How many people are in intensive care?").
    Never a year, a date, a time or a figure the question itself gives. The trees read question
    words near a phrase, but the reader's score can outweigh them."""
    asked = asked_figure(question)
    kind = figure_kind(spans[best].text)
    if asked is None or kind is None:
        return best
    given = values_in(question)  # "How many companies were registered in 2006?": not 2006
    fit = {i: clause_fit(asked, sentence, s.start, s.end) for i, s in enumerate(spans)
           if figure_kind(s.text) == kind and not values_in(s.text) & given
           and not is_date_or_time(sentence, s.start, s.end)}
    top = max(fit.values(), default=0)
    if fit.get(best, 0) > 0 or top == 0:
        return best
    return max((i for i, f in fit.items() if f == top), key=lambda i: float(probs[i]))
