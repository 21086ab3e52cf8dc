"""Nothing leaves the machine: no hub, no telemetry; and importing ``qa`` loads no heavy backend."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from index.ingest import Ingestor
from index.store import ChromaStore
from tests.conftest import ROOT, SAMPLE_ARTICLES
from tests.index import netguard

HEAVY = ("torch", "sentence_transformers", "transformers", "chromadb", "gradio", "trafilatura")


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would switch the hub off for us."""
    drop = {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "ANONYMIZED_TELEMETRY"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def test_guard_blocks_remote_and_allows_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = netguard.install(monkeypatch.setattr)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()):
            pass
    with pytest.raises(OSError, match="blocked by the test"):
        socket.create_connection(("huggingface.co", 443))
    with socket.socket() as sock, pytest.raises(OSError, match="blocked by the test"):
        sock.connect(("192.0.2.1", 443))
    assert blocked == ["getaddrinfo 'huggingface.co'", "connect ('192.0.2.1', 443)"]


def test_real_model_ingest_and_search_make_no_remote_connection(
    monkeypatch: pytest.MonkeyPatch, real_embedder: Any, tmp_path: Path
) -> None:
    blocked = netguard.install(monkeypatch.setattr)
    store = ChromaStore.persistent(tmp_path / "chroma", model_name=real_embedder.name)
    report = Ingestor(store, real_embedder).ingest([SAMPLE_ARTICLES])
    hits = store.search(real_embedder.embed_query("Who did the president address?"), 2)
    assert report.ok and report.chunks_added > 1 and hits
    assert blocked == []


@pytest.mark.slow
def test_qa_ingest_in_a_fresh_process_loads_the_model_with_the_network_blocked(tmp_path: Path) -> None:
    # No HF_HUB_OFFLINE in this process: the embedder itself must keep the hub away.
    data = str(tmp_path / "data")
    script = f"""
import json, sys
from tests.index import netguard
blocked = netguard.install(setattr)
from qa.cli import main
sys.argv = ["qa", "ingest", {str(SAMPLE_ARTICLES)!r}, "--data-dir", {data!r}]
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"exit": code, "blocked": blocked}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=_clean_env(),
        check=False,
    )
    summary, result = done.stdout.strip().splitlines()[-2:]
    assert json.loads(result) == {"exit": 0, "blocked": []}, done.stderr[-3000:]
    assert summary.startswith("1 added, 0 updated, 0 unchanged, 0 removed, 0 failed")
    # The installed entry point reads what that process wrote.
    listed = subprocess.run(
        [str(Path(sys.executable).with_name("qa")), "list", "--json", "--data-dir", data],
        capture_output=True, text=True, check=True,
    )
    records = json.loads(listed.stdout)
    assert [r["id"] for r in records] == ["kazakhstan-unrest"] and records[0]["chunks"] > 1


def test_importing_qa_loads_no_model_store_or_ui_library() -> None:
    code = (
        "import json, sys\n"
        "import qa, qa.cli, qa.assistant, index.ingest, index.store, index.embedder, index.loaders\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=_clean_env(), check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == []
