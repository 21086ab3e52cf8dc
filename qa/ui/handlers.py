"""What the page's events call: chat, the /ask API, upload, delete, evaluate, page load.

Each handler turns domain errors into a message next to what failed; nothing here builds layout.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from index.files import temp_beside
from index.loaders import load_file
from qa.answer.history import Turn
from qa.errors import QAError
from qa.eval.results import HEADLINE_COLUMNS, STAGE_COLUMNS, describe
from qa.eval.run import evaluate_file
from qa.ui import render
from qa.ui.backend import SAMPLE_QUESTIONS, Backend
from qa.ui.prefs import EXTRACTIVE, Prefs, load_prefs, save_prefs

log = logging.getLogger("qa.ui")

FAILURE_COLUMNS = ["id", "question", "answer", "gold answers", "why"]
MAX_KEPT_TURNS = 20


def failure_text(exc: BaseException, doing: str) -> str:
    """A failure in words for the page: domain errors as they are, anything else named and logged."""
    if isinstance(exc, QAError):
        return str(exc)
    log.exception("%s failed", doing)
    detail = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {detail} (the app is still running; details are in its log)"


def _day(value: Any) -> str | None:
    return str(value)[:10] if value else None


def _loads(path: Path, max_bytes: int) -> bool:
    try:
        return bool(load_file(path, max_bytes=max_bytes).articles)
    except Exception:
        return False


class PartlyIndexed(Exception):
    """An upload's ingest failed after it had indexed ``kept`` (file names): those stay."""

    def __init__(self, cause: Exception, kept: list[str]) -> None:
        super().__init__(str(cause))
        self.cause, self.kept = cause, kept


