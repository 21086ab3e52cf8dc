"""The CLI's habits: plain help with examples, ``qa chat`` over a pipe, NO_COLOR, exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import qa.cli
from qa.errors import QuestionError
from qa.settings import Settings
from tests.conftest import ROOT, SAMPLE_ARTICLES
from tests.fakes import FakeEmbedder

runner = CliRunner()


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, list[Any]]]:
    """The CLI over the sample article with the fast fake embedder; records each question asked."""
    from qa.assistant import Assistant

    seen: list[tuple[str, list[Any]]] = []
    assistant = Assistant(Settings(data_dir=tmp_path / "data"), embedder=FakeEmbedder())
    assistant.ingest([SAMPLE_ARTICLES])
    real_ask = assistant.ask

    def ask(question: str, *, history: Any = (), **options: Any) -> Any:
        seen.append((question, list(history)))
        return real_ask(question, history=history, **options)

    monkeypatch.setattr(assistant, "ask", ask)
    monkeypatch.setattr(qa.cli.common, "assistant_for", lambda settings, **_: assistant)
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "data"))  # the index the commands find
    return seen


def test_chat_answers_each_line_with_the_conversation_as_history(asked: list[Any]) -> None:
    lines = "How many policemen were killed in Almaty?\n\nAnd how many were injured?\n/quit\nNever asked\n"
    result = runner.invoke(qa.cli.app, ["chat"], input=lines)
    assert result.exit_code == 0, result.output
    questions = [q for q, _ in asked]
    assert questions == ["How many policemen were killed in Almaty?", "And how many were injured?"]
    first_answer = result.output.split("\n\n")[0].splitlines()[0]
    assert asked[1][1] == [("How many policemen were killed in Almaty?", first_answer)]
    assert "Twelve policemen" in result.output and "353" in result.output.split("\n\n")[1]


def test_chat_ends_at_end_of_input_and_reports_a_bad_question_without_stopping(asked: list[Any]) -> None:
    result = runner.invoke(qa.cli.app, ["chat"], input="   \t\n" + "x" * 3000 + "\nWho is the president?")
    assert result.exit_code == 0
    assert "error: the question is 3,000 characters long" in result.stderr
    assert [q for q, _ in asked][-1] == "Who is the president?"


def test_ask_about_an_article_that_is_not_indexed_is_an_error_not_a_miss(asked: list[Any]) -> None:
    result = runner.invoke(qa.cli.app, ["ask", "How many policemen were killed?", "--article", "nope",
                                        "--no-server"])
    # Raised to ``qa.cli.main``, which prints it as one error line and exits 1 (as for every QAError).
    assert isinstance(result.exception, QuestionError) and result.exit_code == 1
    assert str(result.exception) == "no article 'nope' is indexed (qa list shows the article ids)"
    assert "could not find" not in result.output


def test_chat_slash_words_are_commands_not_questions(asked: list[Any]) -> None:
    """`/new` and `/help` were answered from the articles, `/new` with a confident sentence."""
    lines = "How many policemen were killed in Almaty?\n/new\nAnd how many were injured?\n/help\n/nope\n"
    result = runner.invoke(qa.cli.app, ["chat"], input=lines)
    assert result.exit_code == 0, result.output
    questions = [q for q, _ in asked]
    assert questions == ["How many policemen were killed in Almaty?", "And how many were injured?"]
    assert asked[1][1] == []  # after /new the next question starts a conversation
    assert "New conversation." in result.stderr and "/new starts a new conversation" in result.stderr
    assert "New conversation." not in result.stdout  # piped: stdout is the answers only
    assert "unknown command /nope" in result.stderr


def test_help_is_plain_text_with_examples_and_no_type_tags() -> None:
    top = runner.invoke(qa.cli.app, ["--help"]).output
    assert "Examples:" in top and "qa chat" in top and "``" not in top
    for command in ("ingest", "watch", "feeds", "list", "delete", "ask", "chat", "eval", "serve"):
        text = runner.invoke(qa.cli.app, [command, "--help"]).output
        assert not re.search(r"<\w+(\[\w+\])?>", text) and "``" not in text and "╭" not in text, text
        assert "Example" in text, command
    ingest = runner.invoke(qa.cli.app, ["ingest", "--help"], prog_name="qa").output
    assert "Usage: qa ingest [OPTIONS] [PATH...]" in ingest and "--max-file-mb MB" in ingest
    # The usage line of an error too ("{QUESTION}" before).
    missing = runner.invoke(qa.cli.app, ["ask"], prog_name="qa").output
    assert "Usage: qa ask [OPTIONS] QUESTION\n" in missing and "{" not in missing, missing


@pytest.mark.parametrize("no_color", ["1", ""])
def test_errors_are_red_unless_no_color_is_set(no_color: str, tmp_path: Path) -> None:
    # A real terminal is what gets colours: script(1) gives the child a pty.
    env = {**os.environ, "NO_COLOR": no_color, "QA_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    code = "import sys; sys.argv = ['qa', 'delete', 'nothing-here']; from qa.cli import main; main()"
    command = f"{sys.executable} -c \"{code}\""
    out = subprocess.run(["script", "-qec", command, "/dev/null"], env=env, capture_output=True, text=True,
                         timeout=120).stdout
    assert "error: no article 'nothing-here' in the index" in out
    assert ("\x1b[" in out) is (no_color == "")


def test_a_bad_flag_value_is_one_line_not_a_traceback(tmp_path: Path) -> None:

    done = subprocess.run(
        [sys.executable, "-m", "qa.cli", "ask", "Who?", "--llm", "foo", "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: a setting is not valid: llm: "), done.stderr
    assert "(got 'foo')" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize(("command", "env", "said"), [
    (["-m", "qa.cli", "serve", "--port", "9", "--auth", "nocolon"], {},
     "error: --auth must look like user:password"),
    (["app.py"], {"QA_UI_AUTH": "bad"}, "error: QA_UI_AUTH must look like user:password"),
    (["app.py"], {"QA_TOP_K": "abc"}, "error: a setting is not valid: QA_TOP_K: "),
    (["-m", "qa.cli", "list"], {"QA_TOP_K": "abc"}, "error: a setting is not valid: QA_TOP_K: "),
    # Each value valid alone; together the chunker's rule failed in a traceback from `qa list` on.
    (["-m", "qa.cli", "list"], {"QA_CHUNK_TOKENS": "40"},
     "error: a setting is not valid: QA_CHUNK_OVERLAP_TOKENS: must be less than half of "
     "QA_CHUNK_TOKENS (40)"),
])
def test_a_wrong_setting_for_the_page_is_one_line_naming_it_before_anything_starts(
    tmp_path: Path, command: list[str], env: dict[str, str], said: str,
) -> None:
    """`--auth nocolon` printed two tracebacks (the warm-up had started and failed at exit);
    `QA_TOP_K=abc python app.py` a pydantic traceback; the CLI named `top_k`, not QA_TOP_K."""
    done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "QA_DATA_DIR": str(tmp_path / "d"), **env})
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(said), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "d").exists()  # refused before anything was opened or written


def test_a_command_that_ends_early_lets_the_model_loading_it_started_finish(tmp_path: Path) -> None:
    """`qa ask` on an empty index ends in milliseconds while its warm-up thread still exports and
    loads the models: stopping that thread at interpreter exit aborted the process (SIGABRT), and
    an export still running once shutdown began failed with tracebacks ("can't register atexit
    after shutdown") and left no export behind, so every later command exported again."""
    import subprocess
    import sys

    models = tmp_path / "models"
    (tmp_path / "empty" / "chroma").mkdir(parents=True)  # an index with nothing in it
    done = subprocess.run(
        [sys.executable, "-m", "qa.cli", "ask", "Who?", "--data-dir", str(tmp_path / "empty"), "--no-server"],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "QA_MODEL_CACHE": str(models), "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 1
    error, *rest = done.stderr.strip().splitlines()
    assert error.startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    assert [line.split(" (")[0] for line in rest] == ["Finishing the model load"], done.stderr  # why it waits
    # The bundled model, the matcher and the reader: each exported whole.
    assert len(list(models.glob("*/model.onnx"))) == 3, sorted(p.name for p in models.rglob("*"))


def test_loading_is_waited_for_after_a_command_fails_unexpectedly(tmp_path: Path) -> None:
    """Not only a QAError or an exit: a bug's exception too (the interpreter would stop the thread)."""
    script = """
import sys, threading, time
from pathlib import Path
from qa.cli import common, main

flag = Path(sys.argv[1])

def load():
    time.sleep(1.0)
    flag.write_text("loaded")

thread = threading.Thread(target=load, name="warm-up", daemon=True)
thread.start()
common._LOADING.append(thread)

@common.app.command("boom")
def boom() -> None:
    raise RuntimeError("a bug")

sys.argv = ["qa", "boom"]
main()
"""
    flag = tmp_path / "flag"
    done = subprocess.run([sys.executable, "-c", script, str(flag)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "RuntimeError: a bug" in done.stderr
    assert flag.read_text() == "loaded"


def test_ctrl_c_while_a_command_waits_for_the_model_load_ends_it_at_once() -> None:
    """A command that ended before its model load (an export, on a first run) waited silently;
    a Ctrl-C then left the interpreter tearing down around the loading thread (a traceback,
    or an abort inside onnxruntime)."""
    script = """
import signal, threading, time
from qa.cli import common

# As in a terminal: a shell starts a background job with SIGINT ignored, and CI may run so.
signal.signal(signal.SIGINT, signal.default_int_handler)
common.SAY_AFTER = 0.2
loading = threading.Thread(target=time.sleep, args=(60,), name="warm-up", daemon=True)
loading.start()
common._LOADING.append(loading)
print("answered", flush=True)
common.finish_loading(0)
"""
    import signal

    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == "answered\n"
    said = proc.stderr.readline()
    assert said.startswith("Finishing the model load"), said
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=10)
    finally:
        proc.kill()
    assert code == -signal.SIGINT, proc.stderr.read()[-2000:]  # as SIGINT ends it: a shell loop stops
    assert "Traceback" not in proc.stderr.read()


def test_loading_stuck_at_exit_is_waited_for_only_so_long() -> None:
    """An export stuck behind another process's lock must not keep a finished command alive."""
    script = """
import threading, time
from qa.cli import common

stuck = threading.Thread(target=time.sleep, args=(60,), name="warm-up", daemon=True)
stuck.start()
common._LOADING.append(stuck)
print("answered")
common.finish_loading(3, timeout=0.5)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (3, "answered\n"), done.stderr[-2000:]


def test_python_dash_m_qa_runs_the_cli_and_counts_read_as_english() -> None:
    done = subprocess.run([sys.executable, "-m", "qa", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "Usage: python -m qa" in done.stdout  # "No module named qa.__main__"
    from index.report import Run

    run = Run()
    run.chunks_added = 1
    assert "(1 chunk embedded," in run.report(0.0).summary()


def test_a_mistyped_data_dir_is_said_and_nothing_is_created(tmp_path: Path) -> None:
    """Commands that only read an index (ask, chat, list, delete, warm, eval) on a data dir that
    holds none say where they looked, and create nothing there: opening the store made an empty
    index in the mistyped folder, and `qa ask` exported the model into it first."""
    typo = tmp_path / "qa-dta"
    env = {**os.environ, "QA_DATA_DIR": str(typo), "PYTHONPATH": str(ROOT)}
    questions = ROOT / "qa" / "samples" / "questions" / "kazakhstan.jsonl"
    commands = (["ask", "Who?", "--no-server"], ["chat"], ["delete", "x"], ["warm"], ["eval", str(questions)],
                ["watch", "--once"], ["feeds", "--remove", "http://127.0.0.1/rss"])
    for argv in commands:
        done = subprocess.run([sys.executable, "-m", "qa.cli", *argv], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120, env=env)
        assert done.returncode == 1, (argv, done.stderr)
        assert f"nothing is indexed in {typo} yet" in done.stderr and "Traceback" not in done.stderr, argv
    listed = subprocess.run([sys.executable, "-m", "qa.cli", "list"], capture_output=True, text=True,
                            timeout=120, env=env)
    assert listed.returncode == 0 and f"No articles indexed yet (no index in {typo})" in listed.stdout
    feeds = subprocess.run([sys.executable, "-m", "qa.cli", "feeds", "--json"], capture_output=True,
                           text=True, timeout=120, env=env)
    assert feeds.returncode == 0 and feeds.stdout.strip() == "[]"
    assert not typo.exists()
