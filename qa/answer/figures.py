"""Figures a question asks for and figures a sentence gives: the parsing half of
``qa.answer.conflicts``.

``asked_figure`` reads what a question asks ("How many policemen were killed?": a count of
policemen, said of killing; "how much": an amount of money; "what percentage": a percentage) and
``figures_in`` finds the figures of that kind in a sentence, with their values ("Eighteen" -> 18,
"£4.5m" -> 4500000). Words are compared as ``canon`` terms: every word for a death is one, verbs
of getting say nothing, and irregular verb forms are one verb ("rose" is "rise").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from qa.answer.lexical import terms

# Words that may stand between a number and the noun it counts ("12 more policemen").
NOUN_WINDOW_WORDS = 3

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
          "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = {"hundred": 100.0, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12,
           "m": 1e6, "bn": 1e9, "k": 1e3}
_WORD_NUMBER = rf"(?:{'|'.join(_TENS)})(?:[- ](?:{'|'.join(_UNITS[1:10])}))?|{'|'.join(_UNITS)}"
_FIGURE = re.compile(
    rf"(?P<cur>[$£€])?(?:(?P<digits>\d{{1,3}}(?:,\d{{3}})+|\d+(?:\.\d+)?)|\b(?P<words>{_WORD_NUMBER})\b)"
    r"(?:[ -]?(?P<scale>hundred|thousand|million|billion|trillion|bn|m|k)\b)?"
    r"(?P<pct>%| ?per ?cent\b)?"
    r"(?: (?P<curword>dollars|pounds|euros|yen|yuan|rupees|roubles|rubles|francs|tenge))?",
    re.IGNORECASE)
_COUNTED = re.compile(r"\bhow many ([a-z]+(?: [a-z]+)?)", re.IGNORECASE)
_MONEY = re.compile(r"\bhow much (?:money|did|does|do|will|would|has|have|had|was|is|are|were|cash"
                    r"|funding|aid)\b|\bwhat (?:was |is )?the (?:cost|price|amount)\b", re.IGNORECASE)
_PERCENT = re.compile(r"\bwhat (?:percentage|percent|proportion|share)\b|\bby how much\b",
                      re.IGNORECASE)
_YEAR = re.compile(r"1[89]\d\d|20\d\d")
_YEAR_BEFORE = re.compile(r"\b(?:in|since|by|of|until|from|to|before|after|during)\s+$", re.IGNORECASE)
# "On January 5 policemen ...": a day of a month, not a count.
_MONTH_BEFORE = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+$", re.IGNORECASE)
# "One of the policemen", "two of the ..." (a part, not the total); "the first", "its 2nd".
_PART_AFTER = re.compile(r"^\s*(?:of|st|nd|rd|th)\b", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[,;:()]|\s[-–—]\s|\b(?:and|but|while|whereas)\b")
_CAPITAL = re.compile(r"(?<!^)\b[A-Z][\w'’-]+")
_CURRENCY = {"$": "$", "dollars": "$", "£": "£", "pounds": "£", "€": "€", "euros": "€"}
# Words for a death, as stems: "killed", "died", "dead" and "the death toll" say the same of a count.
DEATH = "die"
_DEATH_STEMS = frozenset({"die", "kill", "dead", "death", "fatal", "perish", "toll"})
# "How many votes did she get?" is answered by "She received 12,431 votes": neither word is the
# figure's subject, so neither is asked of another report's clause.
_GETTING = frozenset({"get", "got", "receiv", "obtain", "win"})
# "The death toll rose to 18", "a toll of 18": a count of the dead with no counted noun after it.
_TOLL_BEFORE = re.compile(r"\btoll\b(?:\s+\S+){0,12}?\s+(?:to|of|at|reached|is|was|now|stands)\s+$",
                          re.IGNORECASE)
# "The number of dead rose to 27", "bringing the number of arrests to three": a count whose noun
# stands before it.
_NUMBER_OF_BEFORE = re.compile(r"\bnumber of (?:the )?(?P<noun>[a-z]+)\b(?:\s+\S+){0,8}?"
                               r"\s+(?:to|of|at|reached|is|was|now|stands)\s+$", re.IGNORECASE)
# "At least 14 were killed", "2,000 have now been evacuated": a count whose noun is elided (said
# in an earlier sentence), told by the verb after it.
# The verb is after an auxiliary ("were killed") or a past form itself ("14 died"): "six
# libraries" is a noun, not what the question's "libraries" asks.
_VERB_AFTER = re.compile(r"^\s+(?:(?:were|was|are|is|have|has|had|been|being|now|later|since|also|all|"
                         r"reportedly)\s+)+(?P<verb>[a-z]+)|^\s+(?P<past>[a-z]+ed)\b", re.IGNORECASE)
# Irregular forms of the verbs that say how a figure changed, as one word: "prices rose" answers
# "did prices rise", "shares fell" what "have shares fallen" asks. Only these: "paid" as "pay"
# tied a fine the FCC was paid to "How much is Sirius paying Howard Stern?" (a false conflict).
_IRREGULAR = {"rose": "rise", "risen": "rise", "fell": "fall", "fallen": "fall", "grew": "grow",
              "grown": "grow", "won": "win"}
# "How many died", "how many were killed": a count of the dead that names no counted noun.
_AUXILIARY = frozenset({"were", "was", "have", "has", "had", "are", "is", "did"})
_TOLL_QUESTION = re.compile(r"\b(?:death )?toll\b", re.IGNORECASE)
# The closing phrase of a question, after what it asks: "... died [in the Dunmere floods]".
_SETTING = re.compile(r"\S\s+(?:in|at|from|during|after|near|over|on|since|across|around|throughout|by|when)"
                      r"\b.*$", re.IGNORECASE)


@dataclass(frozen=True)
class Asked:
    """The figure a question asks for: ``kind`` is count, money or percent; ``noun`` the counted
    noun's terms (count only); ``context`` the question's other lower-case terms; ``names`` the
    terms of its capitalised words ("France", "Borussia Dortmund"); ``setting`` the terms of its
    closing phrase ("in the Dunmere floods"), names too, which another report's passage must hold
    but not the figure's own clause or sentence ("At least seven people died" is a count for "How
    many people died in the Dunmere floods?" in a report about the floods)."""

    name: str
    kind: str
    noun: frozenset[str]
    context: frozenset[str]
    names: frozenset[str] = frozenset()
    setting: frozenset[str] = frozenset()


