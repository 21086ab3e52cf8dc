"""The ``qa`` command line: ingest, list, delete, ask, chat, eval, serve.

Domain errors become one-line messages here (exit code 1); nothing below prints. Help is plain
text (no Rich panels, no type tags) and nothing is coloured when ``NO_COLOR`` is set. A little
over 400 lines: one function per command, and the commands read best side by side.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand

from qa.errors import QAError
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
TopK = Annotated[int | None, typer.Option("-k", metavar="N", help="Passages to retrieve.")]
DenseOnly = Annotated[bool, typer.Option("--dense-only", help="No BM25 fusion.")]
Llm = Annotated[str | None, typer.Option(metavar="BACKEND", help="Answer backend: none, openai or ollama.")]
Thresholds = list[str] | None


def settings_for(data_dir: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with the flags given on the command line on top."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def assistant_for(settings: Settings) -> Any:
    from qa.assistant import Assistant

    return Assistant(settings)


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


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


@app.command(cls=PlainCommand)
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Article files or folders.", metavar="PATH")],
    sync: Annotated[bool, typer.Option("--sync", help="Also remove articles whose files are gone.")] = False,
    max_file_mb: Annotated[float | None, typer.Option(
        "--max-file-mb", metavar="MB", help="Refuse larger files (default: QA_MAX_FILE_MB or 10).")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Index articles (.txt, .md, .html, .jsonl, or folders of them).

    Re-running is cheap and safe: unchanged articles are skipped. Exits 1 when any file failed
    (the summary says which and why).

    \b
    Examples:
      qa ingest news/
      qa ingest story.html archive.jsonl --json
      qa ingest news/ --sync           also drop articles whose files are gone
    """
    assistant = assistant_for(settings_for(data_dir, max_file_mb=max_file_mb))
    report = assistant.ingest(paths, sync=sync, progress=not as_json and sys.stderr.isatty())
    if as_json:
        _print_json(report.to_dict())
    else:
        typer.echo(report.summary())
    if report.failed:
        raise typer.Exit(1)


