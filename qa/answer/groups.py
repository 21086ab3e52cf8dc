"""Wire copies count once: of the passages of one near-duplicate group, only the best article's stay.

Pure and store-free: the caller passes the article -> group mapping (``ChromaStore.article_groups``)
and gets back the kept passages plus, per kept article, the other articles of its group that were
retrieved ("also reported by"). Passages of the kept article itself all stay: one article with
two relevant chunks is not a copy of itself. For a question that asks a figure, a copy whose
sentence gives another figure of the asked kind than the kept copy's most alike sentence
("Twelve people have died" / "Fourteen people have died") is no copy here: its passages stay
too, so the answer shows that reports differ instead of listing it as reporting the kept one's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from qa.answer.figures import Asked, figures_in
from qa.answer.lexical import sentence_spans, terms
from qa.models import Passage

# Two sentences whose words overlap this much (Jaccard) are one sentence as two copies tell it.
SAME_SENTENCE = 0.6


@dataclass(frozen=True)
class Collapsed:
    """The kept passages (best first, ranks renumbered) and ``also_reported_by[article_id]``."""

    passages: tuple[Passage, ...]
    also_reported_by: dict[str, tuple[str, ...]] = field(default_factory=dict)


def collapse_groups(
    passages: Sequence[Passage], groups: Mapping[str, str], *, k: int | None = None,
    asked: Asked | None = None,
) -> Collapsed:
    """Keep, per group, the article of its best passage (and the copies that give another figure
    of what ``asked`` asks); list the group's other articles.

    ``passages`` are best first; an article missing from ``groups`` is its own group. ``k`` cuts
    the kept passages (retrieve more than ``k`` so copies dropped here leave room for others).
    """
    kept_article: dict[str, str] = {}
    for passage in passages:
        kept_article.setdefault(groups.get(passage.article_id, passage.article_id), passage.article_id)
    differing = _differing(passages, groups, kept_article, asked) if asked is not None else set()
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


Told = tuple[frozenset[str], frozenset[tuple[float, str]]]


def _differing(
    passages: Sequence[Passage], groups: Mapping[str, str], kept_article: Mapping[str, str], asked: Asked
) -> set[str]:
    """The copies (not kept articles) of which a retrieved sentence gives figures of the asked
    kind, and the kept article's most alike retrieved sentence other ones."""
    told: dict[str, list[Told]] = {}

    def sentences(article_id: str) -> list[Told]:
        if article_id not in told:
            told[article_id] = [
                (frozenset(terms(sentence)), frozenset((v, u) for _, _, v, u in figures_in(sentence, asked)))
                for p in passages if p.article_id == article_id
                for a, b in sentence_spans(p.text) if (sentence := p.text[a:b])
            ]
        return told[article_id]

    out: set[str] = set()
    for article_id in {p.article_id for p in passages}:
        winner = kept_article[groups.get(article_id, article_id)]
        if winner == article_id:
            continue
        for words, figures in sentences(article_id):
            if not figures:
                continue
            alike = max(sentences(winner), key=lambda other: _jaccard(words, other[0]), default=None)
            if (alike is not None and _jaccard(words, alike[0]) >= SAME_SENTENCE and alike[1]
                    and alike[1] != figures):
                out.add(article_id)
                break
    return out


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0
