"""Wire copies count once: of the passages of one near-duplicate group, only the best article's stay.

Pure and store-free: the caller passes the article -> group mapping (``ChromaStore.article_groups``)
and gets back the kept passages plus, per kept article, the other articles of its group that were
retrieved ("also reported by"). Passages of the kept article itself all stay: one article with
two relevant chunks is not a copy of itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from qa.models import Passage


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
    also: dict[str, list[str]] = {}
    kept: list[Passage] = []
    for passage in passages:
        group = groups.get(passage.article_id, passage.article_id)
        winner = kept_article.setdefault(group, passage.article_id)
        if winner == passage.article_id:
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
