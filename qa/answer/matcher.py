"""The answer step's matcher: sentence vectors fine-tuned to put a question near its answer.

The bundled all-MiniLM-L6-v2 places texts near each other when they say similar things; a
question and the sentence that answers it often do not ("How many law enforcement officers
died?" against "Twelve policemen have been killed and 353 injured"). The matcher is that model
fine-tuned by ``python -m bench.train_matcher`` on question/answer-sentence pairs (with the other
candidate sentences of the same passages as negatives): the cosine of the question's and a
sentence's matcher vectors is one feature ("match") of the chooser (``qa.answer.model``), which
picks the sentences to cite once the answer model, without it, has decided to answer.

It ships as low-rank weight differences (LoRA factors, ``matcher-v1.npz``, about 1 MB) added to
the bundled weights and exported to ONNX once, into the model cache beside the embedder's
(``index.embedder.onnx_file``); it then runs on onnxruntime like the embedder: no torch at
question time, nothing downloaded. Its sentence vectors are cached like the embedder's
(``qa.answer.sentvec``), so a passage that comes back costs nothing the second time.

(A cross-encoder reading question and sentence together was tried first, fine-tuned the same
way: with a few thousand training questions it ranked answer sentences far worse than the
untuned sentence vectors; see BENCHMARKS.md, "Reading the question against the sentence".)
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.embedder import SentenceTransformerEmbedder, WeightDeltas
from qa.answer.sentence_store import SentenceStore
from qa.answer.sentvec import SentenceVectors
from qa.errors import ConfigError

MATCHER_FILE = "matcher-v1.npz"
# numpy parses each array's header with ast.literal_eval, and CPython 3.11's parser is not safe to
# run in two threads at once ("SystemError: AST constructor recursion depth mismatch", seen once
# when the reader's weights were read ahead beside the matcher's). One weight file at a time.
_PARSING = threading.Lock()
REFIT = "python -m bench.train_matcher"


class Matcher(Protocol):
    """Scores candidate sentences for a question: higher = more likely to answer it."""

    def score(self, question: str, sentences: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class MatcherWeights:
    """LoRA factors per linear layer of the base model: ``delta = alpha / rank * B @ A``."""

    base: str
    rank: int
    alpha: float
    factors: dict[str, tuple[np.ndarray, np.ndarray]]  # layer name -> (A [r, in], B [out, r])
    digest: str
    meta: dict[str, Any] = field(default_factory=dict)
    # Further named arrays shipped in the same file (the reader's span head), kept as float32.
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def deltas(self) -> dict[str, np.ndarray]:
        """Weight differences by parameter name (``<layer>.weight``)."""
        scale = self.alpha / self.rank
        return {f"{name}.weight": (b.astype(np.float32) @ a.astype(np.float32)) * scale
                for name, (a, b) in self.factors.items()}

    @classmethod
    def from_bytes(cls, data: bytes) -> MatcherWeights:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            factors = {name[2:]: (npz[name], npz["b:" + name[2:]]) for name in npz.files
                       if name.startswith("a:")}
            arrays = {name[2:]: npz[name] for name in npz.files if name.startswith("x:")}
        return cls(base=str(meta["base"]), rank=int(meta["rank"]), alpha=float(meta["alpha"]),
                   factors=factors, digest=hashlib.sha256(data).hexdigest()[:12], meta=meta,
                   arrays=arrays)

    def to_bytes(self) -> bytes:
        meta = {**self.meta, "base": self.base, "rank": self.rank, "alpha": self.alpha}
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
        for name, (a, b) in self.factors.items():
            arrays["a:" + name], arrays["b:" + name] = a.astype(np.float16), b.astype(np.float16)
        for name, value in self.arrays.items():
            arrays["x:" + name] = np.asarray(value, dtype=np.float32)
        out = io.BytesIO()
        np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
        return out.getvalue()

    @classmethod
    def load(
        cls, path: str | Path | None = None, *, shipped: str = MATCHER_FILE, what: str = "matcher",
        refit: str = REFIT, needs: tuple[str, ...] = (),
    ) -> MatcherWeights:
        """The shipped matcher (``qa/answer/matcher-v1.npz``), or the one at ``path``; ``shipped``,
        ``what`` and ``refit`` name another file built the same way (the reader's), whose further
        arrays ``needs`` must hold."""
        try:
            if path is None:
                data = resources.files("qa.answer").joinpath(shipped).read_bytes()
            else:
                data = Path(path).read_bytes()
            with _PARSING:
                weights = cls.from_bytes(data)
            missing = [name for name in needs if name not in weights.arrays]
            if missing:
                raise KeyError(f"no {', '.join(missing)}")
            return weights
        except (OSError, ValueError, KeyError, TypeError) as exc:
            where = path or f"qa/answer/{shipped}"
            raise ConfigError(f"cannot read the {what} at {where}: {exc} (refit it with: {refit})") from exc


class VectorMatcher:
    """Cosine of matcher vectors (cached per sentence and per question). The weights are read and
    the model exported and loaded on first use. Thread-safe."""

    def __init__(
        self, cache_dir: Path, weights: MatcherWeights | None = None, *, threads: int | None = None,
        store: SentenceStore | None = None,
    ) -> None:
        self._cache_dir = cache_dir
        self._store = store
        self._weights = weights
        self._threads = threads
        self._vectors: SentenceVectors | None = None
        self._lock = threading.Lock()

    @property
    def vectors(self) -> SentenceVectors:
        with self._lock:
            if self._vectors is None:
                weights = self._weights or MatcherWeights.load()
                embedder = SentenceTransformerEmbedder(
                    weights.base, backend="onnx", cache_dir=self._cache_dir,
                    deltas=WeightDeltas(f"matcher-{weights.digest}", weights.deltas),
                    threads=self._threads,
                )
                self._vectors = SentenceVectors(embedder, store=self._store)
            return self._vectors

    def load(self) -> None:
        """Load now (export first if the cache has no copy yet)."""
        self.vectors.embed_query("warm up")

    def warm(self, sentences: Sequence[str]) -> int:
        """Compute the vectors of ``sentences`` the store lacks now, for later questions; returns
        how many that was."""
        return self.vectors.ensure(sentences)

    def score(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        if not sentences:
            return np.zeros(0)
        vectors = self.vectors
        return np.asarray(vectors.sentences(list(sentences)) @ vectors.embed_query(question),
                          dtype=np.float64)
