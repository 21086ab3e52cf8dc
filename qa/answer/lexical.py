"""BM25 over chunks (bm25s + PyStemmer), and the term analysis the answer step shares with it.

The index is rebuilt from the store when the store changes; building it over a few thousand
chunks takes milliseconds, so keeping it in step is simpler than updating it in place.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import bm25s
import Stemmer

from index.models import ChunkHit

_TOKEN = re.compile(r"(?u)\b\w\w+\b|\b\d\b")
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    also did does many much whose""".split()  # noqa: SIM905 - a word list reads better as text
)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words of ``text`` (stopwords dropped)."""
    words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOPWORDS]
    return list(_stemmer().stemWords(words))


class LexicalIndex:
    """A BM25 ranking of the given chunks, with document frequencies for term weighting."""

    def __init__(self, hits: Sequence[ChunkHit]) -> None:
        self.hits = list(hits)
        corpus = [terms(h.chunk.text) for h in self.hits]
        self._df: Counter[str] = Counter(t for doc in corpus for t in set(doc))
        self._bm25 = bm25s.BM25()
        if self.hits:
            self._bm25.index(_to_ids(corpus), show_progress=False)

    def __len__(self) -> int:
        return len(self.hits)

    def knows(self, term: str) -> bool:
        """Does any chunk contain this (stemmed) term?"""
        return term in self._df

    def idf(self, term: str) -> float:
        """Inverse document frequency (BM25 form, never negative)."""
        n = len(self.hits) or 1
        df = self._df.get(term, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int) -> list[tuple[ChunkHit, float]]:
        """The ``k`` best chunks for ``query`` with their BM25 scores (zero scores dropped)."""
        query_terms = [t for t in terms(query) if t in self._df]
        if not self.hits or not query_terms or k <= 0:
            return []
        k = min(k, len(self.hits))
        docs, scores = self._bm25.retrieve([query_terms], k=k, show_progress=False)
        return [(self.hits[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]


def _to_ids(corpus: list[list[str]]) -> bm25s.tokenization.Tokenized:
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in corpus]
    return bm25s.tokenization.Tokenized(ids=ids, vocab=vocab)
