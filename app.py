"""The chat page: ``python app.py`` (or ``qa serve``) and open http://127.0.0.1:7860.

``gradio app.py`` works too (reload mode finds the module-level ``demo``). Everything else lives
in the ``qa`` package; the page itself is built by ``qa.ui.create_app``.
"""

from qa.ui import create_app, serve

demo = create_app()

if __name__ == "__main__":
    serve(demo)
