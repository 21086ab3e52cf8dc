"""The ``qa`` command line: ingest, watch, feeds, list, delete, warm, ask, chat, eval, serve.

``common`` holds the Typer app and what every command shares; the commands are in ``data``
(what goes into the index) and ``answers`` (what comes out). ``main`` is the script's entry point.
"""

from __future__ import annotations

import sys

from qa.cli import answers, data
from qa.cli.answers import format_answer
from qa.cli.common import app, assistant_for, finish_loading, settings_for, warn
from qa.errors import QAError

__all__ = ["answers", "app", "assistant_for", "data", "format_answer", "main", "settings_for"]


def main() -> None:
    """Entry point of the ``qa`` script: domain errors become one-line messages. Model loading a
    command started finishes before the process ends (``common.finish_loading``)."""
    code = 1  # an exception no handler below expects (a bug) exits 1 too
    try:
        app()
        code = 0
    except QAError as exc:
        warn(f"error: {exc}")
        sys.exit(1)
    except SystemExit as exc:  # every command ends so (click's standalone mode)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        raise
    finally:
        finish_loading(code)


if __name__ == "__main__":
    main()
