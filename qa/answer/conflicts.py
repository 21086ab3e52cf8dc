"""Conflicting figures: different stories giving different numbers for what the question asks.

"How many policemen were killed?" may be answered 12 by one report and 18 by a later one. Instead
of silently picking one, the answer says so and cites each figure, newest article first:
``Reports differ on the number of policemen: 18 (2026-01-07) [1]; 12 (2026-01-05) [2].``

Only figures of the asked kind count: for "how many X" a number right before X (within three
words: "Eighteen police officers" does not count for "policemen", "Eighteen policemen" does);
for "how much" an amount of money; for "what percentage" a percentage. A question about deaths
("killed", "died", "the death toll": one ask) also takes a figure a toll gives with no noun after
it ("The death toll rose to 18", "The number of dead rose to 27"), and "How many died?" takes any
count of the dead. A count whose noun is elided is told by the question's verb after it ("At least
14 were killed"), or by "the number of" its noun before it ("the number of arrests to three").
Irregular verb forms are one verb ("rose" is "rise", "fell" "fall"). When the answer's own
sentence holds no figure tied to all the question says, the first passage figure that is leads.
The figure's clause must also say what the answer's own sentence says of the question ("killed",
not "injured"): each question term the answer sentence holds must be in the clause, so "40
policemen were injured and 3 soldiers were killed" gives no figure for "How many policemen were
killed?", and each name of the question the answer sentence holds must be in the sentence
("copies in France" is not "copies worldwide"; Borussia Dortmund's shares are not EMI's), except
the question's closing phrase ("in the Dunmere floods"): that is the setting, which the other
report's passage must hold (its names all, its other words at least half).
The answer sentence's own figure is held to the same. A follow-up ("And how many were
evacuated?") takes the previous question's names and closing phrase as its setting; a question
with nothing to tie a figure to it never claims a disagreement. Passages arrive with
wire copies collapsed (``qa.answer.groups``), so two articles here are two stories, or two copies
of one that give different figures for what is asked; reports that agree (the same value) are not
a conflict and change nothing.

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from qa.answer.citations import is_verbatim
from qa.answer.composer import ComposeRequest, Draft, Quote, Segment
from qa.answer.figures import Asked, asked_figure, canon, clause, figures_in, names_of, setting_of
from qa.answer.lexical import sentence_spans, terms
from qa.models import Answer, Citation, Conflict, Passage, ReportedFigure

# At most this many sentences in an answer that reports differing figures.
MAX_SENTENCES = 4
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


def _sentences(passage: Passage) -> list[tuple[int, int, str]]:
    return [(passage.start + a, passage.start + b, passage.text[a:b])
            for a, b in sentence_spans(passage.text)]


def _found(passage: Passage, start: int, sentence: str, asked: Asked, *,
           near: tuple[int, int] | None = None, context: frozenset[str] = frozenset(),
           names: frozenset[str] = frozenset(), prefer: float | None = None) -> Found | None:
    """The sentence's figure of the asked kind (the one overlapping ``near`` when given, else the
    one equal to ``prefer`` when there is one; only one whose clause holds every ``context`` term,
    in a sentence that holds every ``names`` term)."""
    if not names <= set(terms(sentence)):
        return None
    figures = [f for f in figures_in(sentence, asked)
               if context <= canon(terms(clause(sentence, f[0], f[1])))]
    if near is not None:
        figures = [f for f in figures if start + f[0] < near[1] and near[0] < start + f[1]] or figures
    if not figures:
        return None
    a, b, value, unit = next((f for f in figures if f[2] == prefer), figures[0])
    quote = Quote(passage.article_id, start, start + len(sentence), sentence, passage.rank, 0.0)
    figure = Quote(passage.article_id, start + a, start + b, sentence[a:b], passage.rank, 0.0)
    return Found(figure, quote, value, unit, passage.published)


def _lead(request: ComposeRequest, draft: Draft, asked: Asked) -> tuple[Found, frozenset[str]] | None:
    """The figure the others are compared with, and what it says of the question (the question's
    terms its sentence holds: "killed", not "injured"), which each other figure's own clause must
    say too: "At least seven people died and dozens were missing" gives no figure for "How many
    people are missing?".

    The answer's own (first) sentence's figure, when its clause says all the question says (or
    no passage sentence does); else the first figure in the passages, best first, whose clause
    does ("The death toll ... rose to 27" when the composer led with "An inquiry ... opened on
    Wednesday"; "Shares in the airline rose 2%" for "By how much did Kestrel Air shares rise?",
    not the pay rise the answer's sentence holds)."""
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
    if (found is not None and context == asked.context) or not asked.context:
        return (found, context) if found else None
    # The question's names and setting in the passage ("Shares in the airline rose 2%" in a
    # report about Kestrel Air), all it says of the question in the figure's clause.
    for other in request.passages:
        if not asked.names | asked.setting <= set(terms(other.text)):
            continue
        for start, _end, sentence in _sentences(other):
            if tied := _found(other, start, sentence, asked, context=asked.context):
                return tied, asked.context
    return (found, context) if found else None


def disagreement(request: ComposeRequest, draft: Draft) -> Disagreement | None:
    """Different figures for what was asked in different articles of the passages, or None.

    A follow-up ("And how many were evacuated?") leans on the conversation: the question before
    it ("How many people died in the Dunmere floods?") is its setting, which each other report's
    passage must hold (its names all, its other words half); what it says itself ("evacuated")
    ties the figures."""
    asked = asked_figure(request.question)
    talked_of: frozenset[str] = frozenset()
    if asked is not None and request.standalone != request.question:
        if not request.history:
            return None
        # Its names must be in the answer's passage and in each other report's, its other words
        # half of them.
        before = request.history[-1].question
        talked_of = names_of(before)
        asked = replace(asked, names=asked.names | talked_of, setting=asked.setting | setting_of(before))
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
    # So must the question's setting ("in the Dunmere floods") as far as that passage holds it:
    # its names all, its other words at least half (reports name one event in their own words:
    # "the Tarrow Bay ferry disaster" is "the wreck of the Bluewake ferry in Tarrow Bay").
    held = terms(" ".join(p.text for p in request.passages if p.article_id == lead.sentence.article_id
                          and p.start <= lead.sentence.start and lead.sentence.end <= p.end))
    if not talked_of <= set(held):
        return None  # the answer's passage is not about what the conversation was about
    topic = (asked.names | asked.setting) & set(held)
    words = canon(asked.setting - asked.names) & canon(held)
    per_article: dict[str, Found] = {lead.sentence.article_id: lead}
    for passage in request.passages:
        said = terms(passage.text)
        if passage.article_id in per_article or not (
                topic & asked.names <= set(said) and 2 * len(words & canon(said)) >= len(words)):
            continue
        # The report's first figure for the question, unless it gives the answer's figure too:
        # "first said 12 were killed, but the toll has since risen to 18" agrees with 18.
        first: Found | None = None
        for start, _end, sentence in _sentences(passage):
            found = _found(passage, start, sentence, asked, context=context, names=names,
                           prefer=lead.value)
            if found is None or found.unit != lead.unit:
                continue
            first = first or found
            if found.value == lead.value:
                first = found
                break
        if first is not None:
            per_article[passage.article_id] = first
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