# Nouns of people, which a count leaves out when its verb says who ("At least 14 were killed").
# Not those whose stems are things' too: "villagers" is "villag" as "villages" is, "officers"
# "offic" as "offices".
_PERSONS = frozenset(terms(
    "people person persons residents passengers victims soldiers policemen police civilians "
    "workers staff employees children students patients migrants refugees protesters "
    "demonstrators fans members troops men women miners pilgrims tourists inhabitants crew "
    "casualties hostages prisoners detainees voters players journalists doctors nurses teachers "
    "firefighters rescuers survivors families adults"
))


def canon(words: Iterable[str]) -> frozenset[str]:
    """Stemmed terms with every word for a death as one (``DEATH``): "killed" asks what "died"
    and "the death toll" answer; verbs of getting ("get", "receive") say nothing of a figure."""
    words = (_IRREGULAR.get(w, w) for w in words)
    return frozenset(DEATH if w in _DEATH_STEMS else w for w in words if w not in _GETTING)


def _split(question: str, start: int) -> tuple[str, frozenset[str]]:
    """The question without its closing phrase (what it asks, said after ``start``), and that
    phrase's lower-case terms: "died", {"flood"} of "How many people died in the floods?"."""
    setting = _SETTING.search(question, start)
    if setting is None:
        return question, frozenset()
    return question[:setting.start() + 1], frozenset(terms(question[setting.start() + 1:]))


def _deaths(question: str, start: int, names: frozenset[str]) -> Asked | None:
    """"How many died?", "How many were killed?", "What is the death toll?": the number of the
    dead, whatever noun a report counts them with."""
    asks, setting = _split(question, start)
    context = canon(terms(asks)) - names - {"latest"}
    if DEATH not in context:
        return None
    return Asked("deaths", "count", frozenset(), context, names, setting)


def _elided(question: str, start: int, names: frozenset[str]) -> Asked | None:
    """"How many were evacuated?": a count whose noun the question leaves out, told only by what
    it says of it ("evacuated"), which the figure's clause must say too; None when it says
    nothing ("How many are there?")."""
    asks, setting = _split(question, start)
    said = [w for w in re.findall(r"[A-Za-z]+", asks[start:]) if terms(w) and w.lower() not in _AUXILIARY]
    context = canon(terms(asks[start:])) - names
    if not context or not said:
        return None
    return Asked(f"those {said[0].lower()}", "count", frozenset(), context, names, setting)


