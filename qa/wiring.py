"""The one place that builds the real dependencies from ``Settings``.

Everything else takes its dependencies as arguments (tests pass fakes); only this module knows
which concrete embedder, store and answer steps a configuration means.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from index.dedup import Deduper
from index.embedder import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder
from index.lexicon import Lexicon, lexicon_path
from index.store import ChromaStore
from qa.answer.sentence_store import FILE_NAME as SENTENCE_FILE
from qa.answer.sentence_store import SentenceStore
from qa.settings import Settings

if TYPE_CHECKING:
    # The answer side (LangChain under the chain) is imported where it is built: `qa ingest`,
    # `qa list` and `qa delete` build a store and an embedder only, and LangChain's import alone
    # took ~1.3 s of a one-article `qa ingest` (BENCHMARKS.md, "Scale ... 2026-12-07 eighth").
    from index.fetch import Fetcher
    from qa.answer.chain import AnswerChain
    from qa.answer.composer import Composer
    from qa.answer.history import Turn
    from qa.answer.matcher import Matcher
    from qa.answer.reader import OnnxReader


def model_name(settings: Settings) -> str:
    """One name per model, so an index built as "all-MiniLM-L6-v2" opens under the full name."""
    short = DEFAULT_MODEL.split("/", 1)[1]
    return DEFAULT_MODEL if settings.embedding_model in (DEFAULT_MODEL, short) else settings.embedding_model


def build_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """The configured sentence-transformers model (loaded later, on first use)."""
    return SentenceTransformerEmbedder(
        model_name(settings), device=settings.device, batch_size=settings.embed_batch_size,
        backend=settings.embed_backend, cache_dir=settings.model_cache_dir,
    )


def build_store(settings: Settings) -> ChromaStore:
    """A Chroma server when ``QA_CHROMA_HOST`` is set, else the embedded store in the data dir."""
    if settings.chroma_host:
        return ChromaStore.http(
            settings.chroma_host, settings.chroma_port,
            model_name=model_name(settings), ssl=settings.chroma_ssl,
        )
    return ChromaStore.persistent(settings.chroma_path, model_name=model_name(settings))


def build_deduper(settings: Settings) -> Deduper | None:
    """Near-duplicate grouping with its signature cache in the data dir (None when switched off)."""
    if not settings.dedup:
        return None
    return Deduper(settings.data_dir / "dedup.npz", threshold=settings.dedup_threshold)


def build_fetcher(settings: Settings) -> Fetcher:
    """An HTTP fetcher with the configured limits (used only for URLs the user gives)."""
    from index.fetch import FetchConfig, Fetcher

    return Fetcher(FetchConfig(
        timeout=settings.fetch_timeout, max_bytes=int(settings.fetch_max_mb * 1_000_000),
        max_redirects=settings.fetch_max_redirects,
    ))


def build_lexicon(settings: Settings, store: ChromaStore) -> Lexicon:
    """The keyword index of ``store``: a SQLite file beside an embedded store; for a Chroma
    server, this machine's copy in the data dir, caught up from the server's article versions."""
    return Lexicon(lexicon_path(store.location, settings.data_dir))


def build_sentence_store(settings: Settings) -> SentenceStore | None:
    """The answer step's sentence vectors kept in the data dir (None with
    ``QA_SENTENCE_CACHE=off``): a new process reads what earlier ones embedded."""
    return SentenceStore(settings.data_dir / SENTENCE_FILE) if settings.sentence_cache else None


def build_matcher_for(
    settings: Settings, embedder: Embedder, store: SentenceStore | None = None
) -> Matcher | None:
    """The answer step's matcher (``qa.answer.matcher``) beside a real embedding model, exported
    into the same model cache; None with ``QA_MATCHER=off`` or beside a test's fake embedder."""
    from qa.answer.matcher import VectorMatcher

    if not settings.matcher or not isinstance(embedder, SentenceTransformerEmbedder):
        return None
    # On the CPU whatever QA_DEVICE says: it embeds a few dozen sentences per question.
    return VectorMatcher(embedder.cache_dir, threads=QUESTION_THREADS, store=store)


