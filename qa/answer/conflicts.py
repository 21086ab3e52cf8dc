"""Conflicting figures: different stories giving different numbers for what the question asks.

"How many policemen were killed?" may be answered 12 by one report and 18 by a later one. Instead
of silently picking one, the answer says so and cites each figure, newest article first:
``Reports differ on the number of policemen: 18 (2026-01-07) [1]; 12 (2026-01-05) [2].``

Only figures of the asked kind count: for "how many X" a number right before X (within three
words: "Eighteen police officers" does not count for "policemen", "Eighteen policemen" does);
for "how much" an amount of money; for "what percentage" a percentage. A question about deaths
("killed", "died", "the death toll": one ask) also takes a figure a toll gives with no noun after
it ("The death toll rose to 18"), and "How many died?" takes any count of the dead. The figure's
clause must also say what the answer's own sentence says of the question ("killed", not "injured"): each
question term the answer sentence holds must be in the clause, so "40 policemen were injured and 3
soldiers were killed" gives no figure for "How many policemen were killed?", and each name of
the question the answer sentence holds must be in the sentence ("copies in France" is not
"copies worldwide"; Borussia Dortmund's shares are not EMI's), except the question's closing
phrase ("in the Dunmere floods"): that is the setting, which the other report's passage must hold.
The answer sentence's own figure is held to the same. A follow-up question, or one with
nothing to tie a figure to it, never claims a disagreement. Passages arrive with
wire copies collapsed (``qa.answer.groups``), so two articles here are two stories; reports that
agree (the same value) are not a conflict and change nothing.

Two steps around ``finalize``: ``revise`` (before) makes each differing figure's sentence the
draft, newest first (at most ``MAX_SENTENCES``); ``attach`` (after) verifies each figure span
against the article text (``article_text[start:end] == figure``) and inside a shown citation,
and only then writes ``Answer.conflicts`` and the "Reports differ" lead. A generative answer
(``qa.llm``) keeps its own sentences: ``revise`` leaves its draft as it is, and ``attach`` lists
only the differing figures that its own verified citations show (each claim's quote is the
passage sentence that supports it), so it gets the lead when the model itself cited two reports
that differ, and nothing is added to what it said.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from index.sentences import sentence_spans_in
from qa.answer.citations import is_verbatim
from qa.answer.composer import ComposeRequest, Draft, Quote, Segment
from qa.answer.lexical import terms
from qa.models import Answer, Citation, Conflict, Passage, ReportedFigure

# At most this many sentences in an answer that reports differing figures.
MAX_SENTENCES = 4
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
_GETTING = frozenset({"get", "got", "receiv", "obtain"})
# "The death toll rose to 18", "a toll of 18": a count of the dead with no counted noun after it.
_TOLL_BEFORE = re.compile(r"\btoll\b(?:\s+\S+){0,12}?\s+(?:to|of|at|reached|is|was|now|stands)\s+$",
                          re.IGNORECASE)
# "How many died", "how many were killed": a count of the dead that names no counted noun.
_AUXILIARY = frozenset({"were", "was", "have", "has", "had", "are", "is", "did"})
_TOLL_QUESTION = re.compile(r"\b(?:death )?toll\b", re.IGNORECASE)
# The closing phrase of a question, after what it asks: "... died [in the Dunmere floods]".
_SETTING = re.compile(r"\S\s+(?:in|at|from|during|after|near|over|on|since|across|around|throughout|by)"
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


@dataclass(frozen=True)
class Found:
    """A figure of the asked kind in one sentence of a passage (article offsets)."""

    figure: Quote
    sentence: Quote
    value: float
    unit: str
    published: str | None


@dataclass(frozen=True)
class Disagreement:
    """One figure per differing value, newest first; ``also[article]`` the other articles that
    give the same value as ``article``'s."""

    asked: Asked
    found: tuple[Found, ...]
    also: Mapping[str, tuple[str, ...]]


def canon(words: Iterable[str]) -> frozenset[str]:
    """Stemmed terms with every word for a death as one (``DEATH``): "killed" asks what "died"
    and "the death toll" answer; verbs of getting ("get", "receive") say nothing of a figure."""
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


