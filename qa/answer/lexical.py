"""Term analysis shared by retrieval, the answer step and the support check.

The keyword index itself (BM25 in SQLite FTS5) lives beside the store in ``index.lexicon``;
this module re-exports its tokeniser so the answer steps weigh the same stemmed terms it ranks,
and keeps the sentence spans of passage texts that the news-aware steps read.
"""

from __future__ import annotations

from functools import lru_cache

from index.lexicon import terms
from index.sentences import sentence_spans_in

__all__ = ["sentence_spans", "terms"]


@lru_cache(maxsize=2048)
def sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    """The sentences of a passage text as (start, end) offsets into it, as the chunker splits."""
    # pysbd takes ~9 ms a passage (a third of a repeated "how many" question at 1k chunks), and
    # the passages of questions about one story recur.
    return tuple(sentence_spans_in(text, 0, len(text)))