@app.command("list", cls=PlainCommand)
def list_articles(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """Show the indexed articles: id, title, published date, chunks, source.

    \b
    Examples:
      qa list
      qa list --json | jq '.[].id'
    """
    records = assistant_for(settings_for(data_dir)).articles()
    if as_json:
        _print_json([r.to_dict() for r in records])
        return
    if not records:
        typer.echo("No articles indexed yet. Add some with: qa ingest PATH")
        return
    rows = [("ID", "TITLE", "PUBLISHED", "CHUNKS", "SOURCE")] + [
        (r.id, _short(r.title, 50), (r.published or "-")[:10], str(r.chunks), r.source) for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        typer.echo("  ".join([*(cell.ljust(w) if i != 3 else cell.rjust(w)
                                for i, (cell, w) in enumerate(zip(row, widths, strict=False))), row[4]]))


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@app.command(cls=PlainCommand)
def delete(
    article_id: Annotated[str, typer.Argument(metavar="ARTICLE_ID", help="The article's id.")],
    data_dir: DataDir = None,
) -> None:
    """Remove one article and its chunks from the index (ids: see qa list).

    \b
    Example:
      qa delete kazakhstan-unrest
    """
    if not assistant_for(settings_for(data_dir)).delete(article_id):
        fail(f"no article {article_id!r} in the index (see: qa list)")
    typer.echo(f"deleted {article_id}")


def format_answer(answer: Any) -> str:
    """Human output: the answer, then each citation with its quote."""
    lines = [answer.text]
    if answer.notice:
        lines.append(f"({answer.notice})")
    for c in answer.citations:
        lines.append(f"  [{c.n}] {c.title} ({c.article_id}, chars {c.start}-{c.end}): \"{c.quote}\"")
    return "\n".join(lines)


@app.command(cls=PlainCommand)
def ask(
    question: Annotated[str, typer.Argument(metavar="QUESTION", help="The question, in quotes.")],
    k: TopK = None,
    dense_only: DenseOnly = False,
    article: Annotated[list[str] | None, typer.Option(
        "--article", metavar="ID", help="Only these article ids.")] = None,
    since: Annotated[str | None, typer.Option(
        metavar="DATE", help="Published on or after (ISO date).")] = None,
    until: Annotated[str | None, typer.Option(
        metavar="DATE", help="Published on or before (ISO date).")] = None,
    llm: Llm = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Answer a question from the indexed articles, with cited quotes.

    \b
    Examples:
      qa ask "How many policemen were killed in Almaty?"
      qa ask "Who resigned?" --since 2022-01-01 --article kazakhstan-unrest --json
    """
    assistant = assistant_for(settings_for(data_dir, llm=llm))
    answer = assistant.ask(
        question, k=k, hybrid=not dense_only, article_ids=article or None,
        published_from=since, published_to=until,
    )
    if as_json:
        _print_json(answer.to_dict())
    else:
        typer.echo(format_answer(answer))


QUIT = ("/quit", "/exit", "/q")


@app.command(cls=PlainCommand)
def chat(
    k: TopK = None,
    dense_only: DenseOnly = False,
    llm: Llm = None,
    data_dir: DataDir = None,
) -> None:
    """Ask questions in the terminal; follow-ups use the conversation so far.

    One question per line; /quit (or Ctrl-D, end of input) ends the session. Reads from a pipe
    too, one answer per line of input.

    \b
    Examples:
      qa chat
      printf 'How many were killed?\nAnd injured?\n' | qa chat
    """
    assistant = assistant_for(settings_for(data_dir, llm=llm))
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        typer.echo("Ask about the indexed articles. /quit or Ctrl-D ends the session.")
    history: list[tuple[str, str]] = []
    while True:
        question = _read_question(interactive)
        if question is None or question.strip().lower() in QUIT:
            break
        if not question.strip():
            continue
        try:
            answer = _answer_in_chat(assistant, question, history, interactive,
                                     k=k, hybrid=not dense_only)
        except QAError as exc:
            warn(f"error: {exc}")
            continue
        history.append((question, answer.text))
        typer.echo("")


def _read_question(interactive: bool) -> str | None:
    """The next line of input (None at its end); a prompt only on a terminal."""
    if interactive:
        try:
            return input("> ")
        except EOFError:
            typer.echo("")
            return None
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


def _answer_in_chat(assistant: Any, question: str, history: list[tuple[str, str]], interactive: bool,
                    **options: Any) -> Any:
    """Print the answer (streamed on a terminal) with its citations; return the ``Answer``."""
    if not interactive:
        answer = assistant.ask(question, history=history, **options)
        typer.echo(format_answer(answer))
        return answer
    answer = None
    for piece in assistant.stream(question, history=history, **options):
        if isinstance(piece, str):
            typer.echo(piece, nl=False)
        else:
            answer = piece
    typer.echo("")
    if answer is not None:
        typer.echo("\n".join(format_answer(answer).splitlines()[1:]))
    return answer


@app.command("eval", cls=PlainCommand)
def eval_(
    questions: Annotated[Path, typer.Argument(metavar="QUESTIONS",
                                              help="Question set: .jsonl, .csv or SQuAD .json.")],
    articles: Annotated[
        Path | None, typer.Option("--articles", help="Index these articles into a fresh temporary index.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Folder for report.html/.md, results.jsonl, metrics.json.")
    ] = None,
    compare: Annotated[Path | None, typer.Option("--compare", help="An earlier --report folder.")] = None,
    minimum: Annotated[Thresholds, typer.Option(
        "--min", metavar="METRIC=VALUE", help="Exit 1 if METRIC < VALUE, e.g. hit@5=0.9.")] = None,
    maximum: Annotated[Thresholds, typer.Option(
        "--max", metavar="METRIC=VALUE", help="Exit 1 if METRIC > VALUE, e.g. latency_p95=2.")] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", metavar="N", help="Only N questions (same N, same set).")] = None,
    k: TopK = None,
    dense_only: DenseOnly = False,
    llm: Llm = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Score the assistant on a question set: retrieval, answers, abstention, citations, speed.

    \b
    Examples:
      qa eval questions.jsonl --articles news/ --report out/
      qa eval questions.jsonl --min hit@5=0.9 --max latency_p95=2
    """
    from contextlib import nullcontext
    from dataclasses import asdict

    from qa.eval.compare import compare as compare_runs
    from qa.eval.questionsets import load_questions
    from qa.eval.report import render_text, write_report
    from qa.eval.results import EvalReport
    from qa.eval.run import evaluate, fresh_index, parse_thresholds

    minimums, maximums = parse_thresholds(minimum or []), parse_thresholds(maximum or [])
    question_set = load_questions(questions)
    question_set = question_set.subsample(limit) if limit else question_set
    earlier = EvalReport.load(compare) if compare else None
    settings = settings_for(data_dir, llm=llm)
    interactive = not as_json and sys.stderr.isatty()
    corpus = fresh_index(articles, settings, progress=interactive) if articles else None
    with corpus or nullcontext(assistant_for(settings)) as assistant:
        result = evaluate(question_set, assistant=assistant, k=k, hybrid=False if dense_only else None,
                          progress=interactive)
    comparison = compare_runs(result, earlier) if earlier else None
    if as_json:
        _print_json({**result.to_dict(), "comparison": asdict(comparison) if comparison else None})
    else:
        typer.echo(render_text(result, comparison))
    if report is not None:
        written = write_report(result, report, comparison=comparison)
        typer.echo(f"wrote {', '.join(str(p) for p in written.values())}", err=as_json)
    missed = result.check(minimums=minimums, maximums=maximums)
    for message in missed:
        warn(f"threshold missed: {message}")
    if missed:
        raise typer.Exit(1)


@app.command(cls=PlainCommand)
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: GRADIO_SERVER_NAME or "
                                             "127.0.0.1). Another address publishes the articles.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: GRADIO_SERVER_PORT or 7860).")] = None,
    auth: Annotated[str | None, typer.Option(help="Ask for a login, user:pass (or set QA_UI_AUTH).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what the server does.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Start the chat page on http://127.0.0.1:7860 (a fresh data dir gets the sample article).

    Prints one line when the page is ready; --verbose logs what the server does.

    \b
    Examples:
      qa serve
      qa serve --port 8080 --auth ann:secret
    """
    configure_logging(verbose)
    from qa.ui import serve as serve_page

    serve_page(settings_for(data_dir), host=host, port=port, auth=auth)


def main() -> None:
    """Entry point of the ``qa`` script: domain errors become one-line messages."""
    try:
        app()
    except QAError as exc:
        warn(f"error: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