def asked_figure(question: str) -> Asked | None:
    """What figure ``question`` asks for, or None when it asks for none."""
    names = frozenset(t for m in _CAPITAL.finditer(question) for t in terms(m.group(0)))
    if match := _COUNTED.search(question):
        word = match.group(1).split()[0].lower()
        noun = frozenset(terms(word))
        if word in _AUXILIARY or canon(noun) == {DEATH}:
            return _deaths(question, match.start(1), names)
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
            after = " ".join(sentence[match.end():].split()[:NOUN_WINDOW_WORDS])
            # No noun asked (the dead), the noun asked after it, or a death toll's figure for a
            # question about deaths ("the death toll rose to 18" for "How many people died?").
            if asked.noun and not asked.noun & set(terms(after)) and not (
                    DEATH in asked.context and _TOLL_BEFORE.search(
                        sentence[clause_start(sentence, match.start()):match.start()])):
                continue
        elif unit != "%" if asked.kind == "percent" else unit in ("", "%"):
            continue
        start, end = match.start(), match.end()
        while end > start and sentence[end - 1] == " ":
            end -= 1
        out.append((start, end, value, unit))
    return out


def _sentences(passage: Passage) -> list[tuple[int, int, str]]:
    return [(passage.start + a, passage.start + b, passage.text[a:b])
            for a, b in sentence_spans_in(passage.text, 0, len(passage.text))]


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


def _found(passage: Passage, start: int, sentence: str, asked: Asked, *,
           near: tuple[int, int] | None = None, context: frozenset[str] = frozenset(),
           names: frozenset[str] = frozenset()) -> Found | None:
    """The sentence's figure of the asked kind (the one overlapping ``near`` when given; only one
    whose clause holds every ``context`` term, in a sentence that holds every ``names`` term)."""
    if not names <= set(terms(sentence)):
        return None
    figures = [f for f in figures_in(sentence, asked)
               if context <= canon(terms(clause(sentence, f[0], f[1])))]
    if near is not None:
        figures = [f for f in figures if start + f[0] < near[1] and near[0] < start + f[1]] or figures
    if not figures:
        return None
    a, b, value, unit = figures[0]
    quote = Quote(passage.article_id, start, start + len(sentence), sentence, passage.rank, 0.0)
    figure = Quote(passage.article_id, start + a, start + b, sentence[a:b], passage.rank, 0.0)
    return Found(figure, quote, value, unit, passage.published)


def _lead(request: ComposeRequest, draft: Draft, asked: Asked) -> tuple[Found, frozenset[str]] | None:
    """The figure of the answer's own (first) sentence, and what that sentence says of the
    question (the question's terms it holds: "killed", not "injured"), which the figure's own
    clause must say too: "At least seven people died and dozens were missing" gives no figure
    for "How many people are missing?"."""
    if not draft.answered or not draft.segments or not draft.segments[0].quotes:
        return None
    quote = draft.segments[0].quotes[0]
    passage = next((p for p in request.passages if p.article_id == quote.article_id
                    and p.start <= quote.start and quote.end <= p.end), None)
    if passage is None:
        return None
    context = asked.context & canon(terms(quote.text)) or asked.context
    near = (draft.short.start, draft.short.end) if draft.short else None
    found = _found(passage, quote.start, quote.text, asked, near=near, context=context)
    return (found, context) if found else None


