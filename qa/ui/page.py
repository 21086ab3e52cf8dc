"""The chat page: ask in the browser, see each answer's cited passages highlighted in their articles.

``create_app()`` builds the page (cheap: no model, no index); ``serve()`` launches it. This package
is the one place that imports gradio. Local and private by default: loopback only, no share link,
no analytics, no fonts or scripts from other hosts.
"""

from __future__ import annotations

import os

# Before gradio is imported: its import-time version check and telemetry read this.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from qa.assistant import Assistant
from qa.settings import BROWSER_SECRET, Settings, parse_auth
from qa.ui import render
from qa.ui.backend import Backend
from qa.ui.handlers import Handlers
from qa.ui.prefs import EXTRACTIVE, Prefs

log = logging.getLogger("qa.ui")

STATIC = Path(__file__).resolve().parent / "static"
QUESTION_SET_TYPES = [".jsonl", ".csv", ".json"]
UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".jsonl"]
EXAMPLES = [
    "How many policemen were killed in Almaty?",
    "Who is the president of Kazakhstan?",
    "Why did the riots in Kazakhstan break out?",
    "Which countries belong to the CSTO?",
]
ANSWER_CONCURRENCY = 4
WATCH_POLL_SECONDS = 10.0

THEME = gr.themes.Soft(
    primary_hue="blue",
    neutral_hue="slate",
    # System fonts only: a Google font would make every visitor's browser call fonts.googleapis.com.
    font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)
CSS = (STATIC / "qa.css").read_text(encoding="utf-8")
CITE_CLICK_JS = (STATIC / "cite.js").read_text(encoding="utf-8")


