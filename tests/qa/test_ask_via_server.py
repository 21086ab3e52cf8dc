"""`qa ask` answers through a running `qa serve` with the same settings, and in-process otherwise.

A real `qa serve` on a loopback port, started here on a copy of the sample index and stopped at
the end; `qa ask` runs in fresh processes (the CLI through typer's runner, so the test can see
what the process imported: answering through the page must not load Chroma).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from index.embedder import default_cache_dir
from qa.cli.remote import served_answer
from qa.settings import Settings
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
READY = "newsqa ready at "
QUESTION = "Which buildings did extremist forces try to assault?"
ASK = """
import json, logging, sys
logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
from typer.testing import CliRunner
from qa.cli import app
from qa.cli.common import finish_loading
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"code": result.exit_code, "output": result.output,
                  "chromadb": "chromadb" in sys.modules, "onnxruntime": "onnxruntime" in sys.modules}))
# What `qa.cli.main` does: a command that ended before the model load it started (an empty
# index) lets the load finish; stopped inside onnxruntime at exit, the process aborts.
finish_loading(result.exit_code)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    # The session's model export, so neither side exports again.
    return {**env, "QA_PORT": str(port), "QA_MODEL_CACHE": str(default_cache_dir()),
            "PYTHONPATH": str(ROOT), **extra}


@pytest.fixture(scope="module")
def index_copy(sample_assistant: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("served") / "data"
    shutil.copytree(sample_assistant.settings.data_dir, data)
    return data


@pytest.fixture(scope="module")
def page(index_copy: Path) -> Iterator[int]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "serve", "--data-dir", str(index_copy)], cwd=ROOT,
        env=_env(port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in server.stdout or ()], daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while not any(READY in line for line in seen):
            assert server.poll() is None, "qa serve exited:\n" + "".join(seen)
            assert time.monotonic() < deadline, "no ready line:\n" + "".join(seen)
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=1))
        yield port
    finally:
        server.terminate()
        server.wait(timeout=60)


def _ask(index: Path, port: int, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", ASK, "ask", QUESTION, "--data-dir", str(index), *args], cwd=ROOT,
        env=_env(port), capture_output=True, text=True, timeout=600, check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["log"] = [line for line in done.stderr.splitlines() if line.startswith("qa.cli.remote")]
    return result


def _without_timings(output: str) -> dict[str, Any]:
    answer = json.loads(output)
    assert answer["timings"]  # both sides time their steps; only the numbers differ
    answer.pop("timings")
    return answer  # type: ignore[no-any-return]


def test_ask_answers_through_the_page_with_the_same_json_as_in_process(index_copy: Path, page: int) -> None:
    served = _ask(index_copy, page, "--json")
    local = _ask(index_copy, page, "--json", "--no-server")
    assert served["code"] == local["code"] == 0
    # Nothing loaded: the page answered.
    assert not served["chromadb"] and not served["onnxruntime"], served["log"]
    assert local["chromadb"] and local["onnxruntime"]
    assert _without_timings(served["output"]) == _without_timings(local["output"])
    assert json.loads(served["output"])["answered"]


def test_human_output_through_the_page_matches_in_process(index_copy: Path, page: int) -> None:
    served, local = _ask(index_copy, page), _ask(index_copy, page, "--no-server")
    assert not served["chromadb"] and served["output"] == local["output"]
    assert "[1]" in served["output"]


def test_a_page_serving_other_settings_is_not_used(index_copy: Path, page: int, tmp_path: Path) -> None:
    # Same index, other retrieval settings: the page would answer differently, so it is not asked.
    settings = Settings(data_dir=index_copy, port=page, model_cache=default_cache_dir(), top_k=3)
    assert served_answer(settings, QUESTION, k=None, hybrid=True, article_ids=None,
                         published_from=None, published_to=None) is None
    same = Settings(data_dir=index_copy, port=page, model_cache=default_cache_dir())
    answer = served_answer(same, QUESTION, k=None, hybrid=True, article_ids=None,
                           published_from=None, published_to=None)
    assert answer is not None and answer["question"] == QUESTION
    # Another data dir: answered in-process, from that (empty) index, which has nothing to say.
    (tmp_path / "empty" / "chroma").mkdir(parents=True)
    other = _ask(tmp_path / "empty", page, "--json")
    assert other["chromadb"] and "Almaty" not in other["output"], other


def test_without_a_page_ask_answers_in_process(index_copy: Path) -> None:
    port = _free_port()  # nothing listens there
    settings = Settings(data_dir=index_copy, port=port, model_cache=default_cache_dir())
    assert served_answer(settings, QUESTION, k=None, hybrid=True, article_ids=None,
                         published_from=None, published_to=None) is None
    alone = _ask(index_copy, port, "--json")
    assert alone["code"] == 0 and alone["chromadb"] and json.loads(alone["output"])["answered"]


def test_a_page_that_cannot_prove_the_data_dirs_secret_is_not_trusted(
    index_copy: Path, page: int, tmp_path: Path
) -> None:
    """Same settings, same data dir, but the page does not know the secret `qa ask` reads there
    (as a process posing as the page would not): its answer is never used."""
    settings = Settings(data_dir=index_copy, port=page, model_cache=default_cache_dir())
    token = index_copy / "serve-token"
    real = token.read_text()
    token.write_text("a secret the page does not hold")
    try:
        assert served_answer(settings, QUESTION, k=None, hybrid=True, article_ids=None,
                             published_from=None, published_to=None) is None
    finally:
        token.write_text(real)
    # And a proxy in the environment is never asked: the call still goes straight to loopback.
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, {"HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
                                      "NO_PROXY": "", "no_proxy": ""}):
        answer = served_answer(settings, QUESTION, k=None, hybrid=True, article_ids=None,
                               published_from=None, published_to=None)
    assert answer is not None and answer["question"] == QUESTION


