"""Wire copies count once: of the passages of one near-duplicate group, only the best article's stay.

Pure and store-free: the caller passes the article -> group mapping (``ChromaStore.article_groups``)
and gets back the kept passages plus, per kept article, the other articles of its group that were
retrieved ("also reported by"). Passages of the kept article itself all stay: one article with
two relevant chunks is not a copy of itself. A copy that gives another figure in the same sentence
("Twelve people have died" / "Fourteen people have died") is no copy here: its passages stay too,
so the answer shows that reports differ instead of listing it as reporting the kept one's figure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from qa.answer.figures import values_in
from qa.answer.lexical import terms
from qa.models import Passage

# Two sentences whose words overlap this much (Jaccard) are one sentence as two copies tell it.
SAME_SENTENCE = 0.6
_SENTENCE_END = re.compile(r"(?<=[.!?…”\"])\s+")


@dataclass(frozen=True)
class Collapsed:
    """The kept passages (best first, ranks renumbered) and ``also_reported_by[article_id]``."""

    passages: tuple[Passage, ...]
    also_reported_by: dict[str, tuple[str, ...]] = field(default_factory=dict)


def collapse_groups(
    passages: Sequence[Passage], groups: Mapping[str, str], *, k: int | None = None
) -> Collapsed:
    """Keep, per group, the article of its best passage; list the group's other articles.

    ``passages`` are best first; an article missing from ``groups`` is its own group. ``k`` cuts
    the kept passages (retrieve more than ``k`` so copies dropped here leave room for others).
    """
    kept_article: dict[str, str] = {}
    for passage in passages:
        kept_article.setdefault(groups.get(passage.article_id, passage.article_id), passage.article_id)
    differing = _differing(passages, groups, kept_article)
    also: dict[str, list[str]] = {}
    kept: list[Passage] = []
    for passage in passages:
        group = groups.get(passage.article_id, passage.article_id)
        winner = kept_article[group]
        if winner == passage.article_id or passage.article_id in differing:
            if k is None or len(kept) < k:
                kept.append(passage)
            continue
        others = also.setdefault(winner, [])
        if passage.article_id not in others:
            others.append(passage.article_id)
    kept_ids = {p.article_id for p in kept}
    return Collapsed(
        passages=tuple(replace(p, rank=i) for i, p in enumerate(kept)),
        also_reported_by={a: tuple(o) for a, o in also.items() if a in kept_ids},
    )


def _differing(
    passages: Sequence[Passage], groups: Mapping[str, str], kept_article: Mapping[str, str]
) -> set[str]:
    """The copies (not kept articles) of which a retrieved sentence gives other figures than the
    same sentence in the kept article's retrieved passages."""
    sentences: dict[str, list[tuple[frozenset[str], frozenset[float]]]] = {}

    def told(article_id: str) -> list[tuple[frozenset[str], frozenset[float]]]:
        if article_id not in sentences:
            sentences[article_id] = [
                (frozenset(terms(s)), values_in(s))
                for p in passages if p.article_id == article_id
                for s in _SENTENCE_END.split(p.text) if s.strip()
            ]
        return sentences[article_id]

    out: set[str] = set()
    for article_id in {p.article_id for p in passages}:
        winner = kept_article[groups.get(article_id, article_id)]
        if winner == article_id:
            continue
        for words, values in told(article_id):
            if not values:
                continue
            for other_words, other_values in told(winner):
                union = len(words | other_words)
                if union and len(words & other_words) / union >= SAME_SENTENCE and values != other_values:
                    out.add(article_id)
                    break
            if article_id in out:
                break
    return out
