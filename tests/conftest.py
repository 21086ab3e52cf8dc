"""Shared fixtures: every test gets its own data dir; the real model loads once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from qa.settings import Settings
from tests.fakes import FakeEmbedder

# gradio_client's Client (the API tests drive the page with it) reports each connection to
# huggingface.co unless told not to; huggingface_hub reads this once, as it is imported.
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

# The same generated examples on every run (the README's test command is what CI runs): a
# property test that finds a new failure must not turn a later, unrelated run red at random.
# `HYPOTHESIS_PROFILE=explore pytest ...` searches afresh.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_ARTICLES = ROOT / "qa" / "samples" / "articles"
SAMPLE_ARTICLE = SAMPLE_ARTICLES / "kazakhstan-unrest.txt"
SAMPLE_QUESTIONS = ROOT / "qa" / "samples" / "questions" / "kazakhstan.jsonl"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's index or settings, or reaches a hub."""
    for key in list(os.environ):
        if key.startswith("QA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "qa-data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "qa-data")


@pytest.fixture
def reopened(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every ``ChromaStore.refresh`` (a reopen of the vectors) made during the test, by store."""
    from index.store import ChromaStore

    calls: list[object] = []
    real = ChromaStore.refresh

    def refresh(self: ChromaStore) -> None:
        calls.append(self)
        real(self)

    monkeypatch.setattr(ChromaStore, "refresh", refresh)
    return calls


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    """The bundled all-MiniLM-L6-v2, loaded once for the whole session."""
    from index.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.load()
    return embedder


@pytest.fixture
def fake_assistant(settings: Settings, fake_embedder: FakeEmbedder):  # type: ignore[no-untyped-def]
    """An Assistant over a real Chroma in a temp dir, with the fast fake embedder."""
    from qa.assistant import Assistant

    return Assistant(settings, embedder=fake_embedder)


@pytest.fixture(scope="session")
def sample_assistant(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """The real model and a real Chroma with the sample article indexed (shared, read-only)."""
    from qa.assistant import Assistant

    settings = Settings(data_dir=tmp_path_factory.mktemp("sample-index"))
    assistant = Assistant(settings, embedder=real_embedder)
    assistant.ingest([SAMPLE_ARTICLES])
    yield assistant


@pytest.fixture
def fake_store(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real embedded Chroma in a temp dir, labelled with the fake embedder's model name."""
    from index.store import ChromaStore

    return ChromaStore.persistent(tmp_path / "chroma", model_name=FakeEmbedder().name)


@pytest.fixture
def fake_ingestor(fake_store, fake_embedder: FakeEmbedder):  # type: ignore[no-untyped-def]
    """An Ingestor over ``fake_store`` with the fake embedder (``fake_embedder.embedded`` spies)."""
    from index.ingest import Ingestor

    return Ingestor(fake_store, fake_embedder)
