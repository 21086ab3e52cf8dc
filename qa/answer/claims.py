"""What a sentence asserts, in parts a support check can compare: words, numbers, negation, links.

A claim is backed by a source sentence when the sentence holds each of the claim's content words
(stemmed; a few paraphrase-neutral words like "said" or "people" excepted), each of its numbers
counting the same thing ("412 passengers drowned" is not "412 passengers were aboard"), and the
same polarity ("not", "never", "refused" ...). ``qa.llm.support`` combines these with embeddings.

Some sentences are never claims, however well they match: those holding a URL or e-mail address,
calls to action ("visit ...", "call ...", "click here") and instructions to an AI ("ignore previous
instructions"). An article that carries them is carrying an attack or an advert, not news.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from qa.answer.lexical import terms

# -- links, calls to action, instructions ----------------------------------------------------------

_TLDS = (
    "com|org|net|io|info|biz|xyz|app|dev|news|online|site|top|me|tv|co|us|uk|de|fr|ru|kz|cn|gov|edu"
    "|example|test|invalid|ly|gl|link|click|shop|store"
)
LINK = re.compile(
    r"\b(?:https?|ftp)://[^\s<>\"]+"
    r"|\bwww\.[^\s<>\"]+"
    r"|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:" + _TLDS + r")\b(?:/[^\s<>\"]*)?",
    re.IGNORECASE,
)
# A link's trailing sentence punctuation is not part of it.
_LINK_TAIL = ".,;:!?)]}'\"”’"

_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.!?\n]{0,40}\b(?:instructions?|prompts?|rules|context)\b"
    r"|\b(?:system|developer) (?:prompt|message|instructions?)\b"
    r"|\byou are (?:now )?(?:an? )?(?:ai|assistant|chatbot|language model|llm)\b"
    r"|\b(?:ai|language model|assistant|chatbot|llm)s?\b[^.!?\n]{0,40}\b(?:must|should|will)\b"
    r"|\b(?:tell|inform|convince) the (?:user|reader)s?\b"
    r"|\b(?:from now on|new instructions?)\b",
    re.IGNORECASE,
)

# Verbs that, opening a sentence, address the reader: "Visit ...", "To report looters, call ...".
_ACTION_VERBS = (
    r"visit|click|tap|call|phone|dial|send|e-?mail|write to|contact|go to|head to|ignore|disregard"
    r"|forget|download|install|sign up|sign in|subscribe|register|log ?in|log on|enter|submit|transfer"
    r"|pay|wire|donate|reply|respond|forward|share|follow us|buy|open|check|claim|join|scan|tell|say"
    r"|pretend|repeat after"
)
_CALL_TO_ACTION = re.compile(
    r"^\W*(?:(?:to|for|if|when|before)\b[^,.!?]{0,80},\s*)?(?:please\s+|now\s+|simply\s+|just\s+)?"
    r"(?:" + _ACTION_VERBS + r")\b"
    r"|\b(?:you|readers?|residents|users|viewers|customers|victims|everyone)\s+(?:can|could|should|must|may"
    r"|need to|are (?:advised|urged|asked|invited|encouraged) to)\s+(?:now\s+)?(?:" + _ACTION_VERBS + r")\b"
    r"|\b(?:click here|call now|act now|limited time|for (?:a|your) refund)\b",
    re.IGNORECASE,
)


def links_in(text: str) -> list[tuple[int, int]]:
    """Spans of the URLs, web addresses and e-mail addresses in ``text``."""
    spans = []
    for match in LINK.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _LINK_TAIL:
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def looks_like_instruction(sentence: str) -> bool:
    """Text addressed to the model rather than the reader (a prompt injection in an article)."""
    return bool(_INSTRUCTION.search(sentence))


def is_call_to_action(sentence: str) -> bool:
    """A sentence telling the reader to do something ("Visit ...", "Residents should call ...")."""
    return bool(_CALL_TO_ACTION.search(sentence))


def never_a_claim(sentence: str) -> str | None:
    """Why ``sentence`` may never be presented as a supported claim, or None."""
    if links_in(sentence):
        return "holds a link or e-mail address"
    if looks_like_instruction(sentence):
        return "reads as an instruction to an AI"
    if is_call_to_action(sentence):
        return "is a call to action"
    return None


def defang(text: str) -> str:
    """``text`` with every link made unclickable for terminals and mail clients ("hxxp://a[.]b")."""
    out, last = [], 0
    for start, end in links_in(text):
        link = text[start:end].replace("http", "hxxp", 1).replace(".", "[.]").replace("@", "[at]")
        out += [text[last:start], link]
        last = end
    return "".join(out) + text[last:]


# -- words, numbers, polarity ------------------------------------------------------------------------

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W_](?:[\w'’-]*[^\W_])?")
# Clause breaks; a comma between digits ("1,000") is not one.
_CLAUSE_SPLIT = re.compile(r"((?<!\d),|,(?!\d)|[;:()\"“”–—]|\s-\s)")
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
_SMALL = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
]
_TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_WORD_VALUES: dict[str, float] = {**{w: i for i, w in enumerate(_SMALL)}, **_TENS, **_SCALES}
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
# A number's binding stops at a clause boundary: "Twelve policemen killed and 353 injured".
_CLAUSE_END = frozenset({"and", "or", "but", "while", "whereas", "including"})
# Polarity words: the first group is only polarity (not a content word), the second also a verb.
_NEGATIONS = frozenset(
    {"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "cannot", "without"}
)
_NEGATORS = _NEGATIONS | {"avoid", "refuse", "refused", "fail", "failed", "deny", "denied", "lack"}
# Words that assert nothing a source must repeat: attribution verbs, hedges, "people" after a count,
# light verbs and particles of phrasal verbs ("took back control", "carried out", "take part").
NEUTRAL_STEMS = frozenset(terms(
    "said say says saying told tell reported report reports according stated states also already "
    "people persons around approximately nearly some total currently ongoing "
    "take took taken taking make made making carry carried get got give gave put keep kept back "
    "besides apart along among news"
))
# Counted words under this many characters must match exactly; longer ones may match a longer form
# ("polic" of police / "policemen", "kazakh" / "kazakhstan", "russia" / "russian").
_PREFIX_MIN = 5
# How many content words after a number say what it counts.
_COUNTED_WINDOW = 4


@dataclass(frozen=True)
class Word:
    """A content word: as written, and its stem."""

    text: str
    stem: str

    @property
    def is_name(self) -> bool:
        return self.text[:1].isupper()


@dataclass(frozen=True)
class Number:
    """A number and the content words after it (what it counts, its unit) and the one before."""

    value: float
    after: tuple[str, ...]
    before: str | None


@dataclass(frozen=True)
class Assertion:
    """The parts of a sentence a support check compares."""

    words: tuple[Word, ...]
    numbers: tuple[Number, ...]
    negated: bool
    # The first content word is the sentence's first word (capitalized whatever it is).
    opening: bool = False


@lru_cache(maxsize=65536)
def _stem(token: str) -> str | None:
    found = terms(token)
    return found[0] if found else None


def _number_value(token: str) -> float | None:
    lower = token.lower()
    if lower in _WORD_VALUES:
        return _WORD_VALUES[lower]
    if _DIGITS.fullmatch(token):
        try:
            return float(token.replace(",", ""))
        except ValueError:
            return None
    return None


@lru_cache(maxsize=16384)
def assertion_of(sentence: str) -> Assertion:
    """Content words, numbers with what they count, and polarity of ``sentence``."""
    # Tokens with the clause breaks kept as ``None``, so a number binds only within its clause.
    tokens: list[str | None] = []
    for piece in _CLAUSE_SPLIT.split(sentence):
        if piece and _CLAUSE_SPLIT.fullmatch(piece):
            tokens.append(None)
        else:
            # A possessive is the name: "Kazakhstan's" -> "Kazakhstan".
            tokens += [_POSSESSIVE.sub("", t) for t in _WORD.findall(piece or "")]
    words: list[Word] = []
    numbers: list[Number] = []
    negated = "n't" in sentence.lower() or "n’t" in sentence.lower()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token is None:
            i += 1
            continue
        lower = token.lower()
        negated = negated or lower in _NEGATORS
        value = _number_value(token)
        if value is not None and not (lower == "one" and _next(tokens, i) == "of"):
            # "5 million", "a thousand": a scale word right after a number multiplies it.
            nxt = _next(tokens, i)
            if nxt in _SCALES and value not in _SCALES.values():
                value *= _SCALES[nxt]
                i += 1
            numbers.append(Number(value, _counted(tokens, i + 1), _previous(words)))
        elif lower not in _CLAUSE_END and lower not in _NEGATIONS and (stem := _stem(token)) is not None:
            words.append(Word(token, stem))
        i += 1
    first = next((t for t in tokens if t is not None), None)
    return Assertion(tuple(words), tuple(numbers), negated, opening=bool(words) and words[0].text == first)


def _next(tokens: list[str | None], i: int) -> str | None:
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    return nxt.lower() if nxt else None


def _previous(words: list[Word]) -> str | None:
    return words[-1].stem if words else None


def _counted(tokens: list[str | None], start: int) -> tuple[str, ...]:
    out: list[str] = []
    for token in tokens[start:]:
        if token is None or token.lower() in _CLAUSE_END or _number_value(token) is not None:
            break
        stem = _stem(token)
        if stem is not None and stem not in NEUTRAL_STEMS:
            out.append(stem)
            if len(out) == _COUNTED_WINDOW:
                break
    return tuple(out)


def stems_match(a: str, b: str) -> bool:
    """Same stem, or one a longer form of the other ("polic" / "policemen")."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return len(short) >= _PREFIX_MIN and long.startswith(short)


def numbers_agree(claim: Number, source: Number) -> bool:
    """Same value, counting the same thing: the first word either counts is among the other's."""
    if claim.value != source.value:
        return False
    if not claim.after or not source.after:
        # Nothing after ("on January 19", "in 2022"): the word before must agree instead.
        return (claim.before is None or source.before is None
                or stems_match(claim.before, source.before)
                or any(stems_match(claim.before, w) for w in source.after))
    return (any(stems_match(claim.after[0], w) for w in source.after)
            or any(stems_match(source.after[0], w) for w in claim.after))
