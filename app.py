"""The chat page: ask in the browser, see each answer's cited passages highlighted in their articles.

Run ``python app.py`` (or ``qa serve``) and open http://127.0.0.1:7860. Everything else lives in
``qa``; this module only builds the Gradio page on top of ``qa.assistant.Assistant`` and is the
one place that imports gradio. Local and private by default: loopback only, no share link, no
analytics, no fonts or scripts from other hosts. ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``
choose the address and ``QA_UI_AUTH="user:password"`` asks for a login.
"""

from __future__ import annotations

import os

# Before gradio is imported: its import-time version check and telemetry read this.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import logging
import shutil
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from index.errors import QAError
from qa import ui_render as render
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.assistant import Assistant

log = logging.getLogger("qa.app")

SAMPLES = Path(render.__file__).resolve().parent / "samples"
SAMPLE_ARTICLES = SAMPLES / "articles"
SAMPLE_QUESTIONS = SAMPLES / "questions" / "kazakhstan.jsonl"
QUESTION_SET_TYPES = [".jsonl", ".csv", ".json"]
FAILURE_COLUMNS = ["id", "question", "answer", "gold answers", "why"]
UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".jsonl"]
EXAMPLES = [
    "How many policemen were killed in Almaty?",
    "Who is the president of Kazakhstan?",
    "Why did the riots in Kazakhstan break out?",
    "Which countries belong to the CSTO?",
]
EXTRACTIVE = "extractive"
MAX_KEPT_TURNS = 20
ANSWER_CONCURRENCY = 4

THEME = gr.themes.Soft(
    primary_hue="blue",
    neutral_hue="slate",
    # System fonts only: a Google font would make every visitor's browser call fonts.googleapis.com.
    font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)
CSS = render.SOURCES_CSS + """
.qa-chat a[href^="#src-"] { text-decoration: none; font-size: .78em; vertical-align: super;
  font-weight: 600; color: var(--color-accent); padding: 0 .1em; }
.qa-chat a[href^="#src-"]:hover { text-decoration: underline; }
#qa-sources-panel { max-height: 72vh; overflow-y: auto; padding-right: .25rem; }
#qa-header h1 { margin-bottom: .1rem; }
#qa-status:empty { display: none; }
.qa-bar { align-items: center; }
.qa-delete-row { align-items: flex-end; }
.qa-delete-row > button { max-height: 3rem; }
"""