class Handlers:
    """What the page's events call. One instance per page, shared by every session."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def options(self, choices: Mapping[str, Any] | None) -> dict[str, Any]:
        """The Settings tab's choices as ``Assistant.ask`` options (the answer backend included)."""
        choices = choices or {}
        settings = self.backend.settings
        options: dict[str, Any] = {
            "k": int(choices.get("top_k") or settings.top_k),
            "hybrid": bool(choices.get("hybrid", settings.hybrid)),
            "article_ids": list(choices["article_ids"]) if choices.get("article_ids") else None,
            "published_from": _day(choices.get("published_from")),
            "published_to": _day(choices.get("published_to")),
        }
        backend = self.backend.answer_backend(
            str(choices.get("backend") or EXTRACTIVE), str(choices.get("base_url") or ""),
            str(choices.get("model") or ""),
        )
        if backend is not None:
            options["backend"] = backend
        return options

    def chat(self, message: str, history: list[dict[str, Any]], choices: dict[str, Any] | None,
             turns: dict[int, dict[str, str]] | None) -> Iterator[tuple]:
        """Stream one answer into the chat, then show its sources; errors stay in this chat.

        ``choices`` are the Settings tab's (per session); ``turns`` (per-session state) keeps each
        answered turn's question, plain answer text and sources block, so follow-ups get the
        conversation as ``Turn`` values, not re-parsed HTML.
        """
        turn = sum(1 for m in history if m.get("role") == "assistant") + 1
        kept = {t: v for t, v in (turns or {}).items() if turn - MAX_KEPT_TURNS < t < turn}
        try:
            if not self.backend.is_ready():
                yield "_Loading the model and the index (first question only)…_", gr.skip(), gr.skip()
            assistant = self.backend.assistant()
            options = self.options(choices)
            conversation = [Turn(v["question"], v["answer"]) for _, v in sorted(kept.items())]
            answer = None
            text = ""
            for piece in assistant.stream(message, history=conversation, **options):
                if isinstance(piece, str):
                    text += piece
                    yield render.draft_markdown(text), gr.skip(), gr.skip()
                else:
                    answer = piece
            if answer is None:
                raise RuntimeError("the assistant's stream ended without an answer")
            kept[turn] = {"question": answer.question, "answer": answer.text,
                          "panel": render.sources_html(answer, turn=turn)}
            panel = render.panel_html([kept[t]["panel"] for t in sorted(kept)])
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
        (article_id, start, end, quote, published, author, dates: relative dates resolved,
        resolved_quote), passages and timings. k=0 uses the configured number."""
        try:
            answer = self.backend.assistant().ask(
                question, history=history or (), k=k or None, hybrid=hybrid, article_ids=article_ids or None,
                published_from=published_from or None, published_to=published_to or None,
            )
        except Exception as exc:
            raise gr.Error(failure_text(exc, "answering through the API")) from exc
        return answer.to_dict()

    def info_api(self, nonce: str = "") -> dict[str, Any]:
        """What ``qa ask`` checks before answering through this page: the answer to its challenge
        ``nonce``, proving this page holds the data dir's secret and serves the same settings
        (``Settings.proof``: a hash, so no setting is shown, and never the same twice)."""
        settings, port = self.backend.settings, self.backend.port_of_page()
        return {"proof": settings.proof(self.backend.serve_token, str(nonce or ""), port)}

    # -- articles ----------------------------------------------------------------------------

    def article_views(self) -> tuple[Any, Any, Any]:
        """The articles table, the delete picker and the chat's article filter, all up to date."""
        records = self.backend.assistant().articles()
        ids = render.article_choices(records)
        return (render.articles_html(records), gr.Dropdown(choices=ids, value=None), gr.Dropdown(choices=ids))

    def upload(self, files: Sequence[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Index uploaded files; too-large, empty, binary or malformed files are reported, not fatal.

        Every failure ends up in the summary box next to the upload, in words; nothing raises to
        Gradio (which would only paint "Error" badges on the outputs).
        """
        if not files:
            return (None, "Choose one or more files first.", *self._views_or_skip())
        try:
            summary = self._ingest_uploads(list(map(Path, files)), progress)
        except PartlyIndexed as stop:
            return (None, f"Indexing stopped after {', '.join(stop.kept)}: "
                          f"{failure_text(stop.cause, 'indexing the upload')}", *self._views_or_skip())
        except Exception as exc:
            return (None, f"Nothing was indexed: {failure_text(exc, 'indexing the upload')}",
                    *self._views_or_skip())
        return (None, summary, *self._views_or_skip())

    def _ingest_uploads(self, uploads: list[Path], progress: gr.Progress) -> str:
        self.backend.uploads.mkdir(parents=True, exist_ok=True)
        accepted: list[Path] = []
        names: dict[str, str] = {}
        earlier: dict[Path, Path | None] = {}  # each copy's place -> the copy it replaced, set aside
        for upload in uploads:
            # A stable path per file name: uploading a changed file again updates its article.
            target = self.backend.uploads / upload.name
            if target not in earlier:
                earlier[target] = temp_beside(target, ".earlier") if target.is_file() else None
                if (kept := earlier[target]) is not None:
                    os.replace(target, kept)
            shutil.copyfile(upload, target)
            accepted.append(target)
            names[str(target)] = upload.name
        progress(0, desc="Loading the model…")
        assistant = self.backend.assistant()

        settled: set[Path] = set()  # files whose ingest is over (written, or refused)

        def on_file(done: int, total: int, path: str) -> None:
            settled.add(Path(path).resolve())
            progress((done, total), desc=f"Indexed {Path(path).name}", unit="files")

        refused: set[Path] = set(earlier)  # until the ingest says otherwise
        try:
            report = assistant.ingest(accepted, on_file=on_file)
            refused = {t for t in earlier if any(Path(f.path) in (t, t.resolve()) for f in report.failed)}
        except Exception as exc:
            # Stopped part-way (the store failed): a file whose ingest was over and that loads was
            # written, and stays, as its articles now come from it; the others go back.
            limit = int(self.backend.settings.max_file_mb * 1_000_000)
            refused = {t for t in earlier if t.resolve() not in settled or not _loads(t, limit)}
            if indexed := [names[str(t)] for t in earlier if t not in refused]:
                raise PartlyIndexed(exc, indexed) from exc
            raise
        finally:
            # A refused file must not replace the copy its indexed article was read from.
            for target, kept in earlier.items():
                if target in refused and kept is not None:
                    os.replace(kept, target)
                elif target in refused:
                    target.unlink(missing_ok=True)
                elif kept is not None:
                    kept.unlink(missing_ok=True)
        if report.added or report.updated:
            self.backend.warm_sentences_in_background()
        summary = render.upload_summary(report.summary(), names)
        if report.failed:
            gr.Warning(f"{len(report.failed)} of {len(accepted)} file(s) not indexed; the reasons are in "
                       "“Last upload”.")
        return summary

    def _views_or_skip(self) -> tuple[Any, ...]:
        try:
            return self.article_views()
        except Exception:
            log.exception("listing the articles failed")
            return (gr.skip(), gr.skip(), gr.skip())

    def delete(self, article_id: str | None) -> tuple[Any, ...]:
        if not article_id:
            return ("Pick an article to delete first.", *self._views_or_skip())
        try:
            message = self._delete(article_id)
        except Exception as exc:
            message = f"Could not delete {article_id}: {failure_text(exc, f'deleting {article_id}')}"
        return (message, *self._views_or_skip())

    def _delete(self, article_id: str) -> str:
        assistant = self.backend.assistant()
        record = next((r for r in assistant.articles() if r.id == article_id), None)
        if record is None or not assistant.delete(article_id):
            return f"No article {article_id!r} in the index (already deleted?)."
        upload = Path(record.path) if record.path else None
        # Resolved both: records keep absolute paths, the data dir may be relative (".qa-data").
        ours = upload is not None and upload.parent.resolve() == self.backend.uploads.resolve()
        if upload is not None and ours and upload.is_file():
            upload.unlink()
        return f"Deleted “{record.title}” ({article_id}, {record.chunks} chunks)."

    # -- evaluation --------------------------------------------------------------------------

    def evaluate(self, path: str | None, choices: dict[str, Any] | None,
                 progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008
        """Run a question set (the bundled sample when none is uploaded) against the current index."""
        source = Path(path) if path else SAMPLE_QUESTIONS
        progress(0, desc="Loading the model…")
        try:
            assistant = self.backend.assistant()
        except Exception as exc:
            return render.error_html(f"Could not evaluate: {failure_text(exc, 'starting the assistant')}")

        def on_question(done: int, total: int) -> None:
            progress((done, total), desc="Asking", unit="questions")

        try:
            choices = choices or {}
            k = int(choices.get("top_k") or self.backend.settings.top_k)
            hybrid = bool(choices.get("hybrid", self.backend.settings.hybrid))
            report = evaluate_file(source, assistant, progress=on_question, k=k, hybrid=hybrid)
        except Exception as exc:
            return render.error_html(f"Could not evaluate {source.name}: "
                                     f"{failure_text(exc, f'evaluating {source.name}')}")
        failures = report.failure_rows()
        caption = f"{source.name}: {len(report.results)} questions, {len(failures)} failed (k={report.k})"
        notes = "".join(f'<p class="qa-note">{render.esc(w)}</p>' for w in report.warnings)
        return (
            # Each metric with a line on what it means (report.html says the same).
            render.table_html([*HEADLINE_COLUMNS, "what it means"],
                              [[*row, describe(row[0])] for row in report.headline_rows()], caption=caption)
            + notes
            + render.table_html(STAGE_COLUMNS, report.stage_rows(), caption="Time per stage")
            + render.table_html(FAILURE_COLUMNS, failures, caption="Failures", empty="No failures.")
        )

    def on_load(self) -> tuple[Any, ...]:
        """Each new page: start the warm-up, and poll until it is done."""
        self.backend.warm_up_in_background()
        if self.backend.error:
            # Said once, and the polling stops: the views would only fail the same way each second.
            return (self.status(), gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=False))
        if not self.backend.is_ready():
            return (self.status(), gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=True))
        return (self.status(), *self._views_or_skip(), gr.Timer(active=False))

    def watch_status(self, seen: int | None) -> tuple[Any, ...]:
        """The feed refresh's last pass in words, and the article views again when passes added or
        updated articles since this page last looked (``seen``: the count it saw, kept per session)."""
        watcher = self.backend.watcher
        if watcher is None:
            return (gr.skip(), seen, gr.skip(), gr.skip(), gr.skip())
        status = watcher.status()
        text = status.markdown(self.backend.settings.watch_interval or 0)
        views = self._views_or_skip() if status.changed != (seen or 0) else (gr.skip(), gr.skip(), gr.skip())
        return (text, status.changed, *views)

    def status(self) -> str:
        if self.backend.error:
            return f"**The assistant could not start:** {self.backend.error}"
        if not self.backend.is_ready():
            return "_Loading the model and the index… (a first start also indexes the sample article)_"
        return ""

    # -- settings ----------------------------------------------------------------------------

    @staticmethod
    def choices(top_k: Any, hybrid: Any, article_ids: Any, date_from: Any, date_to: Any, backend: Any,
                base_url: Any, model: Any) -> dict[str, Any]:
        """The Settings tab's controls as one per-session dict (what chat and evaluate read)."""
        return {"top_k": top_k, "hybrid": hybrid, "article_ids": article_ids, "published_from": date_from,
                "published_to": date_to, "backend": backend, "base_url": base_url or "", "model": model or ""}

    def load_settings(self) -> tuple[Any, ...]:
        """Each new page: the saved choices (or the environment's) into the Settings controls."""
        prefs = load_prefs(self.backend.settings)
        models = [prefs.model] if prefs.model else []
        return (prefs.top_k, prefs.hybrid, prefs.backend, prefs.base_url,
                gr.Dropdown(choices=models, value=prefs.model or None),
                self.choices(prefs.top_k, prefs.hybrid, None, None, None, prefs.backend, prefs.base_url,
                             prefs.model))

    def test_connection(self, backend: Any, base_url: Any, model: Any) -> tuple[Any, str]:
        """List the server's models into the model picker, and say what happened."""
        try:
            message, models = self.backend.test_connection(str(backend or EXTRACTIVE), str(base_url or ""),
                                                           str(model or ""))
        except Exception as exc:
            reason = render.escape_markdown(failure_text(exc, "testing the connection"))
            return gr.skip(), f"**Could not connect:** {reason}"
        # Model names and errors come from the server: literal text, never an image or a link.
        if not models:
            return gr.skip(), render.escape_markdown(message)
        value = model if model in models else models[0]
        return gr.Dropdown(choices=models, value=value), render.escape_markdown(message)

    def save_settings(self, top_k: Any, hybrid: Any, backend: Any, base_url: Any, model: Any) -> str:
        """Keep the choices for the next start (never an API key: that stays in QA_LLM_API_KEY)."""
        try:
            prefs = Prefs(int(top_k), bool(hybrid), str(backend or EXTRACTIVE), str(base_url or ""),
                          str(model or ""))
            path = save_prefs(self.backend.settings, prefs)
        except Exception as exc:
            return f"**Not saved:** {failure_text(exc, 'saving the settings')}"
        return f"Saved to {path}: the next start uses these settings."