def test_a_process_relaying_the_pages_proof_from_another_port_is_not_trusted(
    index_copy: Path, page: int
) -> None:
    """Another local process on the port `qa ask` tries passes each challenge on to the real
    page (on another port) and answers with its proof. A static fingerprint could even be
    replayed; a proof of nonce and settings alone could be relayed. It names the port: neither
    is trusted, and the user's question never reaches the impostor."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from qa.cli.remote import call

    asked: list[str] = []
    posted: dict[str, list[Any]] = {}

    class Impostor(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            api = self.path.rsplit("/", 1)[-1]
            asked.append(api)
            posted[api] = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))["data"]
            self._send(json.dumps({"event_id": api}).encode(), "application/json")

        def do_GET(self) -> None:
            relayed = call(page, "info", posted["info"], timeout=10.0) if self.path.endswith("/info") else {
                "question": QUESTION, "text": "forged"}
            self._send(f"event: complete\ndata: {json.dumps([relayed])}\n\n".encode(), "text/event-stream")

        def _send(self, body: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Impostor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        settings = Settings(data_dir=index_copy, port=port, model_cache=default_cache_dir())
        assert served_answer(settings, QUESTION, k=None, hybrid=True, article_ids=None,
                             published_from=None, published_to=None) is None
    finally:
        server.shutdown()
        server.server_close()
    assert asked == ["info"]  # the question never reached it


def test_a_proof_that_is_not_ascii_is_no_proof_and_no_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hmac.compare_digest refuses str with non-ASCII: anything listening on the port could make
    every `qa ask` die with a TypeError."""
    from qa.cli import remote

    settings = Settings(data_dir=tmp_path, port=9)
    settings.serve_token(create=True)
    monkeypatch.setattr(remote, "_listening", lambda port: True)
    monkeypatch.setattr(remote, "call", lambda *args, **kwargs: {"proof": "é" * 64})
    assert served_answer(settings, QUESTION, k=None, hybrid=True, article_ids=None,
                         published_from=None, published_to=None) is None


def test_every_shipped_weight_file_is_in_the_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page started before any refit (the models' JSON, the matcher's or the reader's LoRA
    file) is not trusted to answer for a CLI that would answer otherwise."""
    import qa.settings as settings_module

    answer_dir = ROOT / "qa" / "answer"
    shipped = {p.name for p in answer_dir.iterdir() if p.suffix in (".json", ".npz")}
    assert {"reader-v1.npz", "matcher-v1.npz", "spans-v3.json"} <= shipped
    assert {p.name for p in settings_module._WEIGHTS} == shipped
    before = Settings().fingerprint("t")
    monkeypatch.setattr(settings_module, "_WEIGHTS",
                        [p for p in settings_module._WEIGHTS if p.name != "reader-v1.npz"])
    assert Settings().fingerprint("t") != before
