"""The answer commands: ask, chat, eval, serve."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from qa.answer.claims import defang
from qa.answer.relative_dates import reader_day
from qa.cli import common
from qa.cli.common import (
    DataDir,
    DenseOnly,
    JsonOut,
    Llm,
    PlainCommand,
    Thresholds,
    TopK,
    app,
    configure_logging,
    print_json,
    settings_for,
    warn,
)
from qa.errors import ConfigError, QAError
from qa.models import UNSUPPORTED_MARK


def format_answer(answer: Any) -> str:
    """Human output: the answer (led by its short answer phrase when there is one; unsupported
    sentences marked in place; links defanged so no terminal makes them clickable), how sure the
    assistant is, then each citation with its article's date and author (when known), its quote,
    and the days its relative dates ("yesterday") mean. An answer from several stories is one line
    per sentence, in date order, each with its article's date; one whose articles disagree on the
    figure asked leads with "Reports differ ..." (in ``answer.text``)."""
    if answer.stories:
        by_n = {c.n: c for c in answer.citations}
        lines = ["From several reports, in date order:"]
        # (A page of an older version may send no "lines": nothing to list then, never a crash.)
        for line in getattr(answer, "lines", ()):
            when = dict.fromkeys((by_n[n].published or "undated")[:10] for n in line.citations if n in by_n)
            lines.append(f"  {', '.join(when) or 'undated'}  {defang(line.text)} "
                         + "".join(f"[{n}]" for n in line.citations))
    else:
        lines = [defang(answer.text)]
    if answer.answered and not answer.stories:
        # (A several-stories answer's confidence is the composer's estimate for one sentence.)
        lines.append(f"  (confidence {answer.confidence:.2f})")
    if answer.unsupported:
        lines.append(f"({UNSUPPORTED_MARK} marks a sentence that no cited passage states.)")
    if answer.notice:
        lines.append(f"({answer.notice})")
    for c in answer.citations:
        lines.append(f"  [{c.n}] {c.title} ({c.article_id}, chars {c.start}-{c.end}){_byline(c)}: "
                     f"\"{c.quote}\"")
        resolved = [m for m in c.dates if m.in_quote]
        if resolved:
            days = (f"{m.phrase!r} = {reader_day(m.date)}" for m in resolved)
            lines.append("      dates: " + "; ".join(days))
        if c.also_reported_by:
            lines.append(f"      also reported as: {', '.join(c.also_reported_by)}")
    return "\n".join(lines)


def _byline(c: Any) -> str:
    """" · 6 January 2022 · by Ann Lee" (each part only when known)."""
    parts = [reader_day(c.published) if c.published else "", f"by {c.author}" if c.author else ""]
    return "".join(f" · {p}" for p in parts if p)


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
    no_server: Annotated[bool, typer.Option(
        "--no-server", help="Answer in this process even when qa serve is running "
        "(or set QA_ASK_VIA_SERVER=false).")] = False,
) -> None:
    """Answer a question from the indexed articles, with cited quotes.

    When a qa serve with the same settings runs on this machine (QA_PORT, GRADIO_SERVER_PORT or
    7860), it answers: the same answer, without loading anything here.

    \b
    Examples:
      qa ask "How many policemen were killed in Almaty?"
      qa ask "Who resigned?" --since 2022-01-01 --article kazakhstan-unrest --json
    """
    from qa.cli.remote import served_answer

    settings = settings_for(data_dir, llm=llm)
    filters: dict[str, Any] = {"k": k, "hybrid": not dense_only, "article_ids": article or None,
                               "published_from": since, "published_to": until}
    served = None if no_server else served_answer(settings, question, **filters)
    if served is not None:
        answer: Any = served
    elif common.no_index(settings):
        common.fail(common.nothing_indexed(settings))
    else:
        answer = common.assistant_for(settings, warm_up=True).ask(question, **filters).to_dict()
    if as_json:
        print_json(answer)
    else:
        typer.echo(format_answer(_attributes(answer)))


def _attributes(value: Any) -> Any:
    """``Answer.to_dict()`` read back with attribute access, as ``format_answer`` reads an Answer."""
    from types import SimpleNamespace

    if isinstance(value, dict):
        return SimpleNamespace(**{key: _attributes(v) for key, v in value.items()})
    if isinstance(value, list | tuple):
        return [_attributes(v) for v in value]
    return value


QUIT = ("/quit", "/exit", "/q")
COMMANDS = "/new starts a new conversation, /help shows this, /quit ends the session"


@app.command(cls=PlainCommand)
def chat(
    k: TopK = None,
    dense_only: DenseOnly = False,
    llm: Llm = None,
    data_dir: DataDir = None,
) -> None:
    """Ask questions in the terminal; follow-ups use the conversation so far.

    One question per line; /new forgets the conversation so far (the next question is not a
    follow-up), /quit (or Ctrl-D, end of input) ends the session. Reads from a pipe too, one
    answer per line of input.

    \b
    Examples:
      qa chat
      printf 'How many were killed?\\nAnd injured?\\n' | qa chat
    """
    settings = settings_for(data_dir, llm=llm)
    if common.no_index(settings):
        common.fail(common.nothing_indexed(settings))
    assistant = common.assistant_for(settings, warm_up=True)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        typer.echo("Ask about the indexed articles. /new starts over, /quit or Ctrl-D ends the session.")
    history: list[tuple[str, str]] = []
    while True:
        question = _read_question(interactive)
        if question is None or question.strip().lower() in QUIT:
            break
        if not question.strip():
            continue
        command = question.strip().lower()
        if command.startswith("/") and len(command.split()) == 1:
            # A slash word is a command, never a question ("/new" was answered from the articles).
            # Said on stderr when piped: stdout stays one answer per line of input.
            if command == "/new":
                history.clear()
                typer.echo("New conversation.", err=not interactive)
            elif command in ("/help", "/?"):
                typer.echo(COMMANDS, err=not interactive)
            else:
                warn(f"unknown command {question.strip()} ({COMMANDS})")
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
    """Print the verified answer with its citations; return the ``Answer``.

    Only what ``finalize`` checked is printed: the composer's raw stream can hold a short answer or
    a generated sentence that verification later drops or marks, so it is not echoed.
    """
    if interactive:
        typer.echo("…", nl=False)
    answer = assistant.ask(question, history=history, **options)
    if interactive:
        typer.echo("\r", nl=False)
    typer.echo(format_answer(answer))
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
    gate: Annotated[Path | None, typer.Option(
        "--gate", metavar="FILE", help="A JSON file of min/max thresholds (see make eval-ci).")] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", metavar="N", min=1, help="Only N questions (same N, same set).")] = None,
    split: Annotated[str | None, typer.Option(
        "--split", metavar="NAME", help="Only the questions of this split (e.g. dev).")] = None,
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
      qa eval questions.jsonl --split dev --gate gate.json
    """
    from contextlib import nullcontext
    from dataclasses import asdict

    from qa.eval.compare import compare as compare_runs
    from qa.eval.questionsets import load_questions
    from qa.eval.report import render_text, write_report
    from qa.eval.results import EvalReport, check_metric_names
    from qa.eval.run import evaluate, fresh_index, load_gate, parse_thresholds

    if report is not None and report.exists() and not report.is_dir():
        # Checked before the run: found after it, the results would be lost.
        raise ConfigError(f"--report {report} is a file; give a folder for the report")
    minimums, maximums = load_gate(gate) if gate else ({}, {})
    minimums.update(parse_thresholds(minimum or []))
    maximums.update(parse_thresholds(maximum or []))
    settings = settings_for(data_dir, llm=llm)
    check_metric_names([*minimums, *maximums], k=k or settings.top_k)  # the depth evaluate uses
    question_set = load_questions(questions)
    question_set = question_set.only_split(split) if split else question_set
    question_set = question_set.subsample(limit) if limit else question_set
    earlier = EvalReport.load(compare) if compare else None
    interactive = not as_json and sys.stderr.isatty()
    if articles is None and question_set.questions and common.no_index(settings):
        common.fail(f"{common.nothing_indexed(settings)} (qa eval --articles DIR indexes a set's "
                    "articles itself)")
    corpus = fresh_index(articles, settings, progress=interactive) if articles else None
    with corpus or nullcontext(common.assistant_for(settings)) as assistant:
        result = evaluate(question_set, assistant=assistant, k=k, hybrid=False if dense_only else None,
                          progress=interactive)
    comparison = compare_runs(result, earlier) if earlier else None
    if as_json:
        print_json({**result.to_dict(), "comparison": asdict(comparison) if comparison else None})
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
