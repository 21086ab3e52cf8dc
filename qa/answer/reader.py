"""The short-answer reader: which phrase of the cited sentence answers the question.

The bundled all-MiniLM-L6-v2 reads the question and the sentence as one pair ([CLS] question
[SEP] sentence [SEP]) and a linear head scores every sentence token as the first and as the last
token of the answer (a SQuAD-style span head). It is fine-tuned by ``python -m bench.train_reader``
and ships like the matcher (``qa.answer.matcher``): LoRA weight differences plus the head in
``reader-v1.npz`` (about 1 MB), added to the bundled weights and exported to ONNX once, into the
model cache; at question time it is one forward pass of a few dozen tokens on onnxruntime: no
torch, nothing downloaded.

The reader does not invent spans: it scores the candidate phrases of ``qa.answer.spans`` (start
logit of the phrase's first token + end logit of its last), so the short answer is still one of
those phrases, a verified substring of the sentence. The span trees read those scores as features
(``qa.answer.spans.READER_FEATURES``).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from index.embedder import SentenceTransformerEmbedder, WeightDeltas
from index.onnx_backend import OnnxEncoder
from qa.answer.matcher import MatcherWeights
from qa.errors import ConfigError

READER_FILE = "reader-v1.npz"
# Scores of the (question, sentence) pairs read last: a question asked again (the chat's retry, a
# repeated CLI question, an evaluation rerun) costs no second forward pass.
SCORE_CACHE = 1024
REFIT = "python -m bench.train_reader"


@dataclass(frozen=True)
class ReaderWeights:
    """LoRA factors of the encoder and the span head: ``logits = hidden @ head_w.T + head_b``
    (column 0 the start, 1 the end)."""

    lora: MatcherWeights
    head_w: np.ndarray  # [2, hidden]
    head_b: np.ndarray  # [2]

    @property
    def digest(self) -> str:
        return self.lora.digest

    def to_bytes(self) -> bytes:
        return replace(self.lora, arrays={"head_w": self.head_w, "head_b": self.head_b}).to_bytes()

    @classmethod
    def load(cls, path: str | Path | None = None) -> ReaderWeights:
        """The shipped reader (``qa/answer/reader-v1.npz``), or the one at ``path``."""
        lora = MatcherWeights.load(path, shipped=READER_FILE, what="reader", refit=REFIT,
                                   needs=("head_w", "head_b"))
        return cls(lora, np.asarray(lora.arrays["head_w"], np.float32),
                   np.asarray(lora.arrays["head_b"], np.float32))


def token_positions(offsets: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The first and last token of the character span [start, end) of the sentence, given each
    token's sentence offsets ((-1, -1) for tokens of the question and special tokens); (-1, -1)
    when the span is not covered (cut off by truncation)."""
    first = last = -1
    for k, (a, b) in enumerate(offsets):
        if a < 0 or b <= a:
            continue
        if first < 0 and b > start:
            first = k
        if a < end:
            last = k
    return (first, last) if first >= 0 and last >= first and offsets[first][0] < end else (-1, -1)


def candidate_scores(
    start_logits: np.ndarray, end_logits: np.ndarray, offsets: Sequence[tuple[int, int]],
    spans: Sequence[tuple[int, int]],
) -> np.ndarray:
    """Start logit of each span's first token + end logit of its last (``spans``: (start, end)
    sentence offsets); a span the reader did not see scores 10 below the lowest."""
    out = np.full(len(spans), np.nan)
    for k, (start, end) in enumerate(spans):
        i, j = token_positions(offsets, int(start), int(end))
        if i >= 0:
            out[k] = float(start_logits[i]) + float(end_logits[j])
    seen = out[~np.isnan(out)]
    return np.where(np.isnan(out), (seen.min() if len(seen) else 0.0) - 10.0, out)


class OnnxReader:
    """The fine-tuned reader on onnxruntime, exported and loaded on first use (a
    ``qa.answer.spans.Reader``). Thread-safe."""

    def __init__(
        self, cache_dir: Path, weights: ReaderWeights | None = None, *, threads: int | None = None
    ) -> None:
        self._cache_dir = cache_dir
        self._weights = weights
        self._threads = threads
        self._encoder: OnnxEncoder | None = None
        self._lock = threading.Lock()
        self._scores: OrderedDict[tuple[str, str, tuple[tuple[int, int], ...]], np.ndarray] = OrderedDict()
        self.reads = 0  # forward passes so far (cache misses), for tests and benchmarks

    @property
    def loaded(self) -> bool:
        """Whether the weights and the model are in memory (no export or file read is left)."""
        return self._encoder is not None and self._weights is not None

    def _load(self) -> tuple[OnnxEncoder, ReaderWeights]:
        with self._lock:
            if self._encoder is None or self._weights is None:
                weights = self._weights or ReaderWeights.load()
                key = f"reader-{weights.digest or hashlib.sha256(weights.to_bytes()).hexdigest()[:12]}"
                embedder = SentenceTransformerEmbedder(
                    weights.lora.base, backend="onnx", cache_dir=self._cache_dir,
                    deltas=WeightDeltas(key, weights.lora.deltas),
                    threads=self._threads,
                )
                encoder = embedder.encoder
                if not isinstance(encoder, OnnxEncoder):  # pragma: no cover - backend is onnx
                    raise ConfigError("the reader runs on the ONNX backend only")
                self._encoder, self._weights = encoder, weights
            return self._encoder, self._weights

    def load(self) -> None:
        """Load now (export first if the cache has no copy yet)."""
        self._load()

    def scores(self, question: str, sentence: str, spans: Sequence[tuple[int, int]]) -> np.ndarray:
        if not spans:
            return np.zeros(0)
        key = (question, sentence, tuple((int(a), int(b)) for a, b in spans))
        with self._lock:
            if (cached := self._scores.get(key)) is not None:
                self._scores.move_to_end(key)
                return cached.copy()
        encoder, weights = self._load()
        hidden, offsets = encoder.pair_tokens(question, sentence)
        logits = hidden @ weights.head_w.T + weights.head_b
        found = candidate_scores(logits[:, 0], logits[:, 1], offsets, spans)
        with self._lock:
            self.reads += 1
            self._scores[key] = found
            if len(self._scores) > SCORE_CACHE:
                self._scores.popitem(last=False)
        return found.copy()
