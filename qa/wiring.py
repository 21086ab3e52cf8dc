"""The one place that builds the real dependencies from ``Settings``.

Everything else takes its dependencies as arguments (tests pass fakes); only this module knows
which concrete embedder, store and answer steps a configuration means.
"""

from __future__ import annotations

from collections.abc import Sequence

from index.embedder import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder
from index.store import ChromaStore
from qa.answer.chain import AnswerChain
from qa.answer.composer import Composer
from qa.answer.extractive import ExtractiveComposer, ExtractiveConfig
from qa.answer.followup import standalone_query
from qa.answer.history import Turn
from qa.answer.retrieval import Retriever
from qa.answer.sentvec import SentenceVectors
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


def build_chain(
    store: ChromaStore, embedder: Embedder, settings: Settings, *, composer: Composer | None = None
) -> AnswerChain:
    """Retriever and answer steps from settings: extractive, or an LLM when ``QA_LLM`` is set
    (the extractive composer stays available per question, and is the LLM's fallback)."""
    # One cache of query and sentence vectors: the composer reuses the query vector retrieval
    # computed, and embeds each sentence of a returning passage only once.
    vectors = SentenceVectors(embedder)
    retriever = Retriever(store, vectors, rrf_k=settings.rrf_k, candidates=settings.dense_candidates)
    extractive = ExtractiveComposer(
        lambda term: retriever.lexical().idf(term),
        ExtractiveConfig(max_sentences=settings.max_answer_sentences,
                         abstain_below=settings.abstain_threshold),
        known=lambda term: retriever.lexical().knows(term),
        vectors=vectors,
    )
    condense = None
    if composer is None and settings.llm != "none":
        from qa.llm.generative import build_llm_composer, condense_question

        llm_composer = build_llm_composer(settings, embedder, fallback=extractive)
        llm = llm_composer.llm

        def condense(question: str, history: Sequence[Turn]) -> str:
            return condense_question(llm, question, history, fallback=standalone_query)

        composer = llm_composer
    return AnswerChain(
        store, retriever, composer or extractive, settings, condense=condense,
        alternatives={"extractive": extractive},
    )
