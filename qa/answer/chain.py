"""The retrieval chain as one LangChain runnable (LCEL): question -> passages -> cited answer.

```
prepare | assign(passages=retrieve) | answer   (answer = compose, then verify citations)
```
``answer`` is a generator step: streamed, it yields ``{"delta": text}`` chunks as the composer
produces them and ends with ``{"answer": Answer}``; invoked, LangChain adds the chunks up into one
``{"delta": full_text, "answer": Answer}``. ``ask()`` and ``stream()`` (the chat page) both run
this one runnable, so callbacks and tracing see every request; ``ainvoke``, ``astream`` and
``astream_events`` work too (the answer step has an async variant). Built by ``qa.wiring.build_chain``,
never at import. The composer is the one swappable step.
"""

from __future__ import annotations

import asyncio
import numbers
import re
import time
import unicodedata
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda, RunnablePassthrough
from langchain_core.runnables.utils import AddableDict

from index.store import ChromaStore
from qa.answer import conflicts, stories
from qa.answer.citations import finalize
from qa.answer.composer import Composer, ComposeRequest, Draft
from qa.answer.figures import asked_figure
from qa.answer.followup import standalone_query
from qa.answer.groups import collapse_groups
from qa.answer.history import Turn, check_text, parse_history
from qa.answer.recency import LatestFirst
from qa.answer.relative_dates import with_dates
from qa.answer.retrieval import Retriever, SearchOptions
from qa.errors import QuestionError
from qa.models import Answer
from qa.settings import Settings

# The options ``ask`` and ``stream`` take; anything else is a caller's typo, said out loud.
OPTIONS = frozenset({"k", "hybrid", "article_ids", "published_from", "published_to", "backend"})

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_question(question: Any, *, limit: int) -> str:
    """Reject what cannot be a question; normalise what can.

    NFC-normalised; control characters become spaces and Unicode format characters (category
    Cf: bidi overrides, zero-width spaces, soft hyphens) are dropped, since they change nothing a
    reader sees but break matching against the articles.
    """
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, got {type(question).__name__}")
    check_text(question, "the question")
    text = unicodedata.normalize("NFC", _CONTROL.sub(" ", question))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty: type a question about the indexed articles")
    if len(text) > limit:
        raise QuestionError(
            f"the question is {len(text):,} characters long; the limit is {limit:,} "
            "(QA_MAX_QUESTION_CHARS)"
        )
    return text


