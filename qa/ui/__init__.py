"""The Gradio chat page (the only package that imports gradio): ``create_app`` and ``serve``."""

from qa.ui.page import create_app, serve

__all__ = ["create_app", "serve"]
