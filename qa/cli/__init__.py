"""The ``qa`` command line: ingest, watch, feeds, list, delete, warm, ask, chat, eval, serve.

``common`` holds the Typer app and what every command shares; the commands are in ``data``
(what goes into the index) and ``answers`` (what comes out). ``main`` is the script's entry point.
"""

from __future__ import annotations

import sys

from qa.cli import answers, data
from qa.cli.answers import format_answer
from qa.cli.common import app, assistant_for, settings_for, warn
from qa.errors import QAError

__all__ = ["answers", "app", "assistant_for", "data", "format_answer", "main", "settings_for"]


def main() -> None:
    """Entry point of the ``qa`` script: domain errors become one-line messages."""
    try:
        app()
    except QAError as exc:
        warn(f"error: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
