"""The embedding model run by ONNX Runtime (the only module that imports onnxruntime or onnx).

sentence-transformers' own ``backend="onnx"`` goes through optimum-onnx, which (0.1.0, the newest
release) requires transformers < 4.58 while sentence-transformers 6 requires transformers >= 5, so
it cannot be installed beside it. This module does the same job without it: the Transformer part
of a sentence-transformers folder is exported once with ``torch.onnx`` (``index.embedder``) and
fused here by onnxruntime's own transformer optimizer (``fuse_attention``); onnxruntime runs it;
tokenization (the model's ``tokenizer.json``), mean or CLS pooling and
L2 normalization follow ``sentence_transformers`` step for step, so the vectors match its PyTorch
ones to float32 rounding (BENCHMARKS.md, "Embedding backends and cold start"). Importing this
module loads neither torch nor transformers: with the export cached, a question needs neither.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import ConfigError

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"


@dataclass(frozen=True)
class Pipeline:
    """What a sentence-transformers folder does after the transformer (read from its files)."""

    max_seq_length: int
    pooling: str  # "mean" or "cls"
    normalize: bool


def read_pipeline(model_dir: Path) -> Pipeline:
    """The folder's modules, or a ConfigError when this runner cannot reproduce them exactly."""
    unsupported = (
        f"the ONNX backend runs only Transformer -> Pooling (mean or CLS) [-> Normalize] "
        f"sentence-transformers folders, and {model_dir} is not one; set QA_EMBED_BACKEND=torch"
    )
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        types = [m["type"] for m in modules]
        if types[:2] != [_TRANSFORMER, _POOLING] or types[2:] not in ([], [_NORMALIZE]):
            raise ConfigError(unsupported)
        pooling_dir = model_dir / modules[1]["path"]
        pooling = json.loads((pooling_dir / "config.json").read_text(encoding="utf-8"))
        config_file = model_dir / "sentence_bert_config.json"
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.exists() else {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{unsupported} ({type(exc).__name__}: {exc})") from exc
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    if modes == {"pooling_mode_mean_tokens"}:
        mode = "mean"
    elif modes == {"pooling_mode_cls_token"}:
        mode = "cls"
    else:
        raise ConfigError(f"{unsupported} (pooling {sorted(modes)})")
    if not (model_dir / "tokenizer.json").exists():
        raise ConfigError(f"{unsupported} (no tokenizer.json)")
    return Pipeline(int(config.get("max_seq_length") or 512), mode, normalize=len(types) == 3)


def providers(device: str) -> list[str]:
    """onnxruntime execution providers for a device setting (cpu, cuda[:N], auto)."""
    import onnxruntime as ort

    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "auto":
        device = "cuda" if has_cuda else "cpu"
    if device.startswith("cuda"):
        if not has_cuda:
            raise ConfigError(
                f"QA_DEVICE={device} with the ONNX backend needs onnxruntime-gpu (this onnxruntime "
                "has no CUDA provider): install it, or set QA_EMBED_BACKEND=torch"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device != "cpu":
        raise ConfigError(f"the ONNX backend runs on cpu or cuda, not QA_DEVICE={device!r}")
    return ["CPUExecutionProvider"]


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the MatMul weights, per output channel, in 7 bits.

    Measured on BBC chunks against the float model (mean / max cosine distance): plain
    per-tensor int8 of every op 0.051 / 0.098; MatMul only, per channel, reduced range (this)
    0.007 / 0.011 at the same speed. ``reduce_range`` avoids the int16 saturation of x86 CPUs
    without VNNI, which onnxruntime documents as the cause of such accuracy loss.
    """
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # It logs a suggestion to pre-process at WARNING on the root logger, every time.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            source, target, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
            op_types_to_quantize=["MatMul"],
        )
    finally:
        root.setLevel(level)


def fuse_attention(
    source: Path, target: Path, *, num_heads: int, hidden_size: int,
    feeds: dict[str, np.ndarray], expected: np.ndarray,
) -> bool:
    """Write ``source`` with onnxruntime's BERT fusions (one ``Attention`` node per layer, the
    embeddings, skip-layer-norm and bias-GELU) to ``target``; True when that was done.

    Only worth it on a graph with eager attention (``index.embedder.export_onnx``): the pattern
    an SDPA export leaves is not recognised (BENCHMARKS.md, "An export onnxruntime can fuse").
    The fused graph must give ``expected`` (the PyTorch hidden states of ``feeds``) on its real
    tokens to float32 rounding, or nothing is written and False says to keep ``source``: a
    model the fusion patterns misread (not BERT-shaped) keeps its plain export.
    """
    import logging

    import onnxruntime as ort
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    # The 2D mask as fed, not the BERT default (a length per row, which reads any mask as ones
    # then zeros): the graph means what the model means for every mask a caller gives it, at a
    # cost within the noise (16.9 against 16.3 CPU s on 200 chunks, BENCHMARKS.md).
    options.use_raw_attention_mask(True)
    # The optimizer logs each fusion pass at INFO/WARNING on its own loggers.
    quiet = logging.getLogger("onnxruntime.transformers")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        fused = optimize_model(str(source), model_type="bert", num_heads=num_heads,
                               hidden_size=hidden_size, optimization_options=options, use_gpu=False)
    except Exception as exc:  # an optimization: whatever fails in it, the plain export stands
        logging.getLogger(__name__).info("onnxruntime's fusions failed (%s); plain export kept", exc)
        return False
    finally:
        quiet.setLevel(level)
    if not fused.get_fused_operator_statistics().get("Attention"):
        return False
    try:
        fused.save_model_to_file(str(target))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        hidden = session.run(None, {n: feeds[n] for n in names})[0]
    except Exception as exc:  # a fused graph this onnxruntime cannot load or run: keep the plain one
        logging.getLogger(__name__).info("the fused graph does not run (%s); plain export kept", exc)
        target.unlink(missing_ok=True)
        return False
    real = feeds["attention_mask"].astype(bool)  # padded positions are pooled out anyway
    if hidden.shape != expected.shape or not np.allclose(hidden[real], expected[real], atol=1e-4):
        logging.getLogger(__name__).info("the fused graph computes otherwise; plain export kept")
        target.unlink(missing_ok=True)
        return False
    return True


class OnnxEncoder:
    """Tokenize, run the exported transformer, pool and normalize: ``SentenceTransformer.encode``
    on onnxruntime. Thread-safe (an InferenceSession may be run from several threads)."""

    def __init__(
        self, onnx_file: Path, model_dir: Path, *, device: str = "cpu", threads: int | None = None
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.pipeline = read_pipeline(model_dir)
        self.backend_tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        options = ort.SessionOptions()
        # Like torch, honour OMP_NUM_THREADS; unset, the caller's ``threads`` (the matcher asks
        # for one, the reader for two), else 0: onnxruntime uses every physical core.
        omp = os.environ.get("OMP_NUM_THREADS", "")
        options.intra_op_num_threads = int(omp) if omp.isdigit() else threads or 0
        options.inter_op_num_threads = 1
        # Idle intra-op threads would spin on a core after each run: the answer step runs the
        # reader beside the matcher (two sessions side by side), and a question's small runs
        # of the bundled model left spinning threads on the core the reader wanted (p50 ~45 ->
        # ~37 ms on a warmed 819-chunk index); an ingest's large batches lost nothing (300
        # chunks: 9.0-9.2 s either way). BENCHMARKS.md, "Sentence vectors kept on disk".
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(onnx_file), options, providers=providers(device))
        except ConfigError:
            raise
        except Exception as exc:  # onnxruntime raises its own untyped errors on a bad file
            raise ConfigError(
                f"cannot load the ONNX model {onnx_file} ({type(exc).__name__}: {exc}); delete it "
                "to export it again, or set QA_EMBED_BACKEND=torch"
            ) from exc
        self._inputs = [i.name for i in self._session.get_inputs()]
        # Its own copy: truncation and padding set here must not leak into token counting.
        self._tokenizer = Tokenizer.from_str(self.backend_tokenizer.to_str())
        self._tokenizer.enable_truncation(self.pipeline.max_seq_length)
        self._tokenizer.no_padding()  # padded per batch below, to the batch's longest
        self._pad = self._pad_id()

    def _pad_token(self) -> str:
        padding = json.loads(self.backend_tokenizer.to_str()).get("padding") or {}
        return str(padding.get("pad_token", "[PAD]"))

    def _pad_id(self) -> int:
        token = self._pad_token()
        found = self.backend_tokenizer.token_to_id(token)
        return int(found) if found is not None else 0

    @property
    def max_seq_length(self) -> int:
        return self.pipeline.max_seq_length

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit vectors of ``texts`` (as ``SentenceTransformer.encode``: longest texts first)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        parts = [self.encode_batch([texts[i] for i in order[lo : lo + batch_size]])
                 for lo in range(0, len(texts), batch_size)]
        in_order = np.concatenate(parts)
        vectors = np.empty_like(in_order)
        vectors[order] = in_order
        return vectors

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        """One forward pass over ``texts``, padded to the longest of them."""
        encodings = self._tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
            types[row, : len(e.ids)] = e.type_ids
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = self._session.run(None, {name: feeds[name] for name in self._inputs})[0]
        if self.pipeline.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        if self.pipeline.normalize:
            pooled = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.asarray(pooled, dtype=np.float32)

    def pair_tokens(self, first: str, second: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """One forward pass over the text pair ``first``, ``second`` (a reader's question and
        sentence): every token's vector, and its character offsets in ``second`` ((-1, -1) for
        the tokens of ``first`` and the special tokens)."""
        e = self._tokenizer.encode(first, second)
        ids = np.asarray([e.ids], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                 "token_type_ids": np.asarray([e.type_ids], dtype=np.int64)}
        hidden = self._session.run(None, {name: feeds[name] for name in self._inputs})[0][0]
        offsets = [(int(a), int(b)) if s == 1 else (-1, -1)
                   for (a, b), s in zip(e.offsets, e.sequence_ids, strict=True)]
        return np.asarray(hidden, dtype=np.float32), offsets
