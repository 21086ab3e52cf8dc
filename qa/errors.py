"""The project's named errors, importable from one place.

The data-in errors live with the index (``index.errors``); ``QuestionError`` is the answer
side's own. All derive from ``QAError`` and become user messages only at the edges (CLI, page).
"""

from __future__ import annotations

from index.errors import ConfigError, IndexMismatchError, LoadError, QAError, StoreError


class QuestionError(QAError):
    """A question cannot be answered as asked (empty, nothing indexed, a bad option or date)."""


__all__ = ["ConfigError", "IndexMismatchError", "LoadError", "QAError", "QuestionError", "StoreError"]
