"""Chat models behind one small wrapper: OpenAI-compatible servers and Ollama (via LangChain).

This is the only module that imports ``langchain_openai``, ``langchain_ollama``, ``openai`` and
``ollama``, and only when a backend is built, so the extractive assistant never needs them.
Every failure of a call (unreachable server, timeout, rate limit, malformed reply) becomes an
``LLMError`` that names the backend and its URL; callers fall back on the extractive answer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from qa.errors import ConfigError, QAError
from qa.settings import Settings

Message = tuple[str, str]
"""A chat message as ``(role, content)``; roles are "system", "user" and "assistant"."""

DEFAULT_URLS = {"openai": "https://api.openai.com/v1", "ollama": "http://localhost:11434"}
DEFAULT_MODELS = {"ollama": "llama3.1"}
_EXTRAS = {"openai": "openai", "ollama": "ollama"}
# A reply longer than this is cut: answers are a few sentences, and a runaway generation must end.
MAX_TOKENS = 512


class LLMError(QAError):
    """A chat model call failed; the message names the backend, its URL and the reason."""

    def __init__(self, backend: str, url: str, reason: str) -> None:
        super().__init__(f"{backend} at {url}: {reason}")
        self.backend = backend
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class ChatBackend:
    """A LangChain chat model plus what an error message needs to say where it runs.

    ``timeout`` bounds every read from the server (so a silent server fails after that long);
    ``total_timeout`` bounds a whole streamed reply, so a server that never stops ends too.
    """

    model: Any
    kind: str
    model_name: str
    url: str
    timeout: float
    total_timeout: float

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.model_name}"

    def complete(self, messages: Sequence[Message]) -> str:
        """The whole reply in one request (no streaming)."""
        try:
            reply = self.model.invoke(list(messages))
        except Exception as exc:  # any client failure is reported the same way
            raise self._error(exc) from exc
        return self._text(reply.content)

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        """Reply text pieces as the server streams them."""
        deadline = time.monotonic() + self.total_timeout
        received = False
        try:
            for chunk in self.model.stream(list(messages)):
                piece = chunk.content if isinstance(chunk.content, str) else _joined(chunk.content)
                if piece:
                    received = True
                    yield piece
                if time.monotonic() > deadline:
                    raise LLMError(self.kind, self.url, f"no complete reply within {self.total_timeout:g}s")
        except LLMError:
            raise
        except Exception as exc:  # any client failure is reported the same way
            raise self._error(exc) from exc
        if not received:
            raise LLMError(self.kind, self.url, "malformed reply (no text)")

    def _text(self, content: Any) -> str:
        text = content if isinstance(content, str) else _joined(content)
        if not text.strip():
            raise LLMError(self.kind, self.url, "malformed reply (no text)")
        return text

    def _error(self, exc: BaseException) -> LLMError:
        return LLMError(self.kind, self.url, failure_reason(exc, timeout=self.timeout))


def _joined(content: Any) -> str:
    if isinstance(content, list):
        return "".join(
            part if isinstance(part, str) else str(part.get("text", "")) if isinstance(part, dict) else ""
            for part in content
        )
    return ""


def failure_reason(exc: BaseException, *, timeout: float) -> str:
    """A short human reason for a client exception (openai, ollama and httpx alike)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 5:
        chain.append(current)
        current = current.__cause__ or current.__context__
    names = {cls.__name__ for e in chain for cls in type(e).__mro__}
    status = next((getattr(e, "status_code", None) for e in chain if getattr(e, "status_code", None)), None)
    if names & {"APITimeoutError", "TimeoutException", "TimeoutError", "ReadTimeout", "ConnectTimeout"}:
        return f"timed out after {timeout:g}s"
    if status == 429 or "RateLimitError" in names:
        return "rate limited (HTTP 429); try again later"
    if names & {"APIConnectionError", "ConnectError", "ConnectionError"}:
        return "unreachable (is the server running?)"
    if status:
        detail = " ".join(str(exc).split())[:160]
        return f"HTTP {status}: {detail}"
    return f"malformed reply ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"


def backend_url(settings: Settings) -> str:
    """Where the configured backend is expected to answer."""
    if settings.llm == "none":
        raise ConfigError("no LLM is configured (set QA_LLM to openai or ollama)")
    return (settings.llm_base_url or DEFAULT_URLS[settings.llm]).rstrip("/")


def build_chat_backend(settings: Settings) -> ChatBackend:
    """The chat model ``settings`` ask for; nothing is contacted until the first call."""
    url = backend_url(settings)
    model = settings.llm_model or DEFAULT_MODELS.get(settings.llm)
    if not model:
        raise ConfigError(f"the {settings.llm} backend needs a model name: set QA_LLM_MODEL")
    timeout = settings.llm_timeout
    chat = (_openai(settings, url, model) if settings.llm == "openai"
            else _ollama(url, model, timeout, _ollama_headers(settings)))
    return ChatBackend(
        model=chat, kind=settings.llm, model_name=model, url=url,
        timeout=timeout, total_timeout=4 * timeout,
    )