# Intra-op threads of the models that read a few short inputs per question, unless
# OMP_NUM_THREADS says otherwise. The matcher: one (on 2 cores a second thread saved no time and
# cost CPU: cold question p50 278 ms either way, CPU 527 -> 452 ms; BENCHMARKS.md); it runs beside
# the reader. The reader: two, as its read is the longest step of an answered question (a read
# 17 -> 11 ms alone, 15 ms beside the matcher; BENCHMARKS.md, "Two threads for the reader").
# The bundled model keeps every core.
QUESTION_THREADS = 1
READER_THREADS = 2


def build_reader_for(settings: Settings, embedder: Embedder) -> OnnxReader | None:
    """The short-answer reader (``qa.answer.reader``) beside a real embedding model, exported into
    the same model cache; None with ``QA_READER=off`` or beside a test's fake embedder."""
    from qa.answer.reader import OnnxReader

    if not settings.reader or not isinstance(embedder, SentenceTransformerEmbedder):
        return None
    return OnnxReader(embedder.cache_dir, threads=min(READER_THREADS, os.cpu_count() or 1))


def build_chain(
    store: ChromaStore, embedder: Embedder, settings: Settings, *, composer: Composer | None = None,
    lexicon: Lexicon | None = None, sentences: SentenceStore | None = None,
) -> AnswerChain:
    """Retriever and answer steps from settings: extractive, or an LLM when ``QA_LLM`` is set
    (the extractive composer stays available per question, and is the LLM's fallback)."""
    from qa.answer.chain import AnswerChain
    from qa.answer.extractive import ExtractiveComposer, ExtractiveConfig
    from qa.answer.followup import standalone_query
    from qa.answer.retrieval import Retriever
    from qa.answer.sentvec import SentenceVectors

    lexicon = lexicon or build_lexicon(settings, store)
    # One cache of query and sentence vectors: the composer reuses the query vector retrieval
    # computed, and embeds each sentence of a returning passage only once (in its lifetime, and
    # across processes through the store in the data dir).
    kept = sentences or build_sentence_store(settings)
    vectors = SentenceVectors(embedder, store=kept)
    retriever = Retriever(
        store, vectors, lexicon, rrf_k=settings.rrf_k, candidates=settings.dense_candidates
    )
    # Term statistics come from the lexicon, cached until its file changes; the retriever
    # brings it in step with the store before each question.
    extractive = ExtractiveComposer(
        lexicon.idf,
        ExtractiveConfig(max_sentences=settings.max_answer_sentences,
                         abstain_below=settings.abstain_threshold,
                         min_span=settings.short_answer_floor),
        known=lexicon.knows,
        vectors=vectors,
        matcher=build_matcher_for(settings, embedder, kept),
        reader=build_reader_for(settings, embedder),
        store=kept,
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


def llm_settings(settings: Settings, *, kind: str, base_url: str | None, model: str | None) -> Settings:
    """``settings`` with another LLM backend (the chat page's picker). The API key is the
    environment's (``QA_LLM_API_KEY``, never taken from the page or a file), and it goes only to
    the URL the operator configured (or the backend's default URL when none is): a visitor who
    types another URL in the page must not collect it."""
    from qa.llm.backends import NO_KEY, backend_url

    picked = settings.model_copy(
        update={"llm": kind, "llm_base_url": base_url or None, "llm_model": model or None}
    )
    if backend_url(picked) != backend_url(settings.model_copy(update={"llm": kind})):
        picked = picked.model_copy(update={"llm_api_key": NO_KEY})
    return picked


def add_llm_composer(chain: AnswerChain, embedder: Embedder, settings: Settings) -> str:
    """Build the LLM answer step ``settings.llm`` describes and make it pickable per question on
    ``chain``; returns its name, the ``backend=`` option that picks it. Nothing is contacted yet.

    Its fallback is the chain's extractive composer, as for the configured LLM.
    """
    from qa.llm.generative import build_llm_composer

    composer = build_llm_composer(settings, embedder, fallback=chain.composers["extractive"])
    name = f"{composer.name}@{composer.llm.url}"
    composer.name = name
    chain.composers[name] = composer
    return name
