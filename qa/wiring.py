"""The one place that builds the real dependencies from ``Settings``."""

from __future__ import annotations

from index.embedder import SentenceTransformerEmbedder
from index.store import ChromaStore
from qa.settings import Settings


def build_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """The configured sentence-transformers model (loaded later, on first use)."""
    return SentenceTransformerEmbedder(
        settings.embedding_model, device=settings.device, batch_size=settings.embed_batch_size
    )


def build_store(settings: Settings) -> ChromaStore:
    """A Chroma server when ``QA_CHROMA_HOST`` is set, else the embedded store in the data dir."""
    if settings.chroma_host:
        return ChromaStore.http(
            settings.chroma_host, settings.chroma_port,
            model_name=settings.embedding_model, ssl=settings.chroma_ssl,
        )
    return ChromaStore.persistent(settings.chroma_path, model_name=settings.embedding_model)
