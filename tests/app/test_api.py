"""The Gradio API: gradio_client asks questions and gets the answer with its citations as JSON."""

from __future__ import annotations

from typing import Any

import pytest

from tests.app.conftest import LiveApp, _free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(live_app: LiveApp) -> Any:
    from gradio_client import Client
    from huggingface_hub import constants

    assert constants.HF_HUB_DISABLE_TELEMETRY  # no report of this client to huggingface.co
    return Client(live_app.url + "/", verbose=False)


def test_ask_endpoint_returns_the_answer_and_verbatim_citations(client: Any, live_app: LiveApp) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/ask", "/info"]
    answer = client.predict(question="How many policemen were killed in Almaty?", api_name="/ask")
    assert answer["answered"] is True and "Twelve" in answer["text"]
    assert answer["citations"] and answer["passages"] and "total" in answer["timings"]
    for c in answer["citations"]:
        assert live_app.assistant.article_text(c["article_id"])[c["start"] : c["end"]] == c["quote"]


def test_info_endpoint_answers_a_challenge_with_a_proof_and_nothing_else(
    client: Any, live_app: LiveApp
) -> None:
    # What `qa ask` compares before answering through the page (qa/cli/remote.py).
    from urllib.parse import urlsplit

    nonce, other, port = "a" * 32, "b" * 32, urlsplit(live_app.url).port
    info = client.predict(nonce=nonce, api_name="/info")
    settings = live_app.assistant.settings
    token = settings.serve_token()  # written by the page's launch, owner-only
    assert token and (settings.data_dir / "serve-token").stat().st_mode & 0o077 == 0
    assert info == {"proof": settings.proof(token, nonce, port)} and len(info["proof"]) == 64
    # A new challenge, a new proof: one seen once is no proof for the next.
    assert client.predict(nonce=other, api_name="/info") == {"proof": settings.proof(token, other, port)}
    assert settings.proof(token, other, port) != info["proof"]
    # Nor for another port, nor without the data dir's secret; a short challenge gets nothing.
    assert settings.proof(token, nonce, (port or 0) + 1) != info["proof"]
    assert settings.proof("0" * 32, nonce, port) != info["proof"]
    assert settings.proof(None, nonce, port) is None
    assert client.predict(nonce="short", api_name="/info") == {"proof": None}


def test_ask_endpoint_follows_up_on_history(client: Any) -> None:
    answer = client.predict(question="And how many were injured?",
                            history=["How many policemen were killed in Almaty?"], api_name="/ask")
    assert "353" in answer["text"]


def test_ask_endpoint_options_and_abstention(client: Any) -> None:
    answer = client.predict(question="What is the capital of Australia?", k=2, hybrid=False, api_name="/ask")
    assert answer["answered"] is False and answer["citations"] == []
    assert len(answer["passages"]) <= 2


def test_ask_endpoint_explains_a_bad_question(client: Any) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="empty"):
        client.predict(question="  ", api_name="/ask")


def test_a_configured_login_is_required(fake_assistant: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx
    from gradio_client import Client

    from qa import ui

    settings = fake_assistant.settings.model_copy(update={"ui_auth": "ann:secret"})
    page = ui.create_app(fake_assistant, settings=settings)
    _, url, _ = page.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True,
                            quiet=True)
    try:
        assert httpx.get(url + "config").status_code == 401
        with pytest.raises(ValueError):
            Client(url, verbose=False)
        assert "/ask" in Client(url, auth=("ann", "secret"), verbose=False).view_api(
            print_info=False, return_format="dict")["named_endpoints"]
    finally:
        page.close()