def disagreement(request: ComposeRequest, draft: Draft) -> Disagreement | None:
    """Different figures for what was asked in different articles of the passages, or None.

    Only a question that stands alone: a follow-up ("And by how much was that up?") leans on a
    conversation whose subject its words do not hold, so no other figure can be tied to it."""
    asked = asked_figure(request.question) if request.standalone == request.question else None
    led = _lead(request, draft, asked) if asked else None
    if asked is None or led is None:
        return None
    # What the answer's sentence says of the question (killed, not injured; in France, not
    # worldwide; Borussia Dortmund's shares, not EMI's) the others must say too.
    lead, context = led
    names = (asked.names - asked.setting) & set(terms(lead.sentence.text))
    if not context | names:
        return None  # nothing ties another figure to this question: no claim of disagreement
    # The names the answer's passage holds ("Student Government" around "Its budget is $2
    # million") another report's passage must hold too: Harvard's $1.2 billion is no answer.
    # So must the question's setting ("in the Dunmere floods") as far as that passage holds it.
    topic = (asked.names | asked.setting) & set(terms(" ".join(
        p.text for p in request.passages if p.article_id == lead.sentence.article_id
        and p.start <= lead.sentence.start and lead.sentence.end <= p.end)))
    per_article: dict[str, Found] = {lead.sentence.article_id: lead}
    for passage in request.passages:
        if passage.article_id in per_article or not topic <= set(terms(passage.text)):
            continue
        for start, _end, sentence in _sentences(passage):
            if found := _found(passage, start, sentence, asked, context=context, names=names):
                if found.unit == lead.unit:
                    per_article[passage.article_id] = found
                break
    by_value: dict[float, list[Found]] = {}
    for found in per_article.values():
        by_value.setdefault(found.value, []).append(found)
    if len(by_value) < 2:
        return None
    newest = [max(group, key=lambda f: f.published or "") for group in by_value.values()]
    newest.sort(key=lambda f: (f.published is not None, f.published or ""), reverse=True)
    chosen = tuple(newest[:MAX_SENTENCES])
    also = {f.figure.article_id: tuple(o.figure.article_id for o in by_value[f.value] if o is not f)
            for f in chosen}
    return Disagreement(asked, chosen, also)


def revise(request: ComposeRequest, draft: Draft) -> tuple[Draft, Disagreement | None]:
    """The draft as the disagreement: each differing figure's sentence cited, newest first (the
    composer's other sentences give way: the answer is that reports differ); unchanged when the
    reports agree, and a generative draft always unchanged (its words are the model's: ``attach``
    then keeps the figures its own citations show)."""
    found = disagreement(request, draft) if draft.answered else None
    if found is None or not draft.backend.startswith("extractive"):
        return draft, found
    # A sentence the composer chose keeps its quote (and score); the others are added as found.
    drafted = {(q.article_id, q.start, q.end): q for s in draft.segments for q in s.quotes}
    segments = tuple(Segment(f.sentence.text, (drafted.get(_key(f.sentence), f.sentence),))
                     for f in found.found)
    return replace(draft, segments=segments), found


def attach(answer: Answer, found: Disagreement | None, article_texts: Mapping[str, str]) -> Answer:
    """``Answer.conflicts`` and the "Reports differ" lead, from the figures that pass
    verification: verbatim in their article and inside a shown citation. Fewer than two
    differing verified figures leave the answer as it is."""
    if found is None or not answer.answered:
        return answer
    figures = []
    for f in found.found:
        holder = _holder(f.figure, answer.citations)
        if holder is None or not is_verbatim(f.figure, article_texts):
            continue
        figures.append(ReportedFigure(
            text=f.figure.text, value=f.value, article_id=f.figure.article_id, start=f.figure.start,
            end=f.figure.end, citation=holder.n, published=holder.published, title=holder.title,
            also_reported_by=tuple(found.also.get(f.figure.article_id, ())),
        ))
    if len({f.value for f in figures}) < 2:
        return answer
    conflict = Conflict(asked=found.asked.name, figures=tuple(figures))
    text = answer.text
    if answer.short is not None:
        # The single short answer would pick one figure; the note replaces it as the lead.
        text = text.removeprefix(answer.short.text.rstrip(".") + ".").lstrip()
    # No single short answer either (JSON, API, bold lead): that would be picking one figure.
    return replace(answer, text=f"{conflict_note(conflict)} {text}", conflicts=(conflict,), short=None)


def asked_phrase(conflict: Conflict) -> str:
    """"the number of policemen", "the amount", "the percentage"."""
    if conflict.asked in ("amount", "percentage"):
        return f"the {conflict.asked}"
    return f"the number of {conflict.asked}"


def conflict_note(conflict: Conflict) -> str:
    """``Reports differ on the number of policemen: 18 (2026-01-07) [1]; 12 (2026-01-05) [2].``"""
    parts = [f"{f.text} ({f.published[:10] if f.published else 'date unknown'}) [{f.citation}]"
             for f in conflict.figures]
    return f"Reports differ on {asked_phrase(conflict)}: {'; '.join(parts)}."


def _key(quote: Quote) -> tuple[str, int, int]:
    return quote.article_id, quote.start, quote.end


def _holder(figure: Quote, citations: Sequence[Citation]) -> Citation | None:
    return next((c for c in citations if c.article_id == figure.article_id
                 and c.start <= figure.start and figure.end <= c.end), None)
