"""With a login set, nothing answers without it: page, config, API info, queue, files, /ask."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qa.settings import Settings
from tests.app.conftest import _free_port

pytestmark = pytest.mark.slow

REFUSED = {401, 403}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The page built with ``Settings(ui_auth=...)`` in code (no QA_UI_AUTH in the environment)."""
    from qa import ui
    from qa.assistant import Assistant
    from tests.fakes import FakeEmbedder

    data = tmp_path_factory.mktemp("auth-data")
    secret = data / "uploads" / "secret.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text("the secret article")
    settings = Settings(data_dir=data, ui_auth="ann:s3cret")
    page = ui.create_app(Assistant(settings, embedder=FakeEmbedder()))
    _, url, _ = page.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True,
                            quiet=True)
    try:
        yield url.rstrip("/"), secret
    finally:
        page.close()


def _status(url: str, *, data: bytes | None = None) -> tuple[int, str, str]:
    """(status, final URL, body) without credentials; redirects are followed like a browser."""
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.url, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, url, exc.read().decode("utf-8", "replace")


def test_the_page_itself_shows_only_the_login(guarded: tuple[str, Path]) -> None:
    base, _ = guarded
    status, _, body = _status(base + "/")
    # Gradio answers / with its login page: no app config in it.
    assert status == 200 and '"auth_required":true' in body.replace(" ", "")
    assert "News QA" not in body and "kazakhstan" not in body.lower()


@pytest.mark.parametrize("path", ["/config", "/gradio_api/info", "/gradio_api/queue/status",
                                  "/gradio_api/upload_progress?upload_id=x"])
def test_routes_refuse_without_credentials(guarded: tuple[str, Path], path: str) -> None:
    base, _ = guarded
    status, final, body = _status(base + path)
    assert status in REFUSED or final.rstrip("/").endswith("/login"), (status, body[:200])
    assert "News QA" not in body and "ask" not in body


def test_queue_join_and_files_refuse_without_credentials(guarded: tuple[str, Path]) -> None:
    base, secret = guarded
    join = json.dumps({"data": ["How many policemen were killed?"], "fn_index": 0,
                       "session_hash": "abc", "event_data": None, "trigger_id": None}).encode()
    assert _status(base + "/gradio_api/queue/join", data=join)[0] in REFUSED
    status, _, body = _status(f"{base}/gradio_api/file={secret}")
    assert status in REFUSED and "the secret article" not in body


def test_the_ask_api_refuses_without_credentials_and_answers_with_them(guarded: tuple[str, Path]) -> None:
    from gradio_client import Client

    base, _ = guarded
    with pytest.raises(Exception) as refused:  # any refusal, as long as nothing is answered
        Client(base + "/", verbose=False).predict(question="Who is the president?", api_name="/ask")
    assert "president" not in str(refused.value).lower() or "401" in str(refused.value)
    client: Any = Client(base + "/", auth=("ann", "s3cret"), verbose=False)
    answer = client.predict(question="How many policemen were killed in Almaty?", api_name="/ask")
    assert answer["answered"] is True