def names_of(question: str) -> frozenset[str]:
    """The terms of a question's capitalised words after its first ("Dunmere", "Kestrel Air")."""
    return frozenset(t for m in _CAPITAL.finditer(question) for t in terms(m.group(0)))


def setting_of(question: str) -> frozenset[str]:
    """What a follow-up to ``question`` is about: its terms ("peopl", "die", "dunmer", "flood" of
    "How many people died in the Dunmere floods?"). Its words, not only its names: "And how much
    would that save?" after "How many quangos do the Tories want to abolish?" is about quangos,
    not every saving the Tories promise."""
    return frozenset(terms(question))


def asked_figure(question: str) -> Asked | None:
    """What figure ``question`` asks for, or None when it asks for none."""
    names = names_of(question)
    if match := _COUNTED.search(question):
        word = match.group(1).split()[0].lower()
        noun = frozenset(terms(word))
        if word in _AUXILIARY or canon(noun) == {DEATH}:
            return _deaths(question, match.start(1), names) or _elided(question, match.start(1), names)
        if not noun:
            return None
        # Everything but the noun: "died" of "How many people died in ..." is context too.
        after = match.start(1) + len(word)
        asks, setting = _split(question, after)
        context = canon(terms(asks[after:] + " " + asks[:match.start()])) - noun - names
        return Asked(word, "count", noun, context, names - noun, setting - noun)
    if _TOLL_QUESTION.search(question) and re.search(r"\b(?:what|how)\b", question, re.IGNORECASE):
        return _deaths(question, 0, names)
    for kind, name, pattern in (("percent", "percentage", _PERCENT), ("money", "amount", _MONEY)):
        if match := pattern.search(question):
            asks, setting = _split(question, match.end())
            context = canon(terms(asks)) - names - {"much", "money", "percentag", "percent"}
            return Asked(name, kind, frozenset(), context, names, setting)
    return None


def parse_value(match: re.Match[str]) -> float | None:
    """``"1,200"`` -> 1200, ``"Eighteen"`` -> 18, ``"$3.5m"`` -> 3500000; None if not a number."""
    if match.group("digits"):
        try:
            value = float(match.group("digits").replace(",", ""))
        except ValueError:
            return None
    else:
        value = 0.0
        for word in re.split(r"[- ]", match.group("words").lower()):
            value += float(_TENS.index(word) * 10 + 20) if word in _TENS else float(_UNITS.index(word))
    scale = (match.group("scale") or "").lower()
    return value * _SCALES.get(scale, 1.0)


_ABOUT = re.compile(r"(?:about|around|almost|nearly|some|over|under|more than|fewer than|less than|"
                    r"at least|up to|roughly|approximately)\s+", re.IGNORECASE)


def figure_kind(text: str) -> str | None:
    """"count", "money" or "percent" when ``text`` is one figure and nothing else ("62", "About
    400", "$4.5m", "17%"); else None."""
    rest = text[m.end():] if (m := _ABOUT.match(text)) else text
    match = _FIGURE.fullmatch(rest)
    if match is None:
        return None
    unit = _unit(match)
    return "percent" if unit == "%" else "money" if unit else "count"


def values_in(text: str) -> frozenset[float]:
    """Every figure's value in ``text``, of any kind ("Twelve", "1,200", "$3.5m", "40%")."""
    found = (parse_value(match) for match in _FIGURE.finditer(text))
    return frozenset(v for v in found if v is not None)


def _unit(match: re.Match[str]) -> str:
    if match.group("pct"):
        return "%"
    mark = match.group("cur") or (match.group("curword") or "").lower()
    return _CURRENCY.get(mark, mark)


