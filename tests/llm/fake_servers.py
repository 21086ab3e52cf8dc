"""Tiny OpenAI-compatible and Ollama-compatible chat servers on loopback, answering from a script.

They speak just enough of each wire format for the real LangChain clients: OpenAI's
``/v1/chat/completions`` (one JSON body, or SSE chunks when ``"stream": true``) and ``/v1/models``;
Ollama's ``/api/chat`` (NDJSON chunks, or one JSON body when ``"stream": false``) and ``/api/tags``.
Every request body is recorded so tests can check the prompt the model received.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class Reply:
    """One scripted answer: text (sent in ``pieces``), or a failure mode.

    ``respond``, when given, writes the text from the request body (to cite by what it was sent).
    """

    text: str = ""
    status: int = 200
    hang: bool = False
    garbage: bool = False
    pieces: int = 4
    respond: Callable[[dict[str, Any]], str] | None = None

    def text_for(self, body: dict[str, Any]) -> str:
        return self.respond(body) if self.respond else self.text


def chunks(text: str, pieces: int) -> list[str]:
    """``text`` cut into about ``pieces`` parts (cuts may fall inside a ``[n]`` marker)."""
    size = max(1, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class ScriptedServer:
    """A chat server answering each request with the next scripted ``Reply`` (the last repeats)."""

    kind = "base"

    def __init__(self, *replies: Reply, models: tuple[str, ...] = ("test-model",)) -> None:
        self.script = list(replies) or [Reply("NOT FOUND")]
        self.models = models
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.keys: list[str | None] = []  # each request's Authorization header
        self.headers: list[dict[str, str]] = []  # each request's headers, names in lower case
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """What a client is configured with."""
        return self.url

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def next_reply(self, body: dict[str, Any], path: str) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.paths.append(path)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def hang(self) -> None:
        # Holds the request until the test ends; the client's timeout must fire first.
        self._release.wait(timeout=30)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.keys.append(self.headers.get("Authorization"))
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                server.get(self)

            def do_POST(self) -> None:
                server.keys.append(self.headers.get("Authorization"))
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.post(self, body)

        return Handler

    def get(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def post(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        raise NotImplementedError


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def send_stream(handler: BaseHTTPRequestHandler, lines: list[bytes], content_type: str) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Connection", "close")
    handler.end_headers()
    for line in lines:
        handler.wfile.write(line)
        handler.wfile.flush()
    handler.close_connection = True


class OpenAIServer(ScriptedServer):
    """``/v1/chat/completions`` and ``/v1/models``, as vLLM or llama.cpp serve them."""

    kind = "openai"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def get(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.rstrip("/") != "/v1/models":
            send(handler, 404, b'{"error": {"message": "not found"}}', "application/json")
            return
        models = [{"id": m, "object": "model", "owned_by": "test"} for m in self.models]
        data = {"object": "list", "data": models}
        send(handler, 200, json.dumps(data).encode(), "application/json")

    def post(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        reply = self.next_reply(body, handler.path)
        if reply.hang:
            self.hang()
            return
        if reply.status != 200:
            error = {"error": {"message": f"scripted status {reply.status}", "type": "test", "code": None}}
            send(handler, reply.status, json.dumps(error).encode(), "application/json")
            return
        if reply.garbage:
            if body.get("stream"):
                events = [b"data: {this is not json\n\n", b"data: [DONE]\n\n"]
                send_stream(handler, events, "text/event-stream")
            else:
                send(handler, 200, b"<html>502 upstream exploded</html>", "application/json")
            return
        model = body.get("model", "test-model")
        text = reply.text_for(body)
        if not body.get("stream"):
            data = {
                "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            send(handler, 200, json.dumps(data).encode(), "application/json")
            return
        events = []
        for i, piece in enumerate([*chunks(text, reply.pieces), None]):
            delta = {} if piece is None else {"content": piece, **({"role": "assistant"} if i == 0 else {})}
            chunk = {
                "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if piece is None else None}],
            }
            events.append(f"data: {json.dumps(chunk)}\n\n".encode())
        send_stream(handler, [*events, b"data: [DONE]\n\n"], "text/event-stream")


class OllamaServer(ScriptedServer):
    """``/api/chat`` and ``/api/tags``, as Ollama serves them."""

    kind = "ollama"

    def get(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.rstrip("/") != "/api/tags":
            send(handler, 404, b'{"error": "not found"}', "application/json")
            return
        data = {"models": [{"name": m, "model": m, "size": 1, "digest": "0"} for m in self.models]}
        send(handler, 200, json.dumps(data).encode(), "application/json")

    def post(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        reply = self.next_reply(body, handler.path)
        if reply.hang:
            self.hang()
            return
        if reply.status != 200:
            send(handler, reply.status, json.dumps({"error": f"scripted status {reply.status}"}).encode(),
                 "application/json")
            return
        if reply.garbage:
            send_stream(handler, [b"{this is not json\n"], "application/x-ndjson")
            return
        model = body.get("model", "test-model")

        def message(content: str, done: bool) -> dict[str, Any]:
            return {
                "model": model, "created_at": "2024-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": content}, "done": done,
                **({"done_reason": "stop", "prompt_eval_count": 1, "eval_count": 1} if done else {}),
            }

        text = reply.text_for(body)
        if body.get("stream", True) is False:
            send(handler, 200, json.dumps(message(text, True)).encode(), "application/json")
            return
        lines = [json.dumps(message(p, False)).encode() + b"\n" for p in chunks(text, reply.pieces)]
        send_stream(handler, [*lines, json.dumps(message("", True)).encode() + b"\n"], "application/x-ndjson")
