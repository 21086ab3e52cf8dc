"""What every ``qa`` command shares: the Typer app, plain help, settings, output and errors.

Domain errors become one-line messages at the edge (``qa.cli.main``); nothing below prints
tracebacks. Help is plain text (no Rich panels, no type tags) and nothing is coloured when
``NO_COLOR`` is set.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand

from qa.settings import Settings

HELP = """Question answering over news articles, with verified citations. Works offline.

\b
Examples:
  qa ingest news/                   index a folder of .txt, .md, .html, .jsonl files
  qa ask "Who won the election?"    answer with quoted, cited passages
  qa chat                           ask follow-up questions in the terminal
  qa serve                          open the chat page on http://127.0.0.1:7860

The index lives in --data-dir (default: QA_DATA_DIR or .qa-data). Set NO_COLOR to turn colours off.
"""


class PlainCommand(TyperCommand):
    """Help as people expect it: ``PATH...`` and ``--max-file-mb MB``, no ``<list[Path]>`` tags."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        for param in self.params:
            _plain(param)
        super().format_help(ctx, formatter)

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        # The usage line an error shows ("Missing argument") too: it read "{QUESTION}".
        for param in self.params:
            _plain(param)
        super().format_usage(ctx, formatter)


_CLICK_NAMES = {"int": "INTEGER", "str": "TEXT", "float": "NUMBER", "path": "PATH"}


def _plain(param: Any) -> None:
    if isinstance(param, TyperArgument):
        name = param.metavar or (param.name or "").upper()
        usage = f"{name}..." if param.nargs != 1 else name
        # Per parameter, at help time only: typer has no switch for its "<list[Path]>" tags.
        setattr(param, "get_usage_pieces", lambda ctx: [usage if param.required else f"[{usage}]"])  # noqa: B010
        setattr(param, "display_type_rich", lambda ctx: None)  # noqa: B010
    elif getattr(param, "is_flag", False):
        param.display_type_rich = lambda ctx: None
    elif param.metavar is None:
        shown = param.display_type  # "<int>", "<list[str]>"... as click names them: INTEGER, TEXT

        def plain(ctx: Any) -> str:
            label = shown(ctx).strip("<>").removeprefix("list[").removesuffix("]")
            return _CLICK_NAMES.get(label, label.upper())

        param.display_type_rich = plain


app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP, rich_markup_mode=None)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Index folder (default: QA_DATA_DIR or .qa-data).")
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
TopK = Annotated[int | None, typer.Option("-k", metavar="N", min=1, help="Passages to retrieve.")]
DenseOnly = Annotated[bool, typer.Option("--dense-only", help="No BM25 fusion.")]
Llm = Annotated[str | None, typer.Option(metavar="BACKEND", help="Answer backend: none, openai or ollama.")]
Thresholds = list[str] | None


def settings_for(data_dir: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with the flags given on the command line on top."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings.load(**values)


def no_index(settings: Settings) -> bool:
    """True when the data dir holds no index and none is served (``QA_CHROMA_HOST``): a command
    that only reads (ask, chat, list, delete, eval, warm, feeds, watch) then says so and creates
    nothing, where opening the store would make an empty index in a mistyped ``--data-dir`` or
    ``QA_DATA_DIR`` (and ``qa ask`` would export the model into it)."""
    # A data dir that is (or is under) a file goes on to the store, whose error says so.
    return (settings.chroma_host is None and not settings.chroma_path.exists()
            and not any(folder.is_file() for folder in (settings.data_dir, *settings.data_dir.parents)))


def nothing_indexed(settings: Settings) -> str:
    """The message for ``no_index``: what is missing, and where."""
    return (f"nothing is indexed in {settings.data_dir} yet: add articles first (qa ingest PATH), "
            "or choose the index with --data-dir or QA_DATA_DIR")


def assistant_for(settings: Settings, *, warm_up: bool = False) -> Any:
    """The Assistant for a command; ``warm_up`` starts loading the model while the store opens
    (for commands that will embed: ask, chat)."""
    from qa.assistant import Assistant

    if not warm_up:
        return Assistant(settings)
    from qa.wiring import build_embedder

    embedder = build_embedder(settings)

    def load() -> None:
        # A failure here is raised again, with its message, by the first embed call.
        with contextlib.suppress(Exception):
            embedder.load()

    # Registered before the store opens: a store that fails to open (a read-only data dir) ends
    # the command while the model still loads, and ``main`` must wait for it as for any other.
    _start_loading(load, "load-embedding-model")
    assistant = Assistant(settings, embedder=embedder)

    def warm() -> None:
        # The matcher loads beside the embedder; a failure is raised again by the question.
        with contextlib.suppress(Exception):
            assistant.warm_up()

    _start_loading(warm, "warm-up")
    return assistant


def _start_loading(target: Callable[[], None], name: str) -> None:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    _LOADING.append(thread)


# Warm-up threads of this command. A command can end before the loading it started (an empty
# index, a bad option): the interpreter would then stop a thread inside onnxruntime or an export,
# which aborts the process (SIGABRT after the command's own output); and an export still running
# once shutdown began fails (torch registers exit handlers as it imports: "can't register
# atexit after shutdown"). So ``main`` lets the loading finish before the interpreter ends.
_LOADING: list[threading.Thread] = []
SAY_AFTER = 3.0  # seconds: a model load takes less; an export (first run) up to a minute


def finish_loading(code: int, timeout: float = 300.0) -> None:
    """Wait for this command's warm-up threads; should one still run after ``timeout`` (an export
    stuck behind another process's lock), end the process now with ``code``, without the
    interpreter's shutdown, which would stop the thread mid-call and abort. A wait longer than
    ``SAY_AFTER`` seconds is said on stderr; Ctrl-C during it ends the process at once, as SIGINT would."""
    told = interrupted = False
    while _LOADING:
        thread = _LOADING[-1]
        try:
            thread.join(min(timeout, SAY_AFTER))
            if thread.is_alive() and not told:
                told = True
                typer.echo("Finishing the model load (a first run exports the model). Ctrl-C ends it "
                           "now; the next command then starts the export again.", err=True)
            thread.join(max(timeout - SAY_AFTER, 0.0))
        except KeyboardInterrupt:
            code, interrupted = 130, True
        _LOADING.pop()
        if interrupted or thread.is_alive():
            sys.stdout.flush()
            sys.stderr.flush()
            if interrupted:
                # Killed by SIGINT, not exit code 130: a shell loop of `qa ask` stops there too.
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGINT)
            os._exit(code)


def configure_logging(verbose: bool) -> None:
    """Quiet by default (warnings and errors only); ``--verbose`` shows our debug lines and the
    libraries' info lines (requests served, model loading)."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    # The handler filters too: some libraries (bm25s) set their own loggers to DEBUG on import.
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for ours in ("qa", "index"):
        logging.getLogger(ours).setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:
        # uvicorn logs every start and request at INFO; httpx every call it makes.
        for chatty in ("uvicorn", "uvicorn.access", "uvicorn.error", "httpx", "httpcore"):
            logging.getLogger(chatty).setLevel(logging.WARNING)


def no_color() -> bool:
    """https://no-color.org: any non-empty NO_COLOR turns colours off."""
    return bool(os.environ.get("NO_COLOR"))


def warn(message: str) -> None:
    """A red line on stderr (plain when NO_COLOR is set)."""
    typer.secho(message, fg=None if no_color() else typer.colors.RED, err=True,
                color=False if no_color() else None)


def fail(message: str) -> None:
    warn(f"error: {message}")
    raise typer.Exit(1)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))
