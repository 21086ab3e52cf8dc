"""Backends, reply parsing and follow-up condensing, without the embedding model."""

from __future__ import annotations

import sys

import pytest

from index.errors import ConfigError
from qa.answer.history import Turn, parse_history
from qa.llm.backends import LLMError, build_chat_backend, list_models
from qa.llm.generative import MarkerFilter, condense_question, is_not_found, split_claims
from qa.settings import Settings
from tests.llm.fake_servers import OllamaServer, OpenAIServer, Reply, ScriptedServer

SERVERS = [pytest.param(OpenAIServer, id="openai"), pytest.param(OllamaServer, id="ollama")]


def settings_for(server: ScriptedServer, **kw: object) -> Settings:
    return Settings.model_validate(
        {"llm": server.kind, "llm_base_url": server.base_url, "llm_model": "test-model", **kw}
    )


def test_split_claims_moves_opening_markers_back_and_drops_unknown_passages() -> None:
    reply = "Twelve policemen were killed. [1][7] Troops arrived [2, 3 ,0].\n- 353 were injured [1]\n[2]"
    assert split_claims(reply, passages=5) == [
        ("Twelve policemen were killed.", [1]),
        ("Troops arrived.", [2, 3]),
        ("353 were injured", [1, 2]),
    ]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [("NOT FOUND", True), (" Not found.", True), ("The passages do not say. NOT FOUND", True),
     ("Twelve were killed [1].", False), ("It was not found by police [1].", False)],
)
def test_not_found_is_recognized_only_as_the_whole_reply(reply: str, expected: bool) -> None:
    assert is_not_found(reply) is expected


@pytest.mark.parametrize(
    "pieces",
    [["Twelve were killed [", "1", "]. Then ", "[2,", "3] more."],
     ["Twelve were killed", " ", "[1]", ".", " Then [2", ",3]", " more."]],
)
def test_marker_filter_removes_markers_split_across_pieces(pieces: list[str]) -> None:
    shown = MarkerFilter()
    text = "".join(shown.feed(p) for p in pieces) + shown.flush()
    assert text == "Twelve were killed. Then more."


def test_marker_filter_keeps_brackets_that_are_not_markers() -> None:
    shown = MarkerFilter()
    text = "".join(shown.feed(p) for p in ["The [sic", "] quote [a]"]) + shown.flush()
    assert text == "The [sic] quote [a]"


@pytest.mark.parametrize("server_type", SERVERS)
def test_condense_question_asks_the_model_with_the_conversation(server_type: type[ScriptedServer]) -> None:
    history = parse_history(
        [("How many policemen were killed in Almaty?", "Twelve policemen were killed [1].")]
    )
    with server_type(Reply("Standalone question: How many policemen were injured in Almaty?")) as server:
        rewritten = condense_question(build_chat_backend(settings_for(server)), "And injured?", history)
        prompt = server.requests[0]["messages"][1]["content"]

    assert rewritten == "How many policemen were injured in Almaty?"
    assert "User: How many policemen were killed in Almaty?" in prompt
    assert "Assistant: Twelve policemen were killed [1]." in prompt
    assert prompt.count("And injured?") == 1


def test_condense_question_without_history_makes_no_call() -> None:
    with OpenAIServer(Reply("Something else?")) as server:
        llm = build_chat_backend(settings_for(server))
        assert condense_question(llm, "Who is Tokayev?", []) == "Who is Tokayev?"
        assert server.requests == []


def test_condense_question_falls_back_when_the_backend_fails() -> None:
    def extractive(question: str, history: object) -> str:
        return f"earlier + {question}"

    with OpenAIServer(Reply(status=503)) as server:
        llm = build_chat_backend(settings_for(server))
        rewritten = condense_question(llm, "And injured?", [Turn("Who was killed?")], fallback=extractive)
        assert rewritten == "earlier + And injured?"
        assert condense_question(llm, "And injured?", [Turn("Who was killed?")]) == "And injured?"


@pytest.mark.parametrize("server_type", SERVERS)
def test_list_models_feeds_the_model_picker(server_type: type[ScriptedServer]) -> None:
    with server_type(models=("llama3.1", "mistral")) as server:
        assert list_models(settings_for(server)) == ["llama3.1", "mistral"]


def test_list_models_names_the_unreachable_url(closed_port_url: str) -> None:
    with pytest.raises(LLMError, match=f"ollama at {closed_port_url}: unreachable"):
        list_models(Settings(llm="ollama", llm_base_url=closed_port_url), timeout=2)


@pytest.mark.parametrize(("kind", "module"), [("openai", "langchain_openai"), ("ollama", "langchain_ollama")])
def test_missing_extra_names_the_install_command(
    kind: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail as if not installed
    with pytest.raises(ConfigError, match=rf"pip install 'newsqa\[{kind}\]'"):
        build_chat_backend(
            Settings.model_validate({"llm": kind, "llm_base_url": "http://127.0.0.1:1", "llm_model": "m"})
        )


def test_openai_backend_needs_a_model_and_a_key_for_the_hosted_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="QA_LLM_MODEL"):
        build_chat_backend(Settings(llm="openai"))
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_chat_backend(Settings(llm="openai", llm_model="gpt-4o-mini"))


def test_backend_settings_come_from_qa_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_LLM", "ollama")
    monkeypatch.setenv("QA_LLM_BASE_URL", "http://127.0.0.1:11434/")
    monkeypatch.setenv("QA_LLM_TIMEOUT", "7")
    backend = build_chat_backend(Settings())
    assert (backend.label, backend.url, backend.timeout) == ("ollama:llama3.1", "http://127.0.0.1:11434", 7.0)
