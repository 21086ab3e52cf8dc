"""The retrieval chain as LangChain runnables (LCEL): question -> passages -> draft -> answer.

```
prepare | assign(passages=retrieve) | assign(draft=compose) | verify
```
Built by ``build_chain`` (never at import). The composer is the one swappable step.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from index.embedder import Embedder
from index.errors import QuestionError
from index.store import ChromaStore
from qa.citations import finalize
from qa.composer import Composer, ComposeRequest, Draft
from qa.extractive import ExtractiveComposer
from qa.followup import standalone_query, user_turns
from qa.models import Answer
from qa.retrieval import Retriever, SearchOptions
from qa.settings import Settings

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_question(question: Any, *, limit: int) -> str:
    """Reject what cannot be a question; strip control characters from what can."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, got {type(question).__name__}")
    text = " ".join(_CONTROL.sub(" ", question).split())
    if not text:
        raise QuestionError("the question is empty: type a question about the indexed articles")
    if len(text) > limit:
        raise QuestionError(
            f"the question is {len(text):,} characters long; the limit is {limit:,} "
            "(QA_MAX_QUESTION_CHARS)"
        )
    return text


class AnswerChain:
    """Holds the runnable and its parts; ``ask`` and ``stream`` are what the Assistant calls."""

    def __init__(
        self, store: ChromaStore, retriever: Retriever, composer: Composer, settings: Settings,
        *, condense: Any = None, alternatives: dict[str, Composer] | None = None,
    ) -> None:
        self.store = store
        self.retriever = retriever
        self.composer = composer
        self.settings = settings
        self._condense = condense
        # Answer steps a caller may pick per question (the chat's backend picker).
        self.composers = {composer.name: composer, **(alternatives or {})}
        self.runnable: Runnable[dict[str, Any], Answer] = (
            RunnableLambda(self._prepare)
            | RunnablePassthrough.assign(passages=RunnableLambda(self._retrieve))
            | RunnablePassthrough.assign(draft=RunnableLambda(self._compose))
            | RunnableLambda(self._verify)
        )

    def index_changed(self) -> None:
        self.retriever.index_changed()

    def ask(self, question: str, *, history: Sequence[Any] = (), **options: Any) -> Answer:
        return self.runnable.invoke({"question": question, "history": history, "options": options})

    def stream(self, question: str, *, history: Sequence[Any] = (), **options: Any) -> Iterator[str | Answer]:
        state = self._prepare({"question": question, "history": history, "options": options})
        state["passages"] = self._retrieve(state)
        started = time.perf_counter()
        draft: Draft | None = None
        for piece in self._composer_for(state).stream(self._request(state)):
            if isinstance(piece, str):
                yield piece
            else:
                draft = piece
        state["timings"]["compose"] = time.perf_counter() - started
        assert draft is not None, "a composer's stream must end with its Draft"
        state["draft"] = draft
        yield self._verify(state)

    # -- steps ---------------------------------------------------------------------------------

    def _prepare(self, state: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        question = clean_question(state["question"], limit=self.settings.max_question_chars)
        history = tuple(user_turns(state.get("history") or ()))
        if self.store.count_chunks() == 0:
            raise QuestionError("nothing is indexed yet: add articles first (qa ingest PATH)")
        backend = (state.get("options") or {}).get("backend")
        own_backend = backend in (None, self.composer.name, self.settings.llm)
        if self._condense is not None and history and own_backend:
            standalone = self._condense(question, history)
        else:
            standalone = standalone_query(question, history)
        opts = {k: v for k, v in (state.get("options") or {}).items() if v is not None}
        ids = opts.get("article_ids")
        search = SearchOptions(
            k=int(opts.get("k") or self.settings.top_k),
            hybrid=bool(opts.get("hybrid", self.settings.hybrid)),
            article_ids=tuple([ids] if isinstance(ids, str) else ids) if ids else None,
            published_from=opts.get("published_from") or None,
            published_to=opts.get("published_to") or None,
        )
        if search.k < 1:
            raise QuestionError(f"k must be at least 1, got {search.k}")
        timings = {"prepare": time.perf_counter() - started}
        return {"question": question, "standalone": standalone, "history": history,
                "search": search, "timings": timings, "backend": backend}

    def _retrieve(self, state: dict[str, Any]) -> Any:
        passages, timings = self.retriever.retrieve(state["standalone"], state["search"])
        state["timings"].update(timings)
        return tuple(passages)

    def _request(self, state: dict[str, Any]) -> ComposeRequest:
        return ComposeRequest(state["question"], state["standalone"], state["history"], state["passages"])

    def _composer_for(self, state: dict[str, Any]) -> Composer:
        name = state.get("backend")
        if not name or name in (self.composer.name, self.settings.llm):
            return self.composer
        if name == "none":
            name = "extractive"
        if name not in self.composers:
            raise QuestionError(
                f"unknown answer backend {name!r}; available: {', '.join(sorted(self.composers))}"
            )
        return self.composers[name]

    def _compose(self, state: dict[str, Any]) -> Draft:
        started = time.perf_counter()
        draft = self._composer_for(state).compose(self._request(state))
        state["timings"]["compose"] = time.perf_counter() - started
        return draft

    def _verify(self, state: dict[str, Any]) -> Answer:
        started = time.perf_counter()
        draft: Draft = state["draft"]
        wanted = {q.article_id for s in draft.segments for q in s.quotes}
        texts = self.store.article_texts(wanted)
        timings = state["timings"]
        answer = finalize(self._request(state), draft, texts, timings=timings)
        timings["verify"] = time.perf_counter() - started
        timings["total"] = sum(v for k, v in timings.items() if k != "total")
        return answer


def build_chain(
    store: ChromaStore, embedder: Embedder, settings: Settings, *, composer: Composer | None = None
) -> AnswerChain:
    """Wire retriever and composer from settings (an LLM composer when ``QA_LLM`` is set)."""
    from qa.extractive import ExtractiveConfig

    retriever = Retriever(store, embedder, rrf_k=settings.rrf_k, candidates=settings.dense_candidates)
    extractive = ExtractiveComposer(
        lambda term: retriever.lexical().idf(term),
        ExtractiveConfig(max_sentences=settings.max_answer_sentences,
                         abstain_below=settings.abstain_threshold),
        known=lambda term: retriever.lexical().knows(term),
    )
    condense = None
    if composer is None and settings.llm != "none":
        from qa.generative import build_llm_composer, condense_question

        llm_composer = build_llm_composer(settings, embedder, fallback=extractive)
        llm = llm_composer.llm

        def condense(question: str, history: Sequence[str]) -> str:
            return condense_question(llm, question, history, fallback=standalone_query)

        composer = llm_composer
    return AnswerChain(
        store, retriever, composer or extractive, settings, condense=condense,
        alternatives={"extractive": extractive},
    )
