"""The chat page's Settings, kept for the next start in ``<data_dir>/ui-settings.json``. No gradio here.

Only choices are kept: passages, hybrid retrieval and the answer backend (kind, base URL,
model). Never an API key: an LLM server's key is read from ``QA_LLM_API_KEY`` (or
``OPENAI_API_KEY``) when the backend is built, so this file is safe to share or commit.
Filters (articles, dates) belong to one conversation and are not kept.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from index.files import write_text_atomic
from qa.errors import ConfigError
from qa.settings import Settings

log = logging.getLogger("qa.ui")

FILE_NAME = "ui-settings.json"
EXTRACTIVE = "extractive"
BACKEND_KINDS = (EXTRACTIVE, "openai", "ollama")


@dataclass(frozen=True)
class Prefs:
    """What the Settings tab keeps. ``backend`` is "extractive", "openai" or "ollama"."""

    top_k: int = 5
    hybrid: bool = True
    backend: str = EXTRACTIVE
    base_url: str = ""
    model: str = ""

    @classmethod
    def defaults(cls, settings: Settings) -> Prefs:
        """The environment's configuration (``QA_TOP_K``, ``QA_HYBRID``, ``QA_LLM``...) as prefs."""
        return cls(
            top_k=settings.top_k, hybrid=settings.hybrid,
            backend=EXTRACTIVE if settings.llm == "none" else settings.llm,
            base_url=settings.llm_base_url or "", model=settings.llm_model or "",
        )

    def checked(self) -> Prefs:
        """These prefs, or a ``ConfigError`` saying which value is wrong."""
        if self.backend not in BACKEND_KINDS:
            raise ConfigError(
                f"unknown answer backend {self.backend!r}; pick one of {', '.join(BACKEND_KINDS)}"
            )
        if not 1 <= int(self.top_k) <= 100:
            raise ConfigError(f"passages to retrieve must be between 1 and 100, got {self.top_k}")
        url = self.base_url.strip()
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"the base URL must start with http:// or https://, got {url!r}")
        return Prefs(int(self.top_k), bool(self.hybrid), self.backend, url, self.model.strip())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prefs_path(settings: Settings) -> Path:
    return settings.data_dir / FILE_NAME


def load_prefs(settings: Settings) -> Prefs:
    """The saved prefs, else the environment's; a damaged file is reported in the log and skipped."""
    path = prefs_path(settings)
    base = Prefs.defaults(settings)
    if not path.is_file():
        return base
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(Prefs)}
        return Prefs(**{**base.to_dict(), **{k: v for k, v in data.items() if k in known}}).checked()
    except (OSError, ValueError, TypeError, ConfigError) as exc:
        log.warning("ignoring the saved page settings in %s (%s)", path, exc)
        return base


def save_prefs(settings: Settings, prefs: Prefs) -> Path:
    """Write ``prefs`` atomically (a crash leaves the old file or the new one, never half of one)."""
    path = prefs_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(prefs.checked().to_dict(), indent=2) + "\n")
    return path