def _missing_extra(kind: str, exc: ImportError) -> ConfigError:
    return ConfigError(
        f"QA_LLM={kind} needs the optional extra: pip install 'newsqa[{_EXTRAS[kind]}]' ({exc})"
    )


# Sent instead of the operator's key to a server the operator did not configure (``qa.wiring.
# llm_settings`` sets it for a URL typed in the page): no client may fall back to a key of its own.
NO_KEY = "not-needed"


def _ollama_headers(settings: Settings) -> dict[str, str]:
    # The Ollama client sends OLLAMA_API_KEY from the environment to any host unless told otherwise.
    return {"authorization": f"Bearer {NO_KEY}"} if settings.llm_api_key == NO_KEY else {}


# What a server the operator did not configure gets from the OpenAI clients: the headers a
# request needs, and the SDK's own x-stainless-* (it reads some back from the request). The
# clients add others from the environment, to any host: OPENAI_ORG_ID / OPENAI_PROJECT_ID, and
# every header of OPENAI_CUSTOM_HEADERS (a gateway key, another Authorization).
_STRANGER_HEADERS = frozenset({"host", "accept", "accept-encoding", "connection", "content-type",
                               "content-length", "user-agent"})


def _for_a_stranger(request: Any) -> None:
    for name in [n for n in request.headers
                 if n.lower() not in _STRANGER_HEADERS and not n.lower().startswith("x-stainless-")]:
        del request.headers[name]
    request.headers["authorization"] = f"Bearer {NO_KEY}"


async def _for_a_stranger_async(request: Any) -> None:
    _for_a_stranger(request)


def _openai_clients(settings: Settings, *, chat: bool) -> dict[str, Any]:
    """The HTTP clients for a server the operator did not configure (``NO_KEY``), else none."""
    if settings.llm_api_key != NO_KEY:
        return {}
    from openai import DefaultAsyncHttpxClient, DefaultHttpxClient

    # OPENAI_PROXY is a way out of this network, not something sent to the server: kept. (ChatOpenAI
    # refuses its own proxy setting beside clients given to it, so the clients carry it.)
    proxy = os.environ.get("OPENAI_PROXY") or None
    clients: dict[str, Any] = {"http_client": DefaultHttpxClient(
        proxy=proxy, event_hooks={"request": [_for_a_stranger]})}
    if chat:  # ChatOpenAI's async calls have their own client
        clients["http_async_client"] = DefaultAsyncHttpxClient(
            proxy=proxy, event_hooks={"request": [_for_a_stranger_async]})
        clients["openai_proxy"] = None
    return clients


def _api_key(settings: Settings, url: str) -> str:
    key = settings.llm_api_key or os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if settings.llm_base_url:
        # Local OpenAI-compatible servers (vLLM, llama.cpp, LM Studio) ignore the key, but the
        # client refuses to start without one.
        return "not-needed"
    raise ConfigError(f"the OpenAI API at {url} needs a key: set QA_LLM_API_KEY or OPENAI_API_KEY")


def _openai(settings: Settings, url: str, model: str) -> Any:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise _missing_extra("openai", exc) from exc
    return ChatOpenAI(
        model=model,
        base_url=url,
        api_key=_api_key(settings, url),  # type: ignore[arg-type]
        timeout=settings.llm_timeout,
        # A retry after a 429 may wait as long as the server asks; we fall back at once instead.
        max_retries=0,
        temperature=0,
        max_tokens=MAX_TOKENS,  # type: ignore[call-arg]
        **_openai_clients(settings, chat=True),
    )


def _ollama(url: str, model: str, timeout: float, headers: dict[str, str]) -> Any:
    try:
        from langchain_ollama import ChatOllama
    except ImportError as exc:
        raise _missing_extra("ollama", exc) from exc
    return ChatOllama(
        model=model, base_url=url, temperature=0, num_predict=MAX_TOKENS,
        client_kwargs={"timeout": timeout, "headers": headers},
    )


def list_models(settings: Settings, *, timeout: float = 5.0) -> list[str]:
    """Model names the configured server offers (for the model picker in the chat's Settings)."""
    url = backend_url(settings)
    try:
        if settings.llm == "openai":
            try:
                import openai
            except ImportError as exc:
                raise _missing_extra("openai", exc) from exc
            client = openai.OpenAI(
                base_url=url, api_key=_api_key(settings, url), timeout=timeout, max_retries=0,
                **_openai_clients(settings, chat=False),
            )
            return sorted(m.id for m in client.models.list())
        try:
            import ollama
        except ImportError as exc:
            raise _missing_extra("ollama", exc) from exc
        listed = ollama.Client(host=url, timeout=timeout, headers=_ollama_headers(settings)).list()
        return sorted(m.model for m in listed.models if m.model)
    except QAError:
        raise
    except Exception as exc:  # any client failure is reported the same way
        raise LLMError(settings.llm, url, failure_reason(exc, timeout=timeout)) from exc