class Backend:
    """The one ``Assistant`` every session shares: built on first use, warmed up in the background.

    Warming up opens the index, indexes the bundled sample on a fresh data dir, and loads the
    embedding model, so building the page stays cheap and the first question does not wait long.
    """

    def __init__(self, assistant: Assistant | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or (assistant.settings if assistant is not None else Settings())
        self._assistant = assistant
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    @property
    def uploads(self) -> Path:
        return self.settings.data_dir / "uploads"

    def is_ready(self) -> bool:
        return self._ready.is_set()

    def warm_up_in_background(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._warm_up, name="qa-warm-up", daemon=True)
                self._thread.start()

    def assistant(self, timeout: float | None = None) -> Assistant:
        """The shared assistant, once warmed up (a failed warm-up raises here, per request)."""
        self.warm_up_in_background()
        self._ready.wait(timeout)
        return self._build()

    def _build(self) -> Assistant:
        with self._lock:
            if self._assistant is None:
                from qa.assistant import Assistant

                self._assistant = Assistant(self.settings)
            return self._assistant

    def _warm_up(self) -> None:
        try:
            assistant = self._build()
            self._index_sample_on_first_run(assistant)
            assistant.embedder.embed_query("warm up")
            _ = assistant.chain
        except Exception as exc:
            log.exception("warming up the assistant failed")
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()

    def _index_sample_on_first_run(self, assistant: Assistant) -> None:
        # A marker, not "the index is empty": whoever deletes every article must not get the sample back.
        marker = self.settings.data_dir / ".sample-offered"
        if marker.exists():
            return
        if not assistant.articles() and SAMPLE_ARTICLES.is_dir():
            log.info("fresh data dir: indexing the sample articles in %s", SAMPLE_ARTICLES)
            assistant.ingest([SAMPLE_ARTICLES])
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


class QAPage(gr.Blocks):
    """A ``gr.Blocks`` whose ``launch()`` defaults are ours: theme, CSS, no share link, upload limit
    and the optional login from ``QA_UI_AUTH`` (Gradio 6 takes theme and CSS in launch())."""

    backend: Backend

    def launch(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("theme", THEME)
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("share", False)
        kwargs.setdefault("max_file_size", int(self.backend.settings.upload_max_mb * 1_000_000))
        kwargs.setdefault("footer_links", ["api", "settings"])
        ui_auth = Settings().ui_auth
        if kwargs.get("auth") is None and ui_auth:
            kwargs["auth"] = parse_auth(ui_auth)
        return super().launch(*args, **kwargs)


def parse_auth(value: str) -> list[tuple[str, str]]:
    """``"user:password"`` (several separated by commas) -> Gradio's list of credentials."""
    pairs = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        user, sep, password = item.partition(":")
        if not sep or not user or not password:
            raise ValueError("QA_UI_AUTH must look like user:password (several: user1:pw1,user2:pw2)")
        pairs.append((user, password))
    return pairs


# -- handlers ----------------------------------------------------------------------------------


def _day(value: Any) -> str | None:
    return str(value)[:10] if value else None


class Handlers:
    """What the page's events call. One instance per page, shared by every session."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        settings = backend.settings
        configured = settings.llm if settings.llm != "none" else EXTRACTIVE
        self.default_backend = configured
        self.backend_choices = [configured] + ([EXTRACTIVE] if configured != EXTRACTIVE else [])

    def options(self, k: Any, hybrid: Any, article_ids: Any, date_from: Any, date_to: Any,
                backend: Any) -> dict[str, Any]:
        """The Settings controls as ``Assistant.ask`` options."""
        options: dict[str, Any] = {
            "k": int(k or self.backend.settings.top_k), "hybrid": bool(hybrid),
            "article_ids": list(article_ids) if article_ids else None,
            "published_from": _day(date_from), "published_to": _day(date_to),
        }
        # The answer-backend picker: only a choice other than the configured default is passed on,
        # so an Assistant without ``backend=`` keeps working until the LLM backends take it.
        if backend and backend != self.default_backend:
            options["backend"] = backend
        return options

    def chat(self, message: str, history: list[dict[str, Any]], k: Any, hybrid: Any, article_ids: Any,
             date_from: Any, date_to: Any, backend: Any, turns: dict[int, str] | None) -> Iterator[tuple]:
        """Stream one answer into the chat, then show its sources; errors stay in this chat."""
        turn = sum(1 for m in history if m.get("role") == "assistant") + 1
        kept = {t: h for t, h in (turns or {}).items() if turn - MAX_KEPT_TURNS < t < turn}
        try:
            if not self.backend.is_ready():
                yield "_Loading the model and the index (first question only)…_", gr.skip(), gr.skip()
            assistant = self.backend.assistant()
            options = self.options(k, hybrid, article_ids, date_from, date_to, backend)
            pairs = render.conversation_pairs(history)
            answer = None
            text = ""
            for piece in assistant.stream(message, history=pairs, **options):
                if isinstance(piece, str):
                    text += piece
                    yield render.link_markers(text, turn=turn), gr.skip(), gr.skip()
                else:
                    answer = piece
            if answer is None:
                raise RuntimeError("the assistant's stream ended without an answer")
            texts = {a: assistant.article_text(a) or "" for a in {c.article_id for c in answer.citations}}
            kept[turn] = render.sources_html(answer, texts, turn=turn)
            panel = render.panel_html([kept[t] for t in sorted(kept)])
            yield render.answer_markdown(answer, turn=turn), panel, kept
        except QAError as exc:
            yield render.error_markdown(str(exc)), gr.skip(), gr.skip()
        except Exception as exc:
            log.exception("answering %r failed", message)
            yield (render.error_markdown(f"something went wrong ({type(exc).__name__}: {exc}). "
                                         "The app is still running: try again or rephrase."),
                   gr.skip(), gr.skip())

    def ask_api(self, question: str, k: int = 0, hybrid: bool = True, article_ids: list[str] | None = None,
                published_from: str | None = None, published_to: str | None = None,
                history: list[str] | None = None) -> dict[str, Any]:
        """Answer a question from the indexed articles: Answer.to_dict() with text, answered, citations
        (article_id, start, end, quote), passages and timings. k=0 uses the configured number."""
        try:
            answer = self.backend.assistant().ask(
                question, history=history or (), k=k or None, hybrid=hybrid, article_ids=article_ids or None,
                published_from=published_from or None, published_to=published_to or None,
            )
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        return answer.to_dict()

    # -- articles ----------------------------------------------------------------------------

    def article_views(self) -> tuple[Any, Any, Any]:
        """The articles table, the delete picker and the chat's article filter, all up to date."""
        records = self.backend.assistant().articles()
        ids = render.article_choices(records)
        return (render.articles_html(records), gr.Dropdown(choices=ids, value=None), gr.Dropdown(choices=ids))

    def upload(self, files: Sequence[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Index uploaded files; too-large, empty, binary or malformed files are reported, not fatal."""
        if not files:
            return (None, "Choose one or more files first.", *self.article_views())
        from index.ingest import Failure

        limit = self.backend.settings.upload_max_mb
        rejected: list[Failure] = []
        accepted: list[Path] = []
        names: dict[str, str] = {}
        self.backend.uploads.mkdir(parents=True, exist_ok=True)
        for upload in map(Path, files):
            size_mb = upload.stat().st_size / 1_000_000
            if size_mb > limit:
                reason = f"{size_mb:.1f} MB is over the {limit:g} MB upload limit (QA_UPLOAD_MAX_MB)"
                rejected.append(Failure(upload.name, reason))
                continue
            # A stable path per file name: uploading a changed file again updates its article.
            target = self.backend.uploads / upload.name
            shutil.copyfile(upload, target)
            accepted.append(target)
            names[str(target)] = upload.name
        progress(0, desc="Loading the model…")
        assistant = self.backend.assistant()

        def on_file(done: int, total: int, path: str) -> None:
            progress((done, total), desc=f"Indexed {Path(path).name}", unit="files")

        report = assistant.ingest(accepted, on_file=on_file) if accepted else None
        if report is None:
            from index.ingest import IngestReport

            report = IngestReport()
        report = replace(report, failed=report.failed + tuple(rejected))
        summary = render.upload_summary(report.summary(), names)
        if report.failed:
            gr.Warning(f"{len(report.failed)} file(s) not indexed: see “Last upload” for why.")
        return (None, summary, *self.article_views())

    def delete(self, article_id: str | None) -> tuple[Any, ...]:
        if not article_id:
            return ("Pick an article to delete first.", *self.article_views())
        assistant = self.backend.assistant()
        record = next((r for r in assistant.articles() if r.id == article_id), None)
        if record is None or not assistant.delete(article_id):
            return (f"No article {article_id!r} in the index (already deleted?).", *self.article_views())
        upload = Path(record.path) if record.path else None
        if upload is not None and upload.parent == self.backend.uploads and upload.is_file():
            upload.unlink()
        return (f"Deleted “{record.title}” ({article_id}, {record.chunks} chunks).", *self.article_views())

    # -- evaluation --------------------------------------------------------------------------

    def evaluate(self, path: str | None, k: Any, hybrid: Any,
                 progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008
        """Run a question set (the bundled sample when none is uploaded) against the current index."""
        from qa.evalresults import HEADLINE_COLUMNS, STAGE_COLUMNS
        from qa.evaluation import evaluate_file

        source = Path(path) if path else SAMPLE_QUESTIONS
        progress(0, desc="Loading the model…")
        assistant = self.backend.assistant()

        def on_question(done: int, total: int) -> None:
            progress((done, total), desc="Asking", unit="questions")

        try:
            report = evaluate_file(source, assistant, progress=on_question, k=int(k), hybrid=bool(hybrid))
        except QAError as exc:
            return render.table_html([], [], empty=f"Could not evaluate {source.name}: {exc}")
        failures = report.failure_rows()
        caption = f"{source.name}: {len(report.results)} questions, {len(failures)} failed (k={report.k})"
        notes = "".join(f'<p class="qa-note">{render.esc(w)}</p>' for w in report.warnings)
        return (
            render.table_html(HEADLINE_COLUMNS, report.headline_rows(), caption=caption) + notes
            + render.table_html(STAGE_COLUMNS, report.stage_rows(), caption="Time per stage")
            + render.table_html(FAILURE_COLUMNS, failures, caption="Failures", empty="No failures.")
        )

    def on_load(self) -> tuple[Any, ...]:
        """Each new page: start the warm-up, and poll until it is done."""
        self.backend.warm_up_in_background()
        if not self.backend.is_ready():
            return (self.status(), gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=True))
        return (self.status(), *self.article_views(), gr.Timer(active=False))

    def status(self) -> str:
        if self.backend.error:
            return f"**The assistant could not start:** {self.backend.error}"
        if not self.backend.is_ready():
            return "_Loading the model and the index… (a first start also indexes the sample article)_"
        return ""


# -- the page ----------------------------------------------------------------------------------


def _settings_controls(handlers: Handlers, settings: Settings) -> list[Any]:
    """The chat's Settings accordion; ChatInterface renders them and passes their values to chat()."""
    return [
        gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages to retrieve", render=False),
        gr.Checkbox(value=settings.hybrid, label="Hybrid retrieval (meaning + exact words)", render=False),
        gr.Dropdown(choices=[], value=[], multiselect=True, label="Only these articles",
                    info="Empty: all indexed articles.", render=False),
        gr.DateTime(include_time=False, type="string", label="Published from", render=False),
        gr.DateTime(include_time=False, type="string", label="Published until", render=False),
        # LLM backends: the answer backend picker. Set QA_LLM to add a model.
        gr.Dropdown(choices=handlers.backend_choices, value=handlers.default_backend, label="Answer backend",
                    info="Extractive quotes the articles. Set QA_LLM (openai, ollama) to add a model.",
                    interactive=len(handlers.backend_choices) > 1, render=False),
    ]


def _articles_tab(settings: Settings) -> dict[str, Any]:
    with gr.Tab("Articles", id="articles"):
        gr.Markdown(
            f"Add news articles as **.txt, .md, .html or .jsonl** files, up to {settings.upload_max_mb:g} MB "
            "each: they are indexed as soon as they are uploaded, and the chat uses them at once. "
            "Uploading a file with the same name again updates its article."
        )
        with gr.Row(equal_height=True):
            files = gr.File(label="Upload articles", file_count="multiple", file_types=UPLOAD_TYPES,
                            height=170, elem_id="qa-upload")
            summary = gr.Textbox(label="Last upload", lines=5, max_lines=12, interactive=False,
                                 placeholder="What was indexed, and why any file was not.",
                                 elem_id="qa-ingest-summary")
        table = gr.HTML(render.articles_html([]), elem_id="qa-articles")
        with gr.Row(elem_classes=["qa-delete-row"]):
            pick = gr.Dropdown(choices=[], label="Delete an article", scale=4, elem_id="qa-delete-pick")
            remove = gr.Button("Delete", variant="stop", scale=1, min_width=120, elem_id="qa-delete")
    return {"files": files, "summary": summary, "table": table, "pick": pick, "remove": remove}


def _evaluate_tab(handlers: Handlers, controls: list[Any]) -> None:
    with gr.Tab("Evaluate", id="evaluate"):
        gr.Markdown(
            "Check how well the assistant answers a question set with known answers, against the articles "
            "indexed now: **.jsonl, .csv or SQuAD .json** (see docs/evaluation.md). Without a file, the "
            "bundled sample questions are used. Uses the chat's Settings (passages, hybrid)."
        )
        with gr.Row(elem_classes=["qa-bar"]):
            questions = gr.File(label="Question set", file_types=QUESTION_SET_TYPES, height=150,
                                elem_id="qa-eval-file")
            run = gr.Button("Run evaluation", variant="primary", scale=0, min_width=180,
                            elem_id="qa-eval-run")
        results = gr.HTML(render.table_html([], [], empty="Results appear here."), elem_id="qa-eval-results")
    run.click(handlers.evaluate, [questions, controls[0], controls[1]], results,
              api_visibility="private", concurrency_id="evaluate", concurrency_limit=1)


def _new_chat() -> tuple[list[Any], list[Any], str, dict[int, str]]:
    return [], [], render.empty_panel_html(), {}


def _chat_tab(handlers: Handlers, controls: list[Any], turns: gr.State, sources: gr.HTML) -> gr.ChatInterface:
    with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=380):
            with gr.Row(elem_classes=["qa-bar"]):
                gr.Markdown("### Chat")
                new_chat = gr.Button("New chat", size="sm", variant="secondary", scale=0, min_width=110,
                                     elem_id="qa-new-chat")
            chat = gr.ChatInterface(
                handlers.chat,
                chatbot=gr.Chatbot(
                    show_label=False, height=560, elem_classes=["qa-chat"], latex_delimiters=[],
                    feedback_options=None, placeholder="Ask a question about the indexed articles.",
                ),
                textbox=gr.Textbox(placeholder="Ask about the articles… e.g. How many were injured?",
                                   show_label=False, submit_btn=True, stop_btn=True, elem_id="qa-question"),
                examples=[[q] + [None] * (len(controls) + 1) for q in EXAMPLES],
                additional_inputs=[*controls, turns],
                additional_inputs_accordion=gr.Accordion("Settings", open=False, render=False),
                additional_outputs=[sources, turns],
                concurrency_limit=ANSWER_CONCURRENCY,
                api_visibility="undocumented",
                fill_height=False,
            )
        with gr.Column(scale=2, min_width=320):
            gr.Markdown("### Sources")
            sources.render()
    new_chat.click(_new_chat, None, [chat.chatbot, chat.chatbot_state, sources, turns],
                   api_visibility="private", queue=False)
    chat.chatbot.clear(lambda: (render.empty_panel_html(), {}), None, [sources, turns],
                       api_visibility="private", queue=False)
    return chat


def create_app(assistant: Assistant | None = None, settings: Settings | None = None) -> QAPage:
    """Build the page (cheap: no model, no index opened; those come on first use)."""
    backend = Backend(assistant, settings)
    handlers = Handlers(backend)
    with QAPage(title="News QA", analytics_enabled=False, fill_width=True) as page:
        page.backend = backend
        gr.Markdown("# News QA\nAsk about the indexed news articles. Every answer quotes the articles; "
                    "click a **[n]** to see the quoted words in their passage.", elem_id="qa-header")
        status = gr.Markdown("", elem_id="qa-status")
        timer = gr.Timer(1.0, active=False)
        turns = gr.State({})
        sources = gr.HTML(render.empty_panel_html(), elem_id="qa-sources-panel", render=False,
                          js_on_load=render.CITE_CLICK_JS)
        controls = _settings_controls(handlers, backend.settings)
        with gr.Tabs():
            _chat_tab(handlers, controls, turns, sources)
            articles = _articles_tab(backend.settings)
            _evaluate_tab(handlers, controls)
        gr.api(handlers.ask_api, api_name="ask", concurrency_limit=ANSWER_CONCURRENCY,
               concurrency_id="answer")

        views = [articles["table"], articles["pick"], controls[2]]
        # Ingesting and deleting share one worker, apart from answering: uploads never block chats.
        ingest: dict[str, Any] = {"api_visibility": "private", "concurrency_id": "ingest",
                                  "concurrency_limit": 1}
        articles["files"].upload(handlers.upload, articles["files"],
                                 [articles["files"], articles["summary"], *views], **ingest)
        articles["remove"].click(handlers.delete, articles["pick"], [articles["summary"], *views], **ingest)
        quiet: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
        page.load(handlers.on_load, None, [status, *views, timer], **quiet)
        timer.tick(handlers.on_load, None, [status, *views, timer], **quiet)
    page.queue(max_size=64, default_concurrency_limit=2)
    return page


def serve(settings: Settings | None = None, *, host: str | None = None, port: int | None = None,
          auth: str | None = None) -> None:
    """Start the page and block (``python app.py`` and ``qa serve``); warms up at once."""
    page = demo if settings is None else create_app(settings=settings)
    page.backend.warm_up_in_background()
    credentials = parse_auth(auth or Settings().ui_auth or "") or None
    name = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    if name not in ("127.0.0.1", "localhost", "::1") and not credentials:
        log.warning("serving on %s without a login: anyone who can reach it can read and change the "
                    "indexed articles. Set QA_UI_AUTH=user:password.", name)
    page.launch(server_name=name, server_port=port, auth=credentials)


demo = create_app()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    serve()
