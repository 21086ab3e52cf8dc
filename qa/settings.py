"""One ``Settings`` object, read from ``QA_*`` environment variables at the edge, passed down."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qa.errors import ConfigError

# Settings that do not change what an answer says (who may log in, where the page listens).
_NOT_ANSWER_SHAPING = {"ui_auth", "port", "ask_via_server", "llm_api_key"}
# Never repeated in an error message.
_SECRETS = {"ui_auth", "llm_api_key"}
# A secret a running page keeps in its data dir (owner-only): `qa ask` trusts a page only when
# the page proves it shares this file, so no other local process can pose as the page.
SERVE_TOKEN = "serve-token"
# The key Gradio encrypts the chat kept in the browser with (sent to every visitor: no credential),
# the same across restarts, or a restarted page could not read back the conversation it kept.
BROWSER_SECRET = "browser-secret"
# The fitted answer-step weights (the models' JSON, the matcher's and the reader's LoRA files): a
# page started before a refit answers differently.
_WEIGHTS = sorted(p for p in (Path(__file__).parent / "answer").iterdir() if p.suffix in (".json", ".npz"))


def parse_auth(value: str, name: str = "QA_UI_AUTH") -> list[tuple[str, str]]:
    """``"user:password"`` (several separated by commas) -> Gradio's list of credentials;
    ``ConfigError`` naming ``name`` (where the value came from) when it is not that shape."""
    pairs = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        user, sep, password = item.partition(":")
        if not sep or not user or not password:
            raise ConfigError(f"{name} must look like user:password (several: user1:pw1,user2:pw2)")
        pairs.append((user, password))
    return pairs


class Settings(BaseSettings):
    """Every knob of the assistant. Defaults are the measured good ones; none is needed to start.

    ``Settings.load()`` at the edges: a wrong value is a ``ConfigError`` naming its variable."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    @classmethod
    def load(cls, **values: Any) -> Settings:
        """Settings from the ``QA_*`` environment with ``values`` on top; a wrong value raises
        ``ConfigError`` naming the variable (or the given name) and the value."""
        try:
            return cls(**values)
        except ValidationError as exc:
            wrong = []
            for e in exc.errors():
                field = str(e["loc"][0]) if e["loc"] else ""
                where = field if field in values else f"QA_{field.upper()}" if field else "a setting"
                msg = str(e["msg"]).removeprefix("Value error, ")
                shown = field and field not in _SECRETS
                wrong.append(f"{where}: {msg} (got {e['input']!r})" if shown else f"{where}: {msg}")
            raise ConfigError(f"a setting is not valid: {'; '.join(wrong)}") from None

    data_dir: Path = Field(default=Path(".qa-data"), description="Where the Chroma index lives.")
    embedding_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    embed_backend: Literal["onnx", "onnx-int8", "torch"] = Field(
        default="onnx",
        description="How the model runs: onnx (onnxruntime, the same vectors as torch to float32 "
        "rounding, faster), onnx-int8 (int8 weights: faster still, slightly different vectors), "
        "torch (sentence-transformers on PyTorch). See BENCHMARKS.md.",
    )
    device: str = Field(
        default="cpu", pattern=r"^(cpu|auto|cuda(:\d+)?)$",
        description="cpu, cuda, cuda:N, or auto (cuda when PyTorch sees a GPU, else cpu).",
    )
    embed_batch_size: int = Field(default=32, ge=1)
    model_cache: Path | None = Field(
        default=None, description="Where the ONNX export of the model is kept (default: "
        "<data_dir>/models); written once, on first use, from the local weights.",
    )

    chroma_host: str | None = Field(
        default=None, description="Use a Chroma server instead of the embedded store."
    )
    chroma_port: int = 8000
    chroma_ssl: bool = False

    chunk_tokens: int = Field(default=254, ge=8, le=510)
    chunk_overlap_tokens: int = Field(default=48, ge=0)

    @field_validator("chunk_overlap_tokens")
    @classmethod
    def _overlap_under_half(cls, value: int, info: ValidationInfo) -> int:
        # The chunker's own rule, checked here so a smaller QA_CHUNK_TOKENS with the default
        # overlap is one line naming both settings, not a traceback from the first command.
        tokens = info.data.get("chunk_tokens")
        if tokens is not None and value >= tokens // 2:
            raise ValueError(f"must be less than half of QA_CHUNK_TOKENS ({tokens}): "
                             f"set QA_CHUNK_OVERLAP_TOKENS below {tokens // 2}")
        return value
    max_file_mb: float = Field(
        default=10.0, gt=0,
        description="The one file size limit: ingest refuses larger files, and the chat page's "
        "upload takes none larger.",
    )

    top_k: int = Field(default=5, ge=1, le=100)
    hybrid: bool = True
    rrf_k: int = Field(default=60, ge=1)
    dense_candidates: int = Field(default=30, ge=1)
    max_answer_sentences: int = Field(default=2, ge=1, le=10)
    abstain_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Abstain below this confidence (estimated probability the answer is right); "
        "None: the threshold fitted with the answer model (qa/answer/answerer-v1.json).",
    )
    short_answer_floor: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Lead with a short answer phrase only when its estimated probability of being "
        "right reaches this; 0 always leads with the best phrase. None: the floor fitted with the "
        "phrase model (shown phrases right at least 75% of the time in cross-validation).",
    )
    matcher: bool = Field(
        default=True,
        description="Score candidate sentences with the matcher (the bundled model fine-tuned to "
        "put a question near its answer, qa/answer/matcher-v1.npz) as well as the sentence "
        "features; off: without it (misses more paraphrases). Exported to the model cache once.",
    )
    reader: bool = Field(
        default=True,
        description="Pick the short answer phrase with the reader (the bundled model fine-tuned to "
        "read a question and a sentence and mark the answer, qa/answer/reader-v1.npz) as well as "
        "the phrase features; off: the phrase features alone. Exported to the model cache once.",
    )
    sentence_cache: bool = Field(
        default=True,
        description="Keep the answer step's sentence vectors in the data dir "
        "(sentence-vectors.sqlite), so a new process (qa ask, a restarted page) reads what earlier "
        "ones computed instead of embedding again; qa warm computes them for every indexed sentence.",
    )
    warm_chunks: int = Field(
        default=20_000, ge=0,
        description="The chat page computes sentence vectors in the background for up to this many "
        "chunks (newest first) after it starts, after each ingest and when another process changed the "
        "index (looked at every minute), pausing between batches while "
        "a question is answered, so first questions embed nothing; 0: never (questions still keep "
        "what they compute).",
    )
    max_question_chars: int = Field(default=2000, ge=10)

    ui_auth: str | None = Field(default=None, description="Chat login, user:password[,user2:pw2].")
    port: int | None = Field(
        default=None, ge=1, le=65535,
        description="Port of qa serve, and where qa ask looks for a running one "
        "(default: GRADIO_SERVER_PORT or 7860).",
    )
    ask_via_server: bool = Field(
        default=True,
        description="qa ask answers through a qa serve running on this machine with the same "
        "settings (warm: no start-up), else in-process.",
    )

    llm: Literal["none", "openai", "ollama"] = "none"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = Field(default=60.0, gt=0)
    llm_support_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="Score a cited sentence needs to count as support for a generated claim "
        "(with the word, number and polarity checks; see qa/llm/support.py and BENCHMARKS.md).",
    )

    fetch_timeout: float = Field(default=15.0, gt=0, description="Seconds per connect/read of a URL.")
    fetch_max_mb: float = Field(default=5.0, gt=0, description="Largest page or feed fetched.")
    fetch_max_redirects: int = Field(default=5, ge=0)
    feed_item_cap: int = Field(default=50, ge=1, description="Items read from one feed per run.")
    watch_interval: float | None = Field(
        default=None, ge=0,
        description="Minutes between refreshes of the subscribed feeds while the chat page runs "
        "(QA_WATCH_INTERVAL=30). Unset (the default) or 0: the page never fetches on its own.",
    )
    dedup: bool = Field(default=True, description="Group near-duplicate articles (wire copies).")
    dedup_threshold: float = Field(
        default=0.7, gt=0.0, le=1.0,
        description="Estimated Jaccard similarity of word 5-grams at which two articles are copies.",
    )

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    def serve_token(self, *, create: bool = False) -> str | None:
        """The running page's secret in the data dir (None when there is none and ``create`` is
        off). Created once, readable by its owner only."""
        return self.secret(SERVE_TOKEN, create=create)

    def secret(self, name: str, *, create: bool = False) -> str | None:
        """A secret kept in the data dir's file ``name`` (None when there is none and ``create``
        is off, or it cannot be written). Created once, readable by its owner only."""
        path = self.data_dir / name
        if create and not path.exists():
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another page wrote it first: use that one
            except OSError:
                return None
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(16))
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def proof(self, token: str | None, nonce: str, port: int | None) -> str | None:
        """What a page serving these settings on ``port`` with the data dir's secret ``token``
        answers to the challenge ``nonce`` (an HMAC of the three and of ``fingerprint``): a fresh
        nonce each time, so an answer seen once cannot be replayed by another process posing as
        the page, and the port, so the real page's answer relayed through another port is none."""
        if not token or len(nonce) < 16 or port is None:
            return None
        message = f"{nonce}\0{port}\0{self.fingerprint(token)}".encode()
        return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()

    def fingerprint(self, token: str | None = None) -> str:
        """A hash of everything that shapes an answer (data dir, model, retrieval, LLM, the code's
        version and fitted weights) and of ``token``, so two processes can check they would
        answer alike, and share a data dir, without showing each other a setting."""
        values: dict[str, object] = self.model_dump(mode="json", exclude=_NOT_ANSWER_SHAPING)
        values["token"] = token
        try:
            values["version"] = metadata.version("newsqa")
        except metadata.PackageNotFoundError:
            values["version"] = None
        values["weights"] = [hashlib.sha256(w.read_bytes()).hexdigest() for w in _WEIGHTS]
        values["data_dir"] = str(self.data_dir.expanduser().resolve())
        values["model_cache"] = str(self.model_cache_dir.expanduser().resolve())
        # The key itself never leaves this process; only whether one is set counts.
        values["llm_api_key"] = bool(self.llm_api_key)
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()

    @property
    def model_cache_dir(self) -> Path:
        return self.model_cache or self.data_dir / "models"
