"""LangChain-native parts for LangChain users: ``NewsRetriever`` and the answer chain as a Runnable.

```python
from qa import NewsRetriever
retriever = NewsRetriever(k=4)                       # the index in QA_DATA_DIR (or .qa-data)
docs = retriever.invoke("How many policemen were killed in Almaty?")
docs[0].metadata["article_id"], docs[0].metadata["start"], docs[0].metadata["score"]

chain = answer_runnable(assistant)                   # question -> {"delta", "answer"}
async for event in chain.astream_events({"question": "...", "history": [], "options": {}}):
    ...
```
This module sits beside the public API (it builds an ``Assistant`` when given only settings);
the retrieval itself is the assistant's own hybrid retriever (dense + BM25, fused by RRF).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, Field, PrivateAttr

from qa.answer.retrieval import SearchOptions
from qa.assistant import Assistant
from qa.errors import QuestionError
from qa.models import Passage
from qa.settings import Settings


def passage_document(passage: Passage) -> Document:
    """A retrieved passage as a LangChain ``Document``: its text, and where it comes from."""
    return Document(
        id=passage.chunk_id,
        page_content=passage.text,
        metadata={
            "chunk_id": passage.chunk_id, "article_id": passage.article_id, "title": passage.title,
            "source": passage.source, "published": passage.published, "start": passage.start,
            "end": passage.end, "score": passage.score, "dense_score": passage.dense_score,
            "lexical_score": passage.lexical_score, "rank": passage.rank,
        },
    )


class NewsRetriever(BaseRetriever):
    """The indexed news articles as a LangChain retriever (hybrid: meaning + exact words).

    ``NewsRetriever(k=4)`` opens the index the environment names (``QA_*``);
    ``NewsRetriever(k=4, settings=Settings(data_dir=...))`` another one; ``NewsRetriever(k=4,
    assistant=assistant)`` shares an existing ``Assistant`` (its model and store). Documents
    carry ``article_id``, ``title``, ``source``, ``published``, ``start``/``end`` (character
    offsets in the article) and the ``score``s in their metadata. ``invoke(query, k=2)`` asks
    for another number of passages for one call.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    k: int = Field(default=5, ge=1, le=100)
    hybrid: bool = True
    article_ids: list[str] | None = None
    published_from: str | None = None
    published_to: str | None = None
    settings: Settings | None = None
    assistant: Any = Field(default=None, exclude=True)
    _built: Assistant | None = PrivateAttr(default=None)

    def _assistant(self) -> Any:
        if self.assistant is not None:
            return self.assistant
        if self._built is None:
            self._built = Assistant(self.settings)
        return self._built

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        options = self._options(kwargs)
        passages, _ = self._assistant().chain.retriever.retrieve(query, options)
        return [passage_document(p) for p in passages]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        import asyncio

        sync_manager = run_manager.get_sync()
        return await asyncio.to_thread(self._get_relevant_documents, query, run_manager=sync_manager,
                                       **kwargs)

    def _options(self, overrides: dict[str, Any]) -> SearchOptions:
        unknown = sorted(set(overrides) - {"k", "hybrid", "article_ids", "published_from", "published_to"})
        if unknown:
            raise QuestionError(f"unknown retriever option(s): {', '.join(unknown)}")
        values = {"k": self.k, "hybrid": self.hybrid, "article_ids": self.article_ids,
                  "published_from": self.published_from, "published_to": self.published_to, **overrides}
        k = int(values["k"])
        if k < 1:
            raise QuestionError(f"k must be at least 1, got {k}")
        ids = values["article_ids"]
        return SearchOptions(
            k=k, hybrid=bool(values["hybrid"]), article_ids=tuple(ids) if ids else None,
            published_from=values["published_from"], published_to=values["published_to"],
        )


def answer_runnable(assistant: Assistant | None = None, *, settings: Settings | None = None) -> Runnable:
    """The assistant's answer chain as a ``Runnable`` to compose into LCEL pipelines.

    Input: ``{"question": str, "history": [...], "options": {...}}`` (options as ``Assistant.ask``
    takes them). Output: streamed ``{"delta": text}`` chunks, then ``{"answer": Answer}``;
    invoked, one dict with both. ``ainvoke``, ``astream`` and ``astream_events`` work.
    """
    return (assistant or Assistant(settings)).chain.runnable
