"""Answer through a running ``qa serve`` on this machine, when one serves the same index.

A cold ``qa ask`` spends seconds importing Chroma and LangChain, opening the store and loading the
model, for an answer that takes milliseconds; a page already running has all of that warm. So
``qa ask`` first tries the page's ``ask`` API on loopback (Gradio's two-step call API: POST starts
the call, GET streams its result), with a short connect timeout, and answers in-process when
nothing listens, the page asks for a login, or it serves other settings (a different data dir,
model, retrieval or LLM setting, code version or fitted weights): the page's ``info`` API returns
``Settings.proof(token, nonce, port)`` for a fresh random challenge: an HMAC, keyed by the secret
the page keeps in its data dir (``Settings.serve_token``, owner-only), of the challenge, the port
it serves on and a hash of every answer-shaping setting (``Settings.fingerprint``). The two must
agree: another local process cannot pose as the page, not by replaying a proof it saw, nor by
relaying the real page's proof from another port. Requests never go through a proxy. Only the
standard library is used: nothing heavy is imported on this path.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import socket
import time
import urllib.error
import urllib.request
from typing import Any

from qa.settings import Settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 0.25


def server_port(settings: Settings) -> int:
    """The port ``qa serve`` binds with these settings: QA_PORT, else GRADIO_SERVER_PORT, else 7860."""
    if settings.port:
        return settings.port
    configured = os.environ.get("GRADIO_SERVER_PORT", "")
    return int(configured) if configured.isdigit() else 7860


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT):
            return True
    except OSError:
        return False


# Loopback only, never through an HTTP(S)_PROXY from the environment (urllib would send even
# 127.0.0.1 there unless NO_PROXY says otherwise).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(port: int, api: str, data: list[Any], *, timeout: float) -> Any:
    """One call of a Gradio API endpoint on loopback; its single output, or raises OSError/ValueError.

    ``timeout`` bounds the whole call: the page's event stream sends heartbeats while a question
    waits in its queue, so a per-read timeout alone could wait for ever.
    """
    deadline = time.monotonic() + timeout
    base = f"http://127.0.0.1:{port}/gradio_api/call/{api}"
    request = urllib.request.Request(
        base, data=json.dumps({"data": data}).encode(), headers={"Content-Type": "application/json"},
        method="POST",
    )
    with _OPENER.open(request, timeout=timeout) as response:
        event_id = json.loads(response.read())["event_id"]
    with _OPENER.open(f"{base}/{event_id}", timeout=timeout) as stream:
        event = None
        for raw in stream:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page did not answer within {timeout:.0f} s")
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    raise ValueError(f"the page answered with an error: {line[5:].strip()}")
                return json.loads(line[5:])[0]
    raise ValueError("the page closed the call without a result")


def served_answer(
    settings: Settings, question: str, *, k: int | None, hybrid: bool, article_ids: list[str] | None,
    published_from: str | None, published_to: str | None,
) -> dict[str, Any] | None:
    """``Answer.to_dict()`` from a running page serving these settings, else None (answer here).

    A failure on the page (a question it refuses) also gives None: answering in-process then
    raises the same error, named, with its usual message.
    """
    if not settings.ask_via_server:
        return None
    port = server_port(settings)
    token = settings.serve_token()
    if token is None or not _listening(port):
        return None  # no page has served this data dir, or none listens
    try:
        nonce = secrets.token_hex(16)  # a fresh challenge: a proof seen once cannot be replayed
        info = call(port, "info", [nonce], timeout=10.0)
        expected = settings.proof(token, nonce, port) or ""
        got = str(info.get("proof") or "") if isinstance(info, dict) else ""
        # Bytes: compare_digest refuses str with non-ASCII (anything may answer on this port).
        if not hmac.compare_digest(got.encode("utf-8"), expected.encode("utf-8")):
            log.debug("the page on port %d serves other settings; answering here", port)
            return None
        answer = call(
            port, "ask", [question, k or 0, hybrid, article_ids, published_from, published_to, None],
            timeout=settings.llm_timeout + 30.0,
        )
    except (OSError, ValueError, KeyError, urllib.error.URLError) as exc:
        log.debug("no answer from the page on port %d (%s); answering here", port, exc)
        return None
    return answer if isinstance(answer, dict) else None
