"""One contract, every combination: both answer steps (extractive, an LLM on a loopback server)
over both store modes (embedded Chroma, a real ``chroma run`` server).

Whatever composes the answer and wherever the chunks live, an answer cites only verbatim quotes
with their context, abstains with no citations when the articles do not hold the answer, and
streams the same answer it returns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from qa.answer.citations import NOT_FOUND
from qa.assistant import Assistant
from qa.models import Answer
from qa.settings import Settings
from tests.conftest import SAMPLE_ARTICLES
from tests.index.test_chroma_server import chroma_server  # noqa: F401 - a fixture, used by name
from tests.llm.fake_servers import OpenAIServer, Reply

ANSWERABLE = "How many policemen were killed in Almaty?"
UNANSWERABLE = "What is the capital of Australia?"
EVIDENCE = "Twelve policemen have been killed"
_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)


def _model_reply(body: dict[str, Any]) -> str:
    """A well-behaved model: cites the passage holding the evidence, else says it is not there."""
    prompt = body["messages"][-1]["content"]
    if "Australia" in prompt:
        return "NOT FOUND"
    found = [int(m.group(1)) for m in _PASSAGE.finditer(prompt) if EVIDENCE in m.group(2)]
    return f"Twelve policemen have been killed in Almaty [{found[0]}]." if found else "NOT FOUND"


@pytest.fixture(scope="module")
def llm_server() -> Iterator[OpenAIServer]:
    with OpenAIServer(Reply(respond=_model_reply)) as server:
        yield server


@pytest.fixture(params=["embedded", "server"])
def store_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("contract")
    if request.param == "server":
        port = request.getfixturevalue("chroma_server")
        return Settings(data_dir=data_dir, chroma_host="127.0.0.1", chroma_port=port)
    return Settings(data_dir=data_dir)


@pytest.fixture(params=["extractive", "llm"])
def assistant(
    request: pytest.FixtureRequest, store_settings: Settings, real_embedder: Any, llm_server: OpenAIServer
) -> Assistant:
    settings = store_settings
    if request.param == "llm":
        settings = settings.model_copy(update={
            "llm": "openai", "llm_base_url": llm_server.base_url, "llm_model": "test-model",
            "llm_timeout": 20.0,
        })
    assistant = Assistant(settings, embedder=real_embedder)
    report = assistant.ingest([SAMPLE_ARTICLES])
    assert report.ok
    return assistant


def test_an_answer_cites_only_verbatim_quotes_with_their_context(assistant: Assistant) -> None:
    answer = assistant.ask(ANSWERABLE)
    assert answer.answered and answer.citations
    for citation in answer.citations:
        article = assistant.article_text(citation.article_id) or ""
        assert article[citation.start : citation.end] == citation.quote
        assert citation.context[citation.quote_offset :].startswith(citation.quote)
        assert article[citation.context_start :].startswith(citation.context)
    assert any(EVIDENCE in c.quote for c in answer.citations)
    scores = [p.score for p in answer.passages]
    assert scores == sorted(scores, reverse=True)
    json.dumps(answer.to_dict())


def test_a_question_the_articles_do_not_answer_abstains(assistant: Assistant) -> None:
    answer = assistant.ask(UNANSWERABLE)
    assert not answer.answered
    assert answer.text == NOT_FOUND and answer.citations == ()


def test_the_stream_ends_with_the_answer_ask_gives(assistant: Assistant) -> None:
    *pieces, final = list(assistant.stream(ANSWERABLE))
    assert isinstance(final, Answer) and all(isinstance(p, str) for p in pieces)
    assert final.text == assistant.ask(ANSWERABLE).text
