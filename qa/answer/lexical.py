"""Term analysis shared by retrieval, the answer step and the support check.

The keyword index itself (BM25 in SQLite FTS5) lives beside the store in ``index.lexicon``;
this module re-exports its tokeniser so the answer steps weigh the same stemmed terms it ranks.
"""

from __future__ import annotations

from index.lexicon import terms

__all__ = ["terms"]