def check_options(options: Mapping[str, Any]) -> None:
    """Refuse options ``ask`` does not know (a misspelled ``article_id`` must not be ignored)."""
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise QuestionError(
            f"unknown option(s) {', '.join(map(repr, unknown))}; "
            f"ask() takes: {', '.join(sorted(OPTIONS))}"
        )


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
        self.runnable: Runnable[dict[str, Any], AddableDict] = (
            RunnableLambda(self._prepare, name="prepare")
            | RunnablePassthrough.assign(passages=RunnableLambda(self._retrieve, name="retrieve"))
            | RunnableGenerator(self._answer, self._aanswer, name="answer")
        )

    @staticmethod
    def request(question: str, history: Sequence[Any], options: Mapping[str, Any]) -> dict[str, Any]:
        """The runnable's input for one question (options checked here, before any work)."""
        check_options(options)
        return {"question": question, "history": history, "options": dict(options)}

    def ask(self, question: str, *, history: Sequence[Any] = (), **options: Any) -> Answer:
        answer = self.runnable.invoke(self.request(question, history, options))["answer"]
        assert isinstance(answer, Answer)
        return answer

    def stream(self, question: str, *, history: Sequence[Any] = (), **options: Any) -> Iterator[str | Answer]:
        for chunk in self.runnable.stream(self.request(question, history, options)):
            if chunk.get("delta"):
                yield chunk["delta"]
            if chunk.get("answer") is not None:
                yield chunk["answer"]

    # -- steps ---------------------------------------------------------------------------------

    def _prepare(self, state: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        question = clean_question(state["question"], limit=self.settings.max_question_chars)
        history = parse_history(state.get("history"), limit=self.settings.max_question_chars)
        # The local lexicon answers "is anything indexed?" without a store round-trip (a
        # Chroma count() is ~10 ms at 100k chunks); the store is asked only when it is empty.
        if self.retriever.lexicon.chunk_count() == 0:
            self._refuse_if_empty()
        opts = {k: v for k, v in (state.get("options") or {}).items() if v is not None}
        backend = opts.get("backend")
        own_backend = backend in (None, self.composer.name, self.settings.llm)
        if self._condense is not None and history and own_backend:
            standalone = self._condense(question, history)
        else:
            standalone = standalone_query(question, history)
        ids = opts.get("article_ids")
        k = opts.get("k", self.settings.top_k)
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise QuestionError(f"k (passages to retrieve) must be a whole number of at least 1, got {k!r}")
        search = SearchOptions(
            k=int(k),
            hybrid=bool(opts.get("hybrid", self.settings.hybrid)),
            article_ids=tuple([ids] if isinstance(ids, str) else ids) if ids else None,
            published_from=opts.get("published_from") or None,
            published_to=opts.get("published_to") or None,
        )
        if search.k < 1:
            raise QuestionError(f"k must be at least 1, got {search.k}")
        timings = {"prepare": time.perf_counter() - started}
        return {"question": question, "standalone": standalone, "history": history,
                "search": search, "timings": timings, "backend": backend, "extras": {}}

    def _retrieve(self, state: dict[str, Any]) -> Any:
        """The best passages, wire copies counted once: of a near-duplicate group only the best
        article's passages stay (and a copy's that gives another figure of what is asked), and the
        others are remembered as "also reported by"."""
        search: SearchOptions = state["search"]
        # Three times as many, so copies dropped below leave room for other stories.
        wide = replace(search, k=search.k * 3)
        passages, timings = self.retriever.retrieve(state["standalone"], wide)
        state["timings"].update(timings)
        if not passages:
            self._refuse_if_empty()  # emptied by another process since the lexicon last saw it
            if search.article_ids and all(self.store.article(i) is None for i in search.article_ids):
                # Only unknown ids: mistyped, not a question to answer "not found" (an unknown one
                # among indexed ones gets the notice below). Looked up only when nothing was found.
                ids = ", ".join(map(repr, search.article_ids))
                one = len(search.article_ids) == 1
                raise QuestionError(f"{'no article' if one else 'none of the articles'} {ids} is indexed "
                                    "(qa list shows the article ids)")
            state["extras"]["notice"] = self._nothing_matches(search)
        groups = self.store.article_groups({p.article_id for p in passages})
        collapsed = collapse_groups(passages, groups, k=search.k, asked=asked_figure(state["standalone"]))
        state["extras"]["also_reported_by"] = collapsed.also_reported_by
        return collapsed.passages

    def _nothing_matches(self, search: SearchOptions) -> str | None:
        """Why filters left no passage, for the "not found" answer (else it reads as a miss)."""
        why = []
        if search.article_ids and (gone := [i for i in search.article_ids if self.store.article(i) is None]):
            why.append(f"no article {', '.join(map(repr, gone))} is indexed")
        if search.published_from or search.published_to:
            span = f"{search.published_from or '...'} to {search.published_to or '...'}"
            picked = " of those picked" if search.article_ids else ""
            why.append(f"no indexed article{picked} is dated {span} (a date filter leaves out "
                       "undated articles)")
        return "; ".join(why) or None

    def _refuse_if_empty(self) -> None:
        if self.store.count_chunks() == 0:
            raise QuestionError("nothing is indexed yet: add articles first (qa ingest PATH)")

    def _composer_for(self, name: str | None) -> Composer:
        if not name or name in (self.composer.name, self.settings.llm):
            return self.composer
        if name == "none":
            name = "extractive"
        if name not in self.composers:
            raise QuestionError(
                f"unknown answer backend {name!r}; available: {', '.join(sorted(self.composers))}"
            )
        return self.composers[name]

    def _with_sources(self, answer: Answer, also: Mapping[str, tuple[str, ...]]) -> Answer:
        """Each citation with its article's author (kept on the article record, not the chunks),
        the other copies of its story that were retrieved ("also reported by"), and its relative
        dates ("yesterday") resolved against the article's published date."""
        if not answer.citations:
            return answer
        records = {i: self.store.article(i) for i in dict.fromkeys(c.article_id for c in answer.citations)}
        return replace(answer, citations=tuple(
            with_dates(
                replace(c, author=record.author if record else None,
                        also_reported_by=also.get(c.article_id, ())),
                record.published if record else None,
            )
            for c in answer.citations
            for record in (records.get(c.article_id),)
        ))

    def _answer(self, states: Iterator[dict[str, Any]]) -> Iterator[AddableDict]:
        """Compose (streaming the text as it comes), then verify: the one answer step."""
        # Streamed, ``assign`` hands its input keys and the assigned ``passages`` over as separate
        # chunks: the whole state is their union.
        state: dict[str, Any] = {}
        for chunk in states:
            state.update(chunk)
        if state:
            yield from self._compose_and_verify(state)

    async def _aanswer(self, states: AsyncIterator[dict[str, Any]]) -> AsyncIterator[AddableDict]:
        """``_answer`` for ``ainvoke``/``astream``/``astream_events``: the composers are
        synchronous (HTTP clients, the model), so they run in a worker thread and their pieces
        come back through a queue as they are produced."""
        state: dict[str, Any] = {}
        async for chunk in states:
            state.update(chunk)
        if not state:
            return
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def produce() -> None:
            try:
                for piece in self._compose_and_verify(state):
                    loop.call_soon_threadsafe(pieces.put_nowait, ("piece", piece))
            except BaseException as exc:  # handed over to the awaiting side, raised there
                loop.call_soon_threadsafe(pieces.put_nowait, ("error", exc))
            else:
                loop.call_soon_threadsafe(pieces.put_nowait, ("done", None))

        worker = loop.run_in_executor(None, produce)
        while True:
            kind, value = await pieces.get()
            if kind == "piece":
                yield value
            elif kind == "error":
                await worker
                raise value
            else:
                break
        await worker

    def _compose_and_verify(self, state: dict[str, Any]) -> Iterator[AddableDict]:
        history: tuple[Turn, ...] = state["history"]
        request = ComposeRequest(state["question"], state["standalone"], history, state["passages"])
        timings = state["timings"]
        started = time.perf_counter()
        draft: Draft | None = None
        inner = self._composer_for(state.get("backend"))
        # "so far", "latest": the newest of equally good passages leads (qa.answer.recency).
        composer = LatestFirst(inner)
        for piece in composer.stream(request):
            if isinstance(piece, str):
                yield AddableDict(delta=piece)
            else:
                draft = piece
        if draft is None:
            raise RuntimeError("a composer's stream must end with its Draft")
        # News-aware shapes: several stories in date order (the extractive sentences, or the
        # generated ones in the order of the articles they cite), or every differing
        # figure cited (a generative answer: those its own citations show; the streamed text was
        # the plain answer, the final one wins).
        draft, several = stories.revise(request, draft, inner)
        if not several:
            # A generated answer keeps its sentences, put in the date order of what they cite.
            draft, several = stories.arrange(request, draft)
        if several:
            # A dated list of stories, oldest first: no "newest first" notice, no figure lead.
            draft, differing = replace(draft, notice=None), None
        else:
            draft, differing = conflicts.revise(request, draft)
        draft = short_in_shown(draft)
        timings["compose"] = time.perf_counter() - started
        started = time.perf_counter()
        wanted = {q.article_id for s in draft.segments for q in s.quotes}
        # The one fetch of article texts per answer: verification and the quotes' context.
        texts = self.store.article_texts(wanted)
        also = (state.get("extras") or {}).get("also_reported_by", {})
        answer = finalize(request, draft, texts, timings=timings)
        answer = conflicts.attach(answer, differing, texts)
        # A sentence verification marked unsupported has no place in a dated list of stories.
        several = (several and not answer.unsupported
                   and len({c.article_id for c in answer.citations}) >= 2)
        answer = self._with_sources(replace(answer, stories=several), also)
        if (why := (state.get("extras") or {}).get("notice")) and not answer.answered:
            answer = replace(answer, notice=why)
        timings["verify"] = time.perf_counter() - started
        timings["total"] = sum(v for k, v in timings.items() if k != "total")
        yield AddableDict(answer=answer)


def short_in_shown(draft: Draft) -> Draft:
    """``draft`` without its short answer when that lies in none of its cited sentences: a news
    shape (conflicting figures, several stories, the newest article) changed which sentences are
    cited after the composer found the short answer in its own first one."""
    short = draft.short
    if short is None or any(q.article_id == short.article_id and q.start <= short.start
                            and short.end <= q.end for seg in draft.segments for q in seg.quotes):
        return draft
    return replace(draft, short=None)
