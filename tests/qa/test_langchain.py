"""LangChain-native parts: NewsRetriever (and LangChain's standard retriever tests), the async chain."""

from __future__ import annotations

import asyncio
import functools
import tempfile
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda
from langchain_tests.integration_tests import RetrieversIntegrationTests

import qa
from qa.assistant import Assistant
from qa.langchain import NewsRetriever, answer_runnable
from qa.models import Answer
from qa.settings import Settings
from tests.conftest import SAMPLE_ARTICLES
from tests.fakes import FakeEmbedder

QUESTION = "How many policemen were killed in Almaty?"


@functools.cache
def _sample_assistant() -> Assistant:
    """The sample article in a real Chroma, with the fast fake embedder (one per test run)."""
    data = Path(tempfile.mkdtemp(prefix="qa-langchain-"))
    assistant = Assistant(Settings(data_dir=data), embedder=FakeEmbedder())
    assistant.ingest([SAMPLE_ARTICLES])
    return assistant


class TestNewsRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's own contract for retrievers (invoke, ainvoke, k in constructor and call)."""

    @property
    def retriever_constructor(self) -> type[NewsRetriever]:
        return NewsRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"k": 3, "assistant": _sample_assistant()}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


def test_documents_carry_where_each_passage_comes_from() -> None:
    assistant = _sample_assistant()
    docs = qa.NewsRetriever(k=2, assistant=assistant).invoke(QUESTION)
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    meta = docs[0].metadata
    assert {"article_id", "title", "source", "published", "start", "end", "score", "dense_score",
            "lexical_score", "rank"} <= set(meta)
    text = assistant.article_text(meta["article_id"])
    assert text is not None and text[meta["start"] : meta["end"]] == docs[0].page_content
    assert "Twelve policemen" in " ".join(d.page_content for d in docs)


def test_a_retriever_from_settings_opens_that_index(tmp_path: Path) -> None:
    retriever = NewsRetriever(k=1, settings=Settings(data_dir=tmp_path / "empty"))
    assert retriever.invoke(QUESTION) == []


def test_unknown_options_are_refused() -> None:
    with pytest.raises(qa.QuestionError, match="unknown retriever option"):
        NewsRetriever(assistant=_sample_assistant()).invoke(QUESTION, article_id="x")


def test_the_answer_chain_composes_and_streams_events_async() -> None:
    runnable = answer_runnable(_sample_assistant())
    pipeline = RunnableLambda(lambda q: {"question": q, "history": [], "options": {"k": 3}}) | runnable

    async def run() -> tuple[dict[str, Any], list[str], list[str]]:
        result = await pipeline.ainvoke(QUESTION)
        names, deltas = [], []
        async for event in pipeline.astream_events(QUESTION, version="v2"):
            names.append(event["name"])
            if event["event"] == "on_chain_stream" and event["name"] == "answer":
                deltas.append(event["data"]["chunk"].get("delta") or "")
        return result, names, deltas

    result, names, deltas = asyncio.run(run())
    assert isinstance(result["answer"], Answer) and "Twelve policemen" in result["answer"].text
    assert {"prepare", "retrieve", "answer"} <= set(names)
    assert "Twelve policemen" in "".join(deltas)
