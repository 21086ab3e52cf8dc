"""The generative composer inside the whole assistant: retrieval, the LLM, verified citations."""

from __future__ import annotations

import re
from typing import Any

import pytest

from qa.answer.extractive import ExtractiveComposer
from qa.assistant import Assistant
from qa.llm.generative import build_llm_composer
from qa.models import Answer
from qa.settings import Settings
from tests.llm.fake_servers import OpenAIServer, Reply

EVIDENCE = "Twelve policemen have been killed"
_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)


def cite_the_evidence(body: dict[str, Any]) -> str:
    """A model that cites whichever passage it was given holds the evidence, and adds a claim."""
    prompt = body["messages"][-1]["content"]
    n = next(int(m.group(1)) for m in _PASSAGE.finditer(prompt) if EVIDENCE in m.group(2))
    return f"Twelve policemen were killed in the Almaty riots [{n}]. Protesters burned the parliament [{n}]."


def assistant_with(
    server: OpenAIServer, sample_assistant: Any, real_embedder: Any, *, timeout: float = 10
) -> Assistant:
    settings = Settings.model_validate(
        {"llm": "openai", "llm_base_url": server.base_url, "llm_model": "test-model", "llm_timeout": timeout}
    )
    composer = build_llm_composer(settings, real_embedder, fallback=ExtractiveComposer(idf=lambda t: 1.0))
    return Assistant(settings, store=sample_assistant.store, embedder=real_embedder, composer=composer)


@pytest.mark.parametrize("mode", ["ask", "stream"])
def test_generated_answer_cites_verified_quotes_and_flags_the_rest(
    mode: str, sample_assistant: Any, real_embedder: Any,
) -> None:
    with OpenAIServer(Reply(respond=cite_the_evidence)) as server:
        assistant = assistant_with(server, sample_assistant, real_embedder)
        question = "How many policemen were killed in Almaty?"
        items = [assistant.ask(question)] if mode == "ask" else list(assistant.stream(question))
    *pieces, answer = items
    assert isinstance(answer, Answer)
    if mode == "stream":
        assert pieces and all(isinstance(p, str) for p in pieces)

    assert answer.answered and answer.backend == "openai:test-model"
    (citation,) = answer.citations
    assert citation.quote.startswith(EVIDENCE)
    article = assistant.article_text(citation.article_id) or ""
    assert article[citation.start : citation.end] == citation.quote
    assert answer.unsupported == ("Protesters burned the parliament.",)
    assert "Twelve policemen were killed in the Almaty riots. [1]" in answer.text


def test_unreachable_llm_gives_the_extractive_answer_with_a_notice(
    sample_assistant: Any, real_embedder: Any,
) -> None:
    with OpenAIServer(Reply(hang=True)) as server:
        assistant = assistant_with(server, sample_assistant, real_embedder, timeout=0.5)
        answer = assistant.ask("How many policemen were killed in Almaty?")

    assert answer.backend == "extractive (fallback)"
    assert answer.notice and f"openai at {server.base_url}" in answer.notice and "timed out" in answer.notice
    assert answer.answered and answer.citations
