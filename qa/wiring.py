"""The one place that builds the real dependencies from ``Settings``."""

from __future__ import annotations

from index.embedder import DEFAULT_MODEL, SentenceTransformerEmbedder
from index.store import ChromaStore
from qa.settings import Settings


def model_name(settings: Settings) -> str:
    """One name per model, so an index built as "all-MiniLM-L6-v2" opens under the full name."""
    short = DEFAULT_MODEL.split("/", 1)[1]
    return DEFAULT_MODEL if settings.embedding_model in (DEFAULT_MODEL, short) else settings.embedding_model


def build_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """The configured sentence-transformers model (loaded later, on first use)."""
    return SentenceTransformerEmbedder(
        model_name(settings), device=settings.device, batch_size=settings.embed_batch_size
    )


def build_store(settings: Settings) -> ChromaStore:
    """A Chroma server when ``QA_CHROMA_HOST`` is set, else the embedded store in the data dir."""
    if settings.chroma_host:
        return ChromaStore.http(
            settings.chroma_host, settings.chroma_port,
            model_name=model_name(settings), ssl=settings.chroma_ssl,
        )
    return ChromaStore.persistent(settings.chroma_path, model_name=model_name(settings))
