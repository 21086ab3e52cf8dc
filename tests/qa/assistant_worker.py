"""A long-lived ``Assistant`` in its own process, driven one JSON command per line (for the
cross-process tests). It uses the fake embedder, so its index must be built with it too.

Usage: python -m tests.qa.assistant_worker DATA_DIR [CHROMA_PORT]
Commands: {"op": "ask", "question": ..., "hybrid": bool, "article_ids": [...] | null}
          -> {"passages": [[article_id, text], ...], "dense": [...], "lexical": [...]}
          {"op": "ingest", "paths": [...]} -> {"summary": ...}
          {"op": "delete", "id": ...} -> {"deleted": bool}
Prints "ready" once the assistant is open.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from qa.assistant import Assistant
from qa.settings import Settings
from tests.fakes import FakeEmbedder


def handle(assistant: Assistant, command: dict[str, Any]) -> dict[str, Any]:
    if command["op"] == "ask":
        answer = assistant.ask(
            command["question"], hybrid=command.get("hybrid", True),
            article_ids=command.get("article_ids"),
        )
        return {
            "passages": [[p.article_id, p.text] for p in answer.passages],
            "dense": [p.dense_score for p in answer.passages],
            "lexical": [p.lexical_score for p in answer.passages],
        }
    if command["op"] == "ingest":
        return {"summary": assistant.ingest(command["paths"]).summary()}
    if command["op"] == "delete":
        return {"deleted": assistant.delete(command["id"])}
    raise ValueError(f"unknown op {command['op']!r}")


def main(data_dir: str, port: str = "") -> None:
    server = {"chroma_host": "127.0.0.1", "chroma_port": int(port)} if port else {}
    settings = Settings(data_dir=data_dir, **server)
    assistant = Assistant(settings, embedder=FakeEmbedder())
    print("ready", flush=True)
    for line in sys.stdin:
        print(json.dumps(handle(assistant, json.loads(line))), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
