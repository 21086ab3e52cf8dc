"""The few named errors of the project.

They are raised deep inside and turned into user messages only at the edges (CLI, UI).
Each message says what went wrong and where, and suggests the fix when there is one.
"""

from __future__ import annotations


class QAError(Exception):
    """Base of every error this project raises on purpose."""


class LoadError(QAError):
    """A file could not be read as articles (empty, binary, too large, malformed)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexMismatchError(QAError):
    """The index was built by another embedding model than the one configured."""


class StoreError(QAError):
    """The vector store cannot be reached or refused an operation."""


class ConfigError(QAError):
    """A setting is missing or wrong (an unknown model, a missing optional extra)."""
