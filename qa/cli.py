"""The ``qa`` command line: ingest, list, delete, ask, eval, serve.

Domain errors become one-line messages here (exit code 1); nothing below prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from qa.errors import QAError
from qa.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Index folder (default: QA_DATA_DIR or .qa-data).")
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def settings_for(data_dir: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with the flags given on the command line on top."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def assistant_for(settings: Settings) -> Any:
    from qa.assistant import Assistant

    return Assistant(settings)


def fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Article files or folders.")],
    sync: Annotated[bool, typer.Option("--sync", help="Also remove articles whose files are gone.")] = False,
    max_file_mb: Annotated[float | None, typer.Option("--max-file-mb", help="Refuse larger files.")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Index articles (.txt, .md, .html, .jsonl, folders); re-running is cheap and safe."""
    assistant = assistant_for(settings_for(data_dir, max_file_mb=max_file_mb))
    report = assistant.ingest(paths, sync=sync, progress=not as_json and sys.stderr.isatty())
    if as_json:
        _print_json(report.to_dict())
    else:
        typer.echo(report.summary())
    if report.failed and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)


@app.command("list")
def list_articles(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """Show the indexed articles."""
    records = assistant_for(settings_for(data_dir)).articles()
    if as_json:
        _print_json([r.to_dict() for r in records])
        return
    if not records:
        typer.echo("No articles indexed yet. Add some with: qa ingest PATH")
        return
    for r in records:
        typer.echo(f"{r.id}\t{r.title}\t{r.source}\t{r.published or '-'}\t{r.chunks} chunks")


@app.command()
def delete(article_id: str, data_dir: DataDir = None) -> None:
    """Remove one article and its chunks from the index."""
    if not assistant_for(settings_for(data_dir)).delete(article_id):
        fail(f"no article {article_id!r} in the index (see: qa list)")
    typer.echo(f"deleted {article_id}")


def format_answer(answer: Any) -> str:
    """Human output: the answer (led by its short answer phrase when there is one), how sure the
    assistant is, then each citation with its quote."""
    lines = [answer.text]
    if answer.answered:
        lines.append(f"  (confidence {answer.confidence:.2f})")
    if answer.notice:
        lines.append(f"({answer.notice})")
    for c in answer.citations:
        lines.append(f"  [{c.n}] {c.title} ({c.article_id}, chars {c.start}-{c.end}): \"{c.quote}\"")
    return "\n".join(lines)


@app.command()
def ask(
    question: str,
    k: Annotated[int | None, typer.Option("-k", help="Passages to retrieve.")] = None,
    dense_only: Annotated[bool, typer.Option("--dense-only", help="No BM25 fusion.")] = False,
    article: Annotated[list[str] | None, typer.Option("--article", help="Only these article ids.")] = None,
    since: Annotated[str | None, typer.Option(help="Published on or after (ISO date).")] = None,
    until: Annotated[str | None, typer.Option(help="Published on or before (ISO date).")] = None,
    llm: Annotated[str | None, typer.Option(help="Answer backend: none, openai or ollama.")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Answer a question from the indexed articles, with cited quotes."""
    assistant = assistant_for(settings_for(data_dir, llm=llm))
    answer = assistant.ask(
        question, k=k, hybrid=not dense_only, article_ids=article or None,
        published_from=since, published_to=until,
    )
    if as_json:
        _print_json(answer.to_dict())
    else:
        typer.echo(format_answer(answer))


@app.command("eval")
def eval_(
    questions: Annotated[Path, typer.Argument(help="Question set: .jsonl, .csv or SQuAD .json.")],
    articles: Annotated[
        Path | None, typer.Option("--articles", help="Index these articles into a fresh temporary index.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Folder for report.html/.md, results.jsonl, metrics.json.")
    ] = None,
    compare: Annotated[Path | None, typer.Option("--compare", help="An earlier --report folder.")] = None,
    minimum: Annotated[
        list[str] | None, typer.Option("--min", help="Exit 1 if METRIC < VALUE, e.g. hit@5=0.9.")
    ] = None,
    maximum: Annotated[
        list[str] | None, typer.Option("--max", help="Exit 1 if METRIC > VALUE, e.g. latency_p95=2.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only N questions (same N, same set).")] = None,
    k: Annotated[int | None, typer.Option("-k", help="Passages to retrieve.")] = None,
    dense_only: Annotated[bool, typer.Option("--dense-only", help="No BM25 fusion.")] = False,
    llm: Annotated[str | None, typer.Option(help="Answer backend: none, openai or ollama.")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Score the assistant on a question set: retrieval, answers, abstention, citations, speed."""
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
        typer.secho(f"threshold missed: {message}", fg=typer.colors.RED, err=True)
    if missed:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: GRADIO_SERVER_NAME or "
                                             "127.0.0.1). Another address publishes the articles.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: GRADIO_SERVER_PORT or 7860).")] = None,
    auth: Annotated[str | None, typer.Option(help="Ask for a login, user:pass (or set QA_UI_AUTH).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Start the chat page on http://127.0.0.1:7860; a fresh data dir gets the sample article."""
    from qa.ui import serve as serve_page

    serve_page(settings_for(data_dir), host=host, port=port, auth=auth)


def main() -> None:
    """Entry point of the ``qa`` script: domain errors become one-line messages."""
    try:
        app()
    except QAError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
