"""The chat page: ``python app.py`` (or ``qa serve``) and open http://127.0.0.1:7860.

``gradio app.py`` works too (reload mode finds the module-level ``demo``). Everything else lives
in the ``qa`` package; the page itself is built by ``qa.ui.create_app``.
"""

import sys

from qa.errors import QAError
from qa.ui import create_app, serve

try:
    demo = create_app()
except QAError as exc:  # a wrong QA_* setting: one line, not a traceback
    sys.exit(f"error: {exc}")

if __name__ == "__main__":
    try:
        serve(demo)
    except QAError as exc:
        sys.exit(f"error: {exc}")
