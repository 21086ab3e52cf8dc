"""The Settings tab's handlers: saved choices, testing an LLM server, asking through the picked one."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from qa.settings import Settings
from qa.ui.backend import Backend
from qa.ui.handlers import Handlers
from qa.ui.prefs import Prefs, load_prefs, prefs_path, save_prefs
from tests.llm.fake_servers import OllamaServer, OpenAIServer, Reply

_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)


def cite_twelve(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    n = next(int(m.group(1)) for m in _PASSAGE.finditer(prompt) if "Twelve policemen" in m.group(2))
    return f"Twelve policemen were killed in Almaty [{n}]."


def _ready(assistant: Any) -> Handlers:
    handlers = Handlers(Backend(assistant))
    handlers.backend.assistant(timeout=60)
    return handlers


def test_saved_settings_come_back_and_hold_no_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_LLM_API_KEY", "sk-secret-123")
    settings = Settings(data_dir=tmp_path)
    assert load_prefs(settings) == Prefs.defaults(settings)
    handlers = Handlers(Backend(settings=settings))
    message = handlers.save_settings(7, False, "openai", "http://127.0.0.1:9/v1", "m1")
    assert message.startswith("Saved to") and str(prefs_path(settings)) in message
    text = prefs_path(settings).read_text()
    assert "sk-secret" not in text and "key" not in text
    assert json.loads(text) == {"top_k": 7, "hybrid": False, "backend": "openai",
                                "base_url": "http://127.0.0.1:9/v1", "model": "m1"}
    top_k, hybrid, backend, url, _picker, choices = handlers.load_settings()
    assert (top_k, hybrid, backend, url) == (7, False, "openai", "http://127.0.0.1:9/v1")
    assert choices["model"] == "m1" and choices["backend"] == "openai"


def test_bad_settings_are_refused_with_the_reason_and_a_damaged_file_is_skipped(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    handlers = Handlers(Backend(settings=settings))
    assert handlers.save_settings(5, True, "openai", "localhost:8000", "") == (
        "**Not saved:** the base URL must start with http:// or https://, got 'localhost:8000'"
    )
    assert not prefs_path(settings).exists()
    prefs_path(settings).write_text("{not json")
    assert load_prefs(settings) == Prefs.defaults(settings)
    save_prefs(settings, Prefs(top_k=3))
    assert load_prefs(settings).top_k == 3


def test_test_connection_lists_the_servers_models_or_says_why_not(fake_assistant: Any) -> None:
    handlers = Handlers(Backend(fake_assistant))
    with OpenAIServer(models=("qwen-small", "llama-tiny")) as server:
        picker, message = handlers.test_connection("openai", server.base_url, "")
    assert picker.choices == [("llama-tiny", "llama-tiny"), ("qwen-small", "qwen-small")]
    assert picker.value == "llama-tiny"
    assert message.startswith(f"Connected to openai at `{server.base_url}`: 2 model(s)")
    _, refused = handlers.test_connection("openai", server.base_url, "")
    assert refused.startswith("**Could not connect:** openai at") and "unreachable" in refused
    _, extractive = handlers.test_connection("extractive", "", "")
    assert "offline" in extractive


def test_what_a_server_sends_is_shown_as_text_never_as_an_image_or_a_link(fake_assistant: Any) -> None:
    """A model id (or a feed's error) of Markdown made the page load a remote image and show a
    live link."""
    from datetime import UTC, datetime

    from markdown_it import MarkdownIt

    from qa.ui.watcher import WatchStatus

    tracker = "![x](http://tracker.example/p.png) [Re-login](http://phish.example/)"
    handlers = Handlers(Backend(fake_assistant))
    with OpenAIServer(models=(tracker,)) as server:
        _, message = handlers.test_connection("openai", server.base_url, "")
    status = WatchStatus(last=datetime.now(UTC), failures=(f"http://feed.example/rss: HTTP 500 {tracker}",))
    for shown in (message, status.markdown(5).split("**Failed:**")[-1]):
        html = MarkdownIt("commonmark").enable("linkify").render(shown)
        assert "tracker.example" in html and "<img" not in html and "<a " not in html, html


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_the_operators_api_key_goes_only_to_the_configured_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A visitor who types another base URL in the page must not collect QA_LLM_API_KEY (nor
    OLLAMA_API_KEY, which the Ollama client sends to any host by itself)."""
    monkeypatch.setenv("OLLAMA_API_KEY", "sk-OPERATOR-SECRET")
    server = OpenAIServer if kind == "openai" else OllamaServer
    with server() as configured, server() as typed:
        settings = Settings(data_dir=tmp_path, llm=kind, llm_base_url=configured.base_url,
                            llm_api_key="sk-OPERATOR-SECRET" if kind == "openai" else None)
        handlers = Handlers(Backend(settings=settings))
        handlers.test_connection(kind, typed.base_url, "")
        handlers.test_connection(kind, configured.base_url, "")
    assert typed.keys == ["Bearer not-needed"]
    assert configured.keys == ["Bearer sk-OPERATOR-SECRET"]


def test_the_operators_openai_organization_and_project_go_only_to_the_configured_server(
    fake_assistant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OpenAI clients send OPENAI_ORG_ID, OPENAI_PROJECT_ID and OPENAI_CUSTOM_HEADERS from the
    environment to any host: a visitor's typed URL got them, through Test connection and the chat."""
    monkeypatch.setenv("OPENAI_ORG_ID", "org-OPERATOR")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-OPERATOR")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "X-Gateway-Key: gw-OPERATOR\nAuthorization: Bearer sk-ENV")
    with OpenAIServer(Reply(respond=cite_twelve), models=("test-model",)) as configured, \
            OpenAIServer(Reply(respond=cite_twelve), models=("test-model",)) as typed:
        fake_assistant.settings = fake_assistant.settings.model_copy(update={
            "llm": "openai", "llm_base_url": configured.base_url, "llm_model": "test-model",
            "llm_api_key": "sk-OPERATOR"})
        handlers = _ready(fake_assistant)
        for server in (typed, configured):
            handlers.test_connection("openai", server.base_url, "")
            choices = Handlers.choices(5, True, [], None, None, "openai", server.base_url, "test-model")
            *_, (final, _, _) = handlers.chat("How many policemen were killed in Almaty?", [], choices, {})
            assert "Twelve policemen" in final
    assert [("/v1/chat/completions" in p) for p in typed.paths] == [True]  # the chat reached it
    for sent in typed.headers:
        assert "OPERATOR" not in str(sent) and "sk-ENV" not in str(sent), sent
        assert sent["authorization"] == "Bearer not-needed"
    assert len(typed.headers) == 2
    assert all(sent.get("openai-organization") == "org-OPERATOR" for sent in configured.headers)


def test_a_typed_openai_url_answers_unstreamed_and_through_the_operators_proxy(
    fake_assistant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header filter dropped x-stainless-raw-response, which the SDK reads back: an unstreamed
    call failed. With OPENAI_PROXY set, ChatOpenAI refused the filtering clients and the page
    showed the proxy's URL, password included."""
    from qa.llm.backends import build_chat_backend
    from qa.wiring import llm_settings

    with OpenAIServer(Reply("Twelve."), Reply(respond=cite_twelve), models=("test-model",)) as typed:
        picked = llm_settings(fake_assistant.settings.model_copy(update={"llm_api_key": "sk-OPERATOR"}),
                              kind="openai", base_url=typed.base_url, model="test-model")
        reply = build_chat_backend(picked).model.invoke("How many policemen were killed?")
        assert "Twelve" in str(reply.content)
        monkeypatch.setenv("OPENAI_PROXY", "http://corpuser:ProxyPass123@127.0.0.1:9")
        handlers = _ready(fake_assistant)
        choices = Handlers.choices(5, True, [], None, None, "openai", typed.base_url, "test-model")
        *_, (final, _, _) = handlers.chat("How many policemen were killed in Almaty?", [], choices, {})
    assert "ProxyPass123" not in final and "ValidationError" not in final, final
    assert "Twelve policemen" in final and "failed" in final  # through the proxy: none there


def test_the_picked_llm_answers_the_next_question(fake_assistant: Any) -> None:
    handlers = _ready(fake_assistant)
    with OpenAIServer(Reply(respond=cite_twelve), models=("test-model",)) as server:
        choices = Handlers.choices(5, True, [], None, None, "openai", server.base_url, "test-model")
        *_, (final, panel, _turns) = handlers.chat("How many policemen were killed in Almaty?", [],
                                                  choices, {})
        assert server.paths == ["/v1/chat/completions"]
    assert "Twelve policemen were killed in Almaty" in final and "(#src-1-1" in final
    assert f"openai:test-model@{server.base_url}" in panel
    extractive = Handlers.choices(5, True, [], None, None, "extractive", "", "")
    *_, (again, _, _) = handlers.chat("How many policemen were killed in Almaty?", [], extractive, {})
    assert len(server.requests) == 1 and "Twelve" in again


def test_an_llm_without_a_model_is_explained_in_the_chat(fake_assistant: Any) -> None:
    handlers = _ready(fake_assistant)
    choices = Handlers.choices(5, True, [], None, None, "openai", "http://127.0.0.1:9/v1", "")
    (message, *_), = handlers.chat("How many policemen were killed?", [], choices, {})
    assert message == "**Could not answer:** pick a model for openai in Settings " \
                      "(Test connection lists the server's models)"
