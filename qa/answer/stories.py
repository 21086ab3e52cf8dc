"""Several stories, one answer: for "What has happened in Almaty so far?" a sentence from each of
several articles, in date order, instead of the one best sentence.

Recognised by the question's wording (``is_story_question``): "what (has) happened", "what is
happening in", "what has ... so far", "latest developments", "summary"/"summarise", "overview",
"recap", "what do we know about", "what is going on" ("latest" alone and "now" are left to the
newest-article preference); a question that asks for one thing (a number, a date, a name: "How
many were killed so far?") stays a factoid and leads with one answer.

Sentences are picked with the learned extractive composer's own scores (``ExtractiveComposer.table``
and ``score``, unchanged) over the best passage of up to ``STORY_PASSAGES`` articles instead of
three passages: per article on the question's topic (its passage holds every name and number of
the question, "Vellmore", "1992"; for a question without any, half its terms) its best sentence (the
composer's own answer sentence for the article it comes from), kept when its probability is at
least ``RELATIVE`` times the best one's. The model was fitted on factoid
questions, so its probabilities for "what happened" are low in absolute terms (0.04-0.2 on the
test corpus) while their order is right; hence a relative cut and the topic test, not a fixed
threshold. Passages arrive with wire copies collapsed (``qa.answer.groups``), so one article
stands for one story; sentences with the same words are said once. At most ``MAX_STORIES``
sentences, ordered by their article's published date, oldest first (undated last).

The answer is several stories only when at least two articles hold such a sentence; it is given
even when the composer's confidence (a factoid estimate) would abstain, but never when the
question names something no passage mentions ("What has happened in Atlantis?"). Otherwise the
draft is left as it was. ``Answer.confidence`` stays the composer's estimate.

A generated answer (``qa.llm``) keeps its own sentences: the model is asked for one sentence per
report, oldest first (``STORY_RULE``), and ``arrange`` then puts its sentences in the date order
of the articles they cite (the oldest each cites), says a repeated sentence once and keeps at
most ``MAX_STORIES``, when every sentence is supported by a passage it cites (each citation then
the verified passage sentence, as for any generated claim) and they cite at least two articles.
A sentence no passage supports leaves the answer as the model wrote it: it stays in place,
marked, and is never given a date.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace

import numpy as np

from qa.answer.composer import ComposeRequest, Draft, Quote, Segment
from qa.answer.extractive import ExtractiveComposer
from qa.answer.features import expected_type
from qa.answer.lexical import terms
from qa.answer.recency import LATEST
from qa.models import Passage

MAX_STORIES = 4
STORY_PASSAGES = 8
RELATIVE = 0.35

_STORY = re.compile(
    r"\bwhat(?:'s| has| have)? (?:happened|been happening)\b|\bwhat(?:'s| is) happening (?:in|at)\b"
    r"|\bwhat (?:has|have)\b.*\bso far\b|\b(?:latest|recent|new) developments\b"
    r"|\bsummar(?:y|ise|ize)\b|\boverview\b"
    r"|\brecap\b|\bwhat do we know\b|\bwhat(?:'s| is) going on\b|\bthe story (?:of|so far)\b",
    re.IGNORECASE)
_SPECIFIC = re.compile(r"(?<!^)\b[A-Z][\w'’-]+|\b\d[\d,.]*")
_SINCE = re.compile(r"\bsince\b", re.IGNORECASE)
_ONE_THING = frozenset({"number", "duration", "date", "name", "list", "why"})
# What a chat model is told of a story question, after the question (``qa.llm.generative``).
STORY_RULE = ("This question asks what has happened over time: answer with one sentence from each "
              "report that adds to the story, oldest report first, each citing its passage; at most "
              f"{MAX_STORIES} sentences.")


def is_story_question(question: str) -> bool:
    """Does the question ask what happened over time rather than for one fact?"""
    return bool(_STORY.search(question)) and expected_type(question) not in _ONE_THING


def _best_per_article(request: ComposeRequest) -> tuple[Passage, ...]:
    """The best passage of each article, best first (ranks as retrieved)."""
    seen: set[str] = set()
    out = []
    for passage in request.passages:
        if passage.article_id not in seen:
            seen.add(passage.article_id)
            out.append(passage)
    return tuple(out[:STORY_PASSAGES])


def topic(question: str) -> tuple[frozenset[str], frozenset[str]]:
    """The question's names and numbers ("Vellmore", "1992") and its other terms, with the story
    wording taken out."""
    # "since" of "What has happened since the theft?" says when, like "so far": no topic word.
    rest = _SINCE.sub(" ", LATEST.sub(" ", _STORY.sub(" ", question)))
    names = frozenset(t for m in _SPECIFIC.finditer(rest) for t in terms(m.group(0)))
    return names, frozenset(terms(rest)) - names


def _on_topic(text: str, names: frozenset[str], others: frozenset[str]) -> bool:
    words = set(terms(text))
    # The question's names must all be there, and at least half of its other terms: "the bank in
    # Vellmore" is not on the topic of every Vellmore story.
    half = len(others & words) * 2 >= len(others)
    if names:
        return names <= words and half
    return half and len(others) > 0


def revise(request: ComposeRequest, draft: Draft, composer: object) -> tuple[Draft, bool]:
    """The draft as several stories (True) when the question asks for them and at least two
    articles hold a sentence on its topic; else the draft unchanged (False)."""
    if not (isinstance(composer, ExtractiveComposer) and is_story_question(request.question)):
        return draft, False
    passages = _best_per_article(request)
    if len(passages) < 2:
        return draft, False
    # A copy with a wider view: the same fitted weights and caches, more passages scored.
    wide = copy.copy(composer)
    wide.config = replace(composer.config, passages=len(passages))
    table = wide.table(replace(request, passages=passages))
    if not table.candidates or table.missing:
        # The question names something no passage mentions: the articles do not hold the story.
        return draft, False
    probs = wide.score(table)
    names, others = topic(request.standalone)
    on_topic = {p.article_id for p in passages if _on_topic(p.text, names, others)}
    best: dict[str, tuple[float, Quote]] = {}
    said: set[frozenset[str]] = set()
    if draft.answered and draft.segments and draft.segments[0].quotes:
        # The composer's own answer sentence speaks for its article.
        lead = draft.segments[0].quotes[0]
        if lead.article_id in on_topic:
            best[lead.article_id] = (float(np.max(probs)), lead)
            said.add(frozenset(terms(lead.text)))
    for i in np.argsort(-probs, kind="stable"):
        cand, prob = table.candidates[int(i)], float(probs[int(i)])
        words = frozenset(terms(cand.text))
        if cand.passage.article_id in best or words in said or cand.passage.article_id not in on_topic:
            continue
        said.add(words)
        best[cand.passage.article_id] = (prob, Quote(
            cand.passage.article_id, cand.start, cand.end, cand.text, cand.passage.rank, round(prob, 3)))
    top = max((prob for prob, _ in best.values()), default=0.0)
    picked = sorted((a for a in best if best[a][0] >= RELATIVE * top), key=lambda a: -best[a][0])
    picked = picked[:MAX_STORIES]
    if len(picked) < 2:
        return draft, False
    dated = {p.article_id: p.published for p in passages}
    order = sorted(picked, key=lambda a: (dated[a] is None, dated[a] or "", -best[a][0]))
    segments = tuple(Segment(best[a][1].text, (best[a][1],)) for a in order)
    return replace(draft, answered=True, segments=segments, short=None), True


def arrange(request: ComposeRequest, draft: Draft) -> tuple[Draft, bool]:
    """A generated draft as several stories (True): its sentences in the date order of the
    articles they cite, each said once, at most ``MAX_STORIES``; else unchanged (False)."""
    if (draft.backend.startswith("extractive") or not draft.answered or not draft.segments
            or not is_story_question(request.question)
            or not all(s.supported and s.quotes for s in draft.segments)):
        return draft, False
    dated = {p.article_id: p.published for p in request.passages}

    def when(segment: Segment) -> tuple[bool, str]:
        days = [dated.get(q.article_id) for q in segment.quotes]
        known = [d for d in days if d]
        return (not known, min(known) if known else "")

    said: set[frozenset[str]] = set()
    segments = []
    for segment in sorted(draft.segments, key=when):
        words = frozenset(terms(segment.text))
        if words not in said:
            said.add(words)
            segments.append(segment)
    segments = segments[:MAX_STORIES]
    if len({q.article_id for s in segments for q in s.quotes}) < 2:
        return draft, False
    return replace(draft, segments=tuple(segments), short=None), True