def figures_in(sentence: str, asked: Asked) -> list[tuple[int, int, float, str]]:
    """Figures of the asked kind in ``sentence``: (start, end, value, unit), in order."""
    out = []
    for match in _FIGURE.finditer(sentence):
        value = parse_value(match)
        if value is None:
            continue
        unit = _unit(match)
        if _YEAR.fullmatch(match.group(0)) and _YEAR_BEFORE.search(sentence[: match.start()]):
            continue  # "in 2004 people voted": a year, not a count of people
        if _MONTH_BEFORE.search(sentence[: match.start()]) or _PART_AFTER.match(sentence[match.end():]):
            continue  # "January 5 policemen", "One of the policemen": not the count asked
        if asked.kind == "count":
            if unit:
                continue
            if asked.noun and not _counts(sentence, match, asked):
                continue
        elif unit != "%" if asked.kind == "percent" else unit in ("", "%"):
            continue
        start, end = match.start(), match.end()
        while end > start and sentence[end - 1] == " ":
            end -= 1
        out.append((start, end, value, unit))
    return out


def _counts(sentence: str, match: re.Match[str], asked: Asked) -> bool:
    """Does the figure count what is asked? The noun asked after it ("18 policemen"); a death
    toll's figure for a question about deaths ("the death toll rose to 18", "the number of dead
    rose to 27" for "How many people died?"); the number of the noun asked ("the number of
    arrests to three"); or, its noun elided, the question's own verb after it ("At least 14 were
    killed" for "How many people were killed?", not "60 were injured")."""
    after = " ".join(sentence[match.end():].split()[:NOUN_WINDOW_WORDS])
    if asked.noun & set(terms(after)):
        return True
    before = sentence[clause_start(sentence, match.start()):match.start()]
    deaths = DEATH in asked.context
    if deaths and _TOLL_BEFORE.search(before):
        return True
    if (number_of := _NUMBER_OF_BEFORE.search(before)) is not None:
        noun = canon(terms(number_of.group("noun")))
        # "the number of arrests" counts "How many people were arrested?" too.
        if noun and (noun <= canon(asked.noun) | asked.context or (deaths and noun == {DEATH})):
            return True
    if not asked.noun & _PERSONS:
        # "230 were evacuated" counts people: not the villages of "How many villages were
        # evacuated?". A noun left out before a verb is one of people.
        return False
    verb = _VERB_AFTER.match(sentence[match.end():])
    said = canon(terms(verb.group("verb") or verb.group("past"))) if verb else frozenset()
    return bool(said) and said <= asked.context


def clause_start(sentence: str, start: int) -> int:
    """Where the clause holding ``sentence[start]`` begins (see ``clause``)."""
    return max((m.end() for m in _CLAUSE_BREAK.finditer(sentence) if m.end() <= start), default=0)


def clause(sentence: str, start: int, end: int) -> str:
    """The clause of ``sentence`` holding ``sentence[start:end]``: between commas, semicolons,
    colons, dashes or "and"/"but"/"while" ("40 policemen were injured" of "40 policemen were
    injured and 3 soldiers were killed")."""
    cuts = [(m.start(), m.end()) for m in _CLAUSE_BREAK.finditer(sentence)]
    lo = max((b for a, b in cuts if b <= start), default=0)
    hi = min((a for a, b in cuts if a >= end), default=len(sentence))
    return sentence[lo:hi]


_MONTH_AFTER = re.compile(
    r"^\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b", re.IGNORECASE)
_TIME_AFTER = re.compile(r"^(?::\d\d|\s*(?:am|pm|a\.m\.|p\.m\.|o'clock|gmt|bst|utc)\b)", re.IGNORECASE)


def is_date_or_time(sentence: str, start: int, end: int) -> bool:
    """Is the figure at ``sentence[start:end]`` a year, a day of a month, a time or an ordinal
    rather than an amount ("in 2019", "on March 3", "12 May", "at 9 pm", "2nd")?"""
    text, before, after = sentence[start:end], sentence[:start], sentence[end:]
    digits = text.split()[-1] if text.split() else text
    return bool(_YEAR.fullmatch(digits) or _MONTH_BEFORE.search(before) or _MONTH_AFTER.match(after)
                or _TIME_AFTER.match(after) or _PART_AFTER.match(after))


def clause_fit(asked: Asked, sentence: str, start: int, end: int) -> int:
    """How much of what ``asked`` asks the clause holding ``sentence[start:end]`` says: 2 for
    each term of the question's verb and closing phrase ("are in intensive care"), 1 for each of
    its counted noun, which a second clause often leaves out ("12 policemen were killed and 353
    injured")."""
    said = canon(terms(clause(sentence, start, end)))
    return 2 * len(said & canon(asked.context | asked.setting)) + len(said & canon(asked.noun))