class QAPage(gr.Blocks):
    """A ``gr.Blocks`` whose ``launch()`` defaults are ours: theme, CSS, no share link, upload limit
    and the optional login from ``QA_UI_AUTH`` (Gradio 6 takes theme and CSS in launch())."""

    backend: Backend
    saved_chat: gr.BrowserState

    def launch(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("theme", THEME)
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("share", False)
        # One limit for the page and for ingest: Gradio refuses a larger file before it is uploaded.
        kwargs.setdefault("max_file_size", int(self.backend.settings.max_file_mb * 1_000_000))
        # The page has its own Settings tab: Gradio's footer "Settings" would be a second one.
        kwargs.setdefault("footer_links", ["api"])
        # The settings this page was built with, not a fresh read of the environment.
        ui_auth = self.backend.settings.ui_auth
        if kwargs.get("auth") is None and ui_auth:
            kwargs["auth"] = parse_auth(ui_auth)
        # The secret `qa ask` checks before it trusts this page's answers (qa.cli.remote), and the
        # port the proof names (Gradio sets it before it blocks).
        self.backend.serve_token = self.backend.settings.serve_token(create=True)
        self.backend.port_of_page = lambda: getattr(self, "server_port", None)
        # Gradio encrypts the chat kept in the browser with a key it sends to the browser: one
        # that outlives this process (Gradio draws a new one each start, and a restarted page could
        # not read the chat back). Not a credential: every visitor gets it. Set here, not when the
        # page is built: building it touches no file.
        if (kept := self.backend.settings.secret(BROWSER_SECRET, create=True)) is not None:
            self.saved_chat.secret = kept
        watcher = self.backend.watcher
        if watcher is not None:
            watcher.start()  # before launch: a blocking launch returns only when the page closes
        try:
            return super().launch(*args, **kwargs)
        except BaseException:
            if watcher is not None:
                watcher.stop()
            raise

    def close(self, verbose: bool = True) -> None:
        """Stop the server (no new question), then the page's background threads (feed refresh,
        sentence warm-up)."""
        try:
            super().close(verbose=verbose)
        finally:
            self.backend.close()


def _articles_tab(settings: Settings) -> dict[str, Any]:
    with gr.Tab("Articles", id="articles"):
        gr.Markdown(
            f"Add news articles as **.txt, .md, .html or .jsonl** files, up to {settings.max_file_mb:g} MB "
            "each (QA_MAX_FILE_MB): they are indexed as soon as they are uploaded, and the chat uses "
            "them at once. Uploading a file with the same name again updates its article."
        )
        with gr.Row(equal_height=True):
            files = gr.File(label=f"Upload articles (up to {settings.max_file_mb:g} MB each)",
                            file_count="multiple", file_types=UPLOAD_TYPES, height=170, elem_id="qa-upload")
            summary = gr.Textbox(label="Last upload", lines=5, max_lines=12, interactive=False,
                                 placeholder="What was indexed, and why any file was not.",
                                 elem_id="qa-ingest-summary")
        watching = bool(settings.watch_interval)
        watch = gr.Markdown(
            f"Subscribed feeds are refreshed every {settings.watch_interval or 0:g} min while this page "
            "runs (QA_WATCH_INTERVAL)." if watching else "", visible=watching, elem_id="qa-watch-status")
        table = gr.HTML(render.articles_html([]), elem_id="qa-articles")
        with gr.Row(elem_classes=["qa-delete-row"]):
            pick = gr.Dropdown(choices=[], label="Delete an article", scale=4, elem_id="qa-delete-pick")
            remove = gr.Button("Delete…", variant="stop", scale=1, min_width=120, elem_id="qa-delete")
        with gr.Row(visible=False, elem_classes=["qa-confirm-row"]) as confirm_row:
            confirm = gr.Button("Yes, delete", variant="stop", scale=0, min_width=140,
                                elem_id="qa-delete-yes")
            cancel = gr.Button("Cancel", scale=0, min_width=120, elem_id="qa-delete-cancel")
    return {"files": files, "summary": summary, "table": table, "pick": pick, "remove": remove,
            "confirm_row": confirm_row, "confirm": confirm, "cancel": cancel, "watch": watch}


def _evaluate_tab(handlers: Handlers, choices: gr.State) -> None:
    with gr.Tab("Evaluate", id="evaluate"):
        gr.Markdown(
            "Check how well the assistant answers a question set with known answers, against the articles "
            "indexed now: **.jsonl, .csv or SQuAD .json** (see docs/evaluation.md). Without a file, the "
            "bundled sample questions are used. Uses the Settings tab's passages and hybrid choice."
        )
        with gr.Row(elem_classes=["qa-bar"]):
            questions = gr.File(label="Question set", file_types=QUESTION_SET_TYPES, height=150,
                                elem_id="qa-eval-file")
            run = gr.Button("Run evaluation", variant="primary", scale=0, min_width=180,
                            elem_id="qa-eval-run")
        results = gr.HTML(render.table_html([], [], empty="Results appear here."), elem_id="qa-eval-results")
    run.click(handlers.evaluate, [questions, choices], results,
              api_visibility="private", concurrency_id="evaluate", concurrency_limit=1)


def _settings_tab(handlers: Handlers, settings: Settings, choices: gr.State) -> dict[str, Any]:
    """Retrieval, filters and the answer backend; the chat reads them through ``choices``."""
    prefs = Prefs.defaults(settings)
    with gr.Tab("Settings", id="settings"), gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            gr.Markdown("### Retrieval")
            top_k = gr.Slider(1, 20, value=prefs.top_k, step=1, label="Passages to retrieve",
                              elem_id="qa-top-k")
            hybrid = gr.Checkbox(value=prefs.hybrid, label="Hybrid retrieval (meaning + exact words)",
                                 elem_id="qa-hybrid")
            gr.Markdown("### Filters", elem_classes=["qa-subhead"])
            article_ids = gr.Dropdown(choices=[], value=[], multiselect=True, label="Only these articles",
                                      info="Empty: all indexed articles.", elem_id="qa-filter-articles")
            with gr.Row():
                date_from = gr.DateTime(include_time=False, type="string", label="Published from")
                date_to = gr.DateTime(include_time=False, type="string", label="Published until")
        with gr.Column(min_width=300):
            gr.Markdown("### Answer backend")
            backend = gr.Radio(
                [("Extractive (quotes the articles; offline)", EXTRACTIVE),
                 ("OpenAI-compatible server", "openai"), ("Ollama", "ollama")],
                value=prefs.backend, label="Who writes the answer", elem_id="qa-backend",
                info="An LLM writes the answer from the retrieved passages; its claims are checked "
                     "against them. The API key is read from QA_LLM_API_KEY, never stored.",
            )
            base_url = gr.Textbox(value=prefs.base_url, label="Base URL", elem_id="qa-base-url",
                                  placeholder="e.g. http://127.0.0.1:8000/v1 or http://localhost:11434")
            model = gr.Dropdown(choices=[prefs.model] if prefs.model else [], value=prefs.model or None,
                                allow_custom_value=True, label="Model", elem_id="qa-model",
                                info="Test connection lists the server's models.")
            with gr.Row():
                test = gr.Button("Test connection", elem_id="qa-test-connection")
                save = gr.Button("Save", variant="primary", elem_id="qa-save-settings")
            status = gr.Markdown("", elem_id="qa-settings-status")
    controls: list[Any] = [top_k, hybrid, article_ids, date_from, date_to, backend, base_url, model]
    private: dict[str, Any] = {"api_visibility": "private"}
    gr.on([c.change for c in controls], handlers.choices, controls, choices, queue=False,
          show_progress="hidden", **private)
    test.click(handlers.test_connection, [backend, base_url, model], [model, status], **private)
    save.click(handlers.save_settings, [top_k, hybrid, backend, base_url, model], status, **private)
    return {"controls": controls, "saved": [top_k, hybrid, backend, base_url, model],
            "article_ids": article_ids}


EMPTY_CHAT: dict[str, Any] = {"messages": [], "turns": {}}


def _new_chat() -> tuple[Any, ...]:
    return [], [], [], render.empty_panel_html(), {}, EMPTY_CHAT


def _remembering(handlers: Handlers) -> Callable[..., Iterator[tuple[Any, ...]]]:
    """``handlers.chat`` that also hands the finished conversation to the browser to keep."""

    def chat(message: str, history: list[dict[str, Any]], choices: dict[str, Any] | None,
             turns: dict[int, Any] | None) -> Iterator[tuple[Any, ...]]:
        for reply, panel, kept in handlers.chat(message, history, choices, turns):
            if not isinstance(kept, dict):
                yield reply, panel, kept, gr.skip()
                continue
            messages = [*history, {"role": "user", "content": message},
                        {"role": "assistant", "content": reply}]
            # JSON object keys are strings: the turn numbers are stored as such.
            yield reply, panel, kept, {"messages": messages, "turns": {str(t): v for t, v in kept.items()}}

    return chat


def _restored(saved: dict[str, Any] | None) -> tuple[Any, ...]:
    """The conversation the browser kept: messages, the sources panel and the per-turn state."""
    saved = saved if isinstance(saved, dict) else {}
    messages = saved.get("messages") or []
    turns = {int(t): v for t, v in (saved.get("turns") or {}).items() if str(t).isdigit()}
    if not messages:
        return [], [], render.empty_panel_html(), {}
    panel = render.panel_html([turns[t]["panel"] for t in sorted(turns) if "panel" in turns[t]])
    return messages, messages, panel, turns


PHONE_SWITCH = (
    '<div class="qa-phone-switch" role="tablist" aria-label="Show">'
    '<button type="button" role="tab" data-qa-view="chat" class="qa-on">Chat</button>'
    '<button type="button" role="tab" data-qa-view="sources">Sources</button></div>'
)


def _chat_tab(handlers: Handlers, choices: gr.State, turns: gr.State, sources: gr.HTML,
              saved: gr.BrowserState) -> gr.ChatInterface:
    with gr.Tab("Chat", id="chat"):
        # Narrow screens (phones) show the chat or the sources, switched here; wide ones both.
        gr.HTML(PHONE_SWITCH, elem_id="qa-phone-switch", padding=False)
        with gr.Row(equal_height=False, elem_id="qa-chat-row"):
            with gr.Column(scale=3, min_width=320, elem_id="qa-chat-col"):
                with gr.Row(elem_classes=["qa-bar"]):
                    gr.Markdown("### Chat")
                    new_chat = gr.Button("New chat", size="sm", variant="secondary", scale=0, min_width=110,
                                         elem_id="qa-new-chat")
                chat = gr.ChatInterface(
                    _remembering(handlers),
                    chatbot=gr.Chatbot(
                        show_label=False, height=560, elem_classes=["qa-chat"], latex_delimiters=[],
                        feedback_options=None, placeholder="Ask a question about the indexed articles.",
                    ),
                    textbox=gr.Textbox(placeholder="Ask about the articles… e.g. How many were injured?",
                                       show_label=False, submit_btn=True, stop_btn=True,
                                       elem_id="qa-question"),
                    # None for the extra inputs: a click on an example keeps the session's Settings.
                    examples=[[q, None, None] for q in EXAMPLES],
                    additional_inputs=[choices, turns],
                    additional_outputs=[sources, turns, saved],
                    concurrency_limit=ANSWER_CONCURRENCY,
                    api_visibility="undocumented",
                    fill_height=False,
                )
            with gr.Column(scale=2, min_width=300, elem_id="qa-sources-col"):
                gr.Markdown("### Sources")
                sources.render()
    private: dict[str, Any] = {"api_visibility": "private", "queue": False}
    new_chat.click(_new_chat, None,
                   [chat.chatbot, chat.chatbot_state, chat.chatbot_value, sources, turns, saved], **private)
    chat.chatbot.clear(lambda: (render.empty_panel_html(), {}, EMPTY_CHAT), None, [sources, turns, saved],
                       **private)
    return chat


def _confirm_delete(handlers: Handlers, articles: dict[str, Any]) -> None:
    """Delete asks first: the button shows what would go, and a second button does it."""

    def ask(article_id: str | None) -> tuple[Any, ...]:
        if not article_id:
            return "Pick an article to delete first.", gr.Row(visible=False)
        return (f"Delete {article_id} and its chunks from the index? Press “Yes, delete” to go on, "
                "or Cancel."), gr.Row(visible=True)

    private: dict[str, Any] = {"api_visibility": "private", "queue": False}
    articles["remove"].click(ask, articles["pick"], [articles["summary"], articles["confirm_row"]], **private)
    articles["cancel"].click(lambda: ("Nothing was deleted.", gr.Row(visible=False)), None,
                             [articles["summary"], articles["confirm_row"]], **private)
    articles["pick"].change(lambda: gr.Row(visible=False), None, articles["confirm_row"], **private)


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
        # The conversation survives a reload: kept in the browser (localStorage), never on the server.
        saved_chat = page.saved_chat = gr.BrowserState(EMPTY_CHAT, storage_key="newsqa-chat")
        prefs = Prefs.defaults(backend.settings)
        choices = gr.State(Handlers.choices(prefs.top_k, prefs.hybrid, None, None, None, prefs.backend,
                                            prefs.base_url, prefs.model))
        sources = gr.HTML(render.empty_panel_html(), elem_id="qa-sources-panel", render=False,
                          js_on_load=CITE_CLICK_JS)
        with gr.Tabs():
            chat = _chat_tab(handlers, choices, turns, sources, saved_chat)
            articles = _articles_tab(backend.settings)
            _evaluate_tab(handlers, choices)
            settings_tab = _settings_tab(handlers, backend.settings, choices)
        gr.api(handlers.ask_api, api_name="ask", concurrency_limit=ANSWER_CONCURRENCY,
               concurrency_id="answer")
        gr.api(handlers.info_api, api_name="info", queue=False)

        views = [articles["table"], articles["pick"], settings_tab["article_ids"]]
        # Ingesting and deleting share one worker, apart from answering: uploads never block chats.
        ingest: dict[str, Any] = {"api_visibility": "private", "concurrency_id": "ingest",
                                  "concurrency_limit": 1}
        articles["files"].upload(handlers.upload, articles["files"],
                                 [articles["files"], articles["summary"], *views], **ingest)
        _confirm_delete(handlers, articles)
        articles["confirm"].click(
            lambda: gr.Row(visible=False), None, articles["confirm_row"], api_visibility="private",
            queue=False,
        ).then(handlers.delete, articles["pick"], [articles["summary"], *views], **ingest)
        quiet: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
        page.load(handlers.load_settings, None, [*settings_tab["saved"], choices], queue=False, **quiet)
        page.load(handlers.on_load, None, [status, *views, timer], **quiet)
        page.load(_restored, saved_chat, [chat.chatbot, chat.chatbot_state, sources, turns], queue=False,
                  **quiet)
        timer.tick(handlers.on_load, None, [status, *views, timer], **quiet)
        if backend.watcher is not None:
            # The feed refresh runs in the server; this shows its last pass and any new articles.
            seen = gr.State(0)
            watch_timer = gr.Timer(WATCH_POLL_SECONDS)
            watch_timer.tick(handlers.watch_status, seen, [articles["watch"], seen, *views], **quiet)
    page.queue(max_size=64, default_concurrency_limit=2)
    return page


def serve(page: QAPage | Settings | None = None, *, host: str | None = None, port: int | None = None,
          auth: str | None = None, announce: Callable[[str], None] | None = None) -> None:
    """Start the page and block (``python app.py`` and ``qa serve``); warms up at once.

    ``page`` is a built page, or the settings to build one with (default: from ``QA_*``). Gradio's
    own start-up text (and its share-link hint: this page is local and private) stays quiet; once
    the server answers, ``announce`` (default: print) gets one line: "newsqa ready at URL".
    """
    if not isinstance(page, QAPage):
        page = create_app(settings=page)
    # A wrong login is refused before anything starts; --auth wins over QA_UI_AUTH.
    credentials = (parse_auth(auth, "--auth") if auth
                   else parse_auth(page.backend.settings.ui_auth or "")) or None
    page.backend.warm_up_in_background()
    name = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = port or page.backend.settings.port
    if name not in ("127.0.0.1", "localhost", "::1") and not credentials:
        log.warning("serving on %s without a login: anyone who can reach it can read and change the "
                    "indexed articles. Set QA_UI_AUTH=user:password.", name)
    page.launch(server_name=name, server_port=port, auth=credentials, quiet=True, prevent_thread_lock=True)
    (announce or _print_flushed)(f"newsqa ready at {page.local_url or ''}".rstrip("/"))
    try:
        while page.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        page.close(verbose=False)


def _print_flushed(line: str) -> None:
    print(line, flush=True)
