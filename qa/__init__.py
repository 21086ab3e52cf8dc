"""News-article question answering with verified citations.

Importing ``qa`` is cheap: torch, the embedding model and Chroma load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qa.errors import ConfigError, IndexMismatchError, LoadError, QAError, QuestionError, StoreError
from qa.models import Answer, Citation, Passage
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.assistant import Assistant, ask
    from qa.langchain import NewsRetriever

__all__ = [
    "Answer", "Assistant", "Citation", "ConfigError", "IndexMismatchError", "LoadError", "NewsRetriever",
    "Passage",
    "QAError", "QuestionError", "Settings", "StoreError", "ask", "evaluate",
]


def __getattr__(name: str) -> Any:
    if name in ("Assistant", "ask"):
        from qa import assistant

        return getattr(assistant, name)
    if name == "NewsRetriever":
        from qa.langchain import NewsRetriever

        return NewsRetriever
    if name == "evaluate":
        from qa.eval.run import evaluate

        return evaluate
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
