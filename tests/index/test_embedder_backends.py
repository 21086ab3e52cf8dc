"""The embedding backends: ONNX gives PyTorch's vectors, int8 close ones, the export is made once.

Real models throughout (the bundled all-MiniLM-L6-v2 on PyTorch, its ONNX export on
onnxruntime); the session's ONNX embedder is ``real_embedder``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.embedder import (
    DEFAULT_BACKEND,
    SentenceTransformerEmbedder,
    default_cache_dir,
    onnx_file,
    resolve_device,
)
from index.errors import ConfigError
from index.ingest import Ingestor
from index.onnx_backend import read_pipeline
from index.store import ChromaStore
from tests.conftest import ROOT, SAMPLE_ARTICLES

TEXTS = [
    "Who did the president address on Wednesday?",
    "Twelve policemen were killed in Almaty, the interior ministry said. " * 3,
    # Longer than the model reads (256 word pieces): both sides must truncate alike.
    "The central bank raised rates again, citing inflation of 7.5% in March and April. " * 40,
    "Ünïcode, emoji 😀 and numbers: 1,234.56 £600m $1.13bn",
    "x",
]


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    embedder = SentenceTransformerEmbedder(backend="torch")
    embedder.load()
    return embedder


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)  # both unit length


def test_onnx_is_the_default_and_matches_pytorch_within_1e_5_cosine(
    real_embedder: Any, torch_embedder: SentenceTransformerEmbedder,
) -> None:
    assert DEFAULT_BACKEND == "onnx" and real_embedder.backend == "onnx"
    onnx = real_embedder.embed_documents(TEXTS)
    torch = torch_embedder.embed_documents(TEXTS)
    assert onnx.shape == torch.shape == (len(TEXTS), 384) and onnx.dtype == np.float32
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    assert float(np.max(1.0 - _cosines(onnx, torch))) < 1e-5
    query = "How many policemen were killed?"
    assert float(real_embedder.embed_query(query) @ torch_embedder.embed_query(query)) > 1 - 1e-5


def _ops(path: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}


def test_the_default_export_runs_attention_fused_and_int8_quantizes_the_plain_graph(
    real_embedder: Any,
) -> None:
    # The vectors of this export are checked against PyTorch's (1e-5) in the test above.
    fused = onnx_file(real_embedder.name, "onnx", real_embedder.cache_dir)
    assert {"Attention", "EmbedLayerNormalization", "SkipLayerNormalization"} <= _ops(fused)
    assert "Softmax" not in _ops(fused)
    # Quantized from the unfused graph: query, key and value stay MatMuls, so they get int8.
    int8 = onnx_file(real_embedder.name, "onnx-int8", real_embedder.cache_dir)
    assert "Attention" not in _ops(int8) and "MatMulInteger" in _ops(int8)


def test_the_fused_export_reads_any_mask_as_pytorch_does(
    real_embedder: Any, torch_embedder: SentenceTransformerEmbedder,
) -> None:
    # Our encoder pads on the right; a caller of export_onnx may not. The optimizer's BERT default
    # (a length per row) would read this left-padded mask as "the first three tokens".
    import onnxruntime as ort
    import torch

    ids = np.array([[0, 0, 101, 7592, 2088, 102], [101, 2054, 2003, 1996, 3437, 102]])
    mask = np.array([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    session = ort.InferenceSession(str(onnx_file(real_embedder.name, "onnx", real_embedder.cache_dir)),
                                   providers=["CPUExecutionProvider"])
    fused = session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})[0]
    model = torch_embedder.model[0].auto_model
    positions = torch.arange(ids.shape[1]).expand(ids.shape)  # as the export: 0.. whatever the mask
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in feeds.items()},
                         position_ids=positions).last_hidden_state.numpy()
    real = mask.astype(bool)
    assert np.abs(fused[real] - expected[real]).max() < 1e-4


def test_a_fusion_that_computes_otherwise_keeps_the_plain_export(tmp_path: Path) -> None:
    from index.embedder import export_onnx
    from index.onnx_backend import fuse_attention

    plain = tmp_path / "plain.onnx"
    export_onnx("all-MiniLM-L6-v2", plain, fuse=False)
    assert "Softmax" in _ops(plain) and "Attention" not in _ops(plain)
    feeds = {"input_ids": np.array([[101, 7592, 102, 0]]), "attention_mask": np.array([[1, 1, 1, 0]]),
             "token_type_ids": np.zeros((1, 4), dtype=np.int64)}
    wrong = np.zeros((1, 4, 384), dtype=np.float32)  # not what the model computes
    target = tmp_path / "fused.onnx"
    assert not fuse_attention(plain, target, num_heads=12, hidden_size=384, feeds=feeds, expected=wrong)
    assert not target.exists()


def test_a_fused_graph_that_does_not_run_keeps_the_plain_export(tmp_path: Path) -> None:
    """onnxruntime refusing to run the fused graph (here: inputs of a type it does not take, as an
    onnxruntime without a fused op would refuse it) is no failed export: the plain one stands."""
    from index.embedder import export_onnx
    from index.onnx_backend import fuse_attention

    plain = tmp_path / "plain.onnx"
    export_onnx("all-MiniLM-L6-v2", plain, fuse=False)
    feeds = {"input_ids": np.array([[101, 7592, 102]], dtype=np.float32),
             "attention_mask": np.array([[1, 1, 1]]), "token_type_ids": np.zeros((1, 3), dtype=np.int64)}
    target = tmp_path / "fused.onnx"
    expected = np.zeros((1, 3, 384), dtype=np.float32)
    assert not fuse_attention(plain, target, num_heads=12, hidden_size=384, feeds=feeds, expected=expected)
    assert not target.exists()


def test_onnx_tokenizes_counts_and_truncates_like_pytorch(
    real_embedder: Any, torch_embedder: SentenceTransformerEmbedder,
) -> None:
    assert real_embedder.max_tokens == torch_embedder.max_tokens == 254
    assert real_embedder.token_counts(TEXTS) == torch_embedder.token_counts(TEXTS)
    assert real_embedder.token_counts([TEXTS[2]])[0] > 256  # counting never truncates
    assert real_embedder.token_spans(TEXTS[3]) == torch_embedder.token_spans(TEXTS[3])


def test_int8_vectors_are_close_to_pytorch_but_not_the_same(
    torch_embedder: SentenceTransformerEmbedder,
) -> None:
    int8 = SentenceTransformerEmbedder(backend="onnx-int8", cache_dir=default_cache_dir())
    distance = 1.0 - _cosines(int8.embed_documents(TEXTS), torch_embedder.embed_documents(TEXTS))
    assert float(distance.max()) < 0.03  # measured: mean 0.007, max 0.011 on BBC chunks
    assert float(distance.max()) > 1e-5  # it is a different approximation, not a copy


def test_the_first_export_happens_once_for_concurrent_loaders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two embedders (two file handles on the lock, as two processes would have) race to export.
    import index.embedder

    exports: list[Path] = []
    real_export = index.embedder.export_onnx

    def counted(name: str, target: Path, deltas: object = None) -> None:
        exports.append(target)
        real_export(name, target, deltas)  # type: ignore[arg-type]

    monkeypatch.setattr(index.embedder, "export_onnx", counted)
    # A partial export left by a process that died while exporting (pid 1 never exports).
    key = index.embedder._model_key("all-MiniLM-L6-v2", index.embedder.local_model_folder("all-MiniLM-L6-v2"))
    (tmp_path / key).mkdir()
    (tmp_path / key / "model.onnx.1.1.tmp").write_bytes(b"half an export")
    embedders = [SentenceTransformerEmbedder(cache_dir=tmp_path) for _ in range(2)]
    errors: list[BaseException] = []

    def load(embedder: SentenceTransformerEmbedder) -> None:
        try:
            embedder.load()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(e,)) for e in embedders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(exports) == 1  # the second loader waited on the lock and found the file
    exported = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert exported == [".lock", ".used", "model.onnx"]  # no temporary file left, the stale one gone
    model = next(tmp_path.rglob("model.onnx"))
    stamp = model.stat().st_mtime_ns
    vectors = [e.embed_query("Who resigned?") for e in embedders]
    assert np.array_equal(vectors[0], vectors[1])
    # Cached: a later loader reads the same file, untouched.
    assert onnx_file("all-MiniLM-L6-v2", "onnx", tmp_path) == model and model.stat().st_mtime_ns == stamp


def test_with_the_export_cached_a_question_loads_neither_torch_nor_transformers() -> None:
    script = f"""
import json, sys
from index.embedder import SentenceTransformerEmbedder
embedder = SentenceTransformerEmbedder(cache_dir=__import__("pathlib").Path({str(default_cache_dir())!r}))
vector = embedder.embed_query("Who resigned?")
print(json.dumps({{"dims": len(vector), "loaded": sorted(
    m for m in ("torch", "transformers", "sentence_transformers", "onnxruntime") if m in sys.modules)}}))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"dims": 384, "loaded": ["onnxruntime"]}


def test_an_index_built_with_int8_answers_fp32_queries_under_the_same_model_name(
    tmp_path: Path, real_embedder: Any,
) -> None:
    # The guard records the model, not the backend: int8 vectors are the same model's, in the
    # same space, so an index built with either opens with the other (see BENCHMARKS.md).
    int8 = SentenceTransformerEmbedder(backend="onnx-int8", cache_dir=default_cache_dir())
    assert int8.name == real_embedder.name
    store = ChromaStore.persistent(tmp_path / "chroma", model_name=int8.name)
    assert Ingestor(store, int8).ingest([SAMPLE_ARTICLES]).ok
    reopened = ChromaStore.persistent(tmp_path / "chroma", model_name=real_embedder.name)
    question = "Which buildings did extremist forces try to assault?"
    by_fp32 = reopened.search(real_embedder.embed_query(question), 1)
    by_int8 = reopened.search(int8.embed_query(question), 1)
    assert by_fp32 and by_fp32[0].chunk.id == by_int8[0].chunk.id


def test_bad_backend_device_and_model_folders_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown embedding backend 'tensorrt'"):
        SentenceTransformerEmbedder(backend="tensorrt")
    with pytest.raises(ConfigError, match="needs onnxruntime-gpu"):
        SentenceTransformerEmbedder(device="cuda", cache_dir=default_cache_dir()).load()
    folder = tmp_path / "max-pooled"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_max_tokens": True}))
    with pytest.raises(ConfigError, match="QA_EMBED_BACKEND=torch"):
        read_pipeline(folder)
    with pytest.raises(ConfigError, match="not one; set QA_EMBED_BACKEND=torch"):
        SentenceTransformerEmbedder(str(folder), cache_dir=tmp_path / "cache").load()
    with pytest.raises(ConfigError, match="local model folder"):
        SentenceTransformerEmbedder("someone/not-here", cache_dir=tmp_path / "cache").load()


def test_auto_device_follows_torch() -> None:
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu" and resolve_device("cuda:1") == "cuda:1"


def test_settings_reach_the_embedder(tmp_path: Path) -> None:
    from qa.cli.common import settings_for
    from qa.errors import ConfigError as QAConfigError
    from qa.settings import Settings
    from qa.wiring import build_embedder

    embedder = build_embedder(Settings(data_dir=tmp_path, embed_backend="onnx-int8", device="auto"))
    assert embedder.backend == "onnx-int8" and embedder._cache_dir == tmp_path / "models"
    assert embedder._device == "auto"
    with pytest.raises(QAConfigError, match="device"):
        settings_for(tmp_path, device="gpu")
    with pytest.raises(QAConfigError, match="embed_backend"):
        settings_for(tmp_path, embed_backend="tensorrt")


def test_an_unwritable_cache_falls_back_to_the_users_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A data dir that cannot take the export (read-only, shared; here a file where the folder
    should be) still answers: the export goes to the user's cache, logged at info level."""
    import logging

    caplog.set_level(logging.INFO, logger="index.embedder")
    user_cache = tmp_path / "user-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(user_cache))
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    path = onnx_file("all-MiniLM-L6-v2", "onnx", blocked / "models")
    assert path.is_file() and user_cache in path.parents
    assert "using" in caplog.text and str(user_cache) in caplog.text
    # When the user's cache is the one that fails, the error says what to do.
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    with pytest.raises(ConfigError, match="QA_MODEL_CACHE"):
        onnx_file("all-MiniLM-L6-v2", "onnx", blocked / "models")


def test_the_export_cache_key_follows_the_installed_onnxruntime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fused graph holds the operators of the onnxruntime that wrote it: another version
    exports afresh instead of loading it."""
    import index.embedder as embedder_module

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    before = embedder_module._model_key("m", folder)
    real = embedder_module.metadata.version
    monkeypatch.setattr(embedder_module.metadata, "version",
                        lambda dist: "0.0.1" if dist == "onnxruntime" else real(dist))
    assert embedder_module._model_key("m", folder) != before


def test_the_vector_key_names_the_weights_deltas_and_backend_not_the_cache_folder(tmp_path: Path) -> None:
    """Sentence vectors kept on disk (``qa.answer.sentence_store``) are keyed by it: vectors of
    another backend or of fine-tuned deltas must never be read as these."""
    from index.embedder import WeightDeltas

    onnx = SentenceTransformerEmbedder(backend="onnx", cache_dir=tmp_path / "a")
    assert onnx.vector_key == SentenceTransformerEmbedder(backend="onnx", cache_dir=tmp_path / "b").vector_key
    others = {
        SentenceTransformerEmbedder(backend="onnx-int8", cache_dir=tmp_path / "a").vector_key,
        SentenceTransformerEmbedder(backend="torch", cache_dir=tmp_path / "a").vector_key,
        SentenceTransformerEmbedder(backend="onnx", cache_dir=tmp_path / "a", deltas=WeightDeltas(
            "matcher-0123456789ab", lambda: {})).vector_key,
        SentenceTransformerEmbedder(backend="onnx", device="cuda", cache_dir=tmp_path / "a").vector_key,
    }
    assert len(others) == 4 and onnx.vector_key not in others
    assert not (tmp_path / "a").exists()  # naming the vectors exports nothing


def test_two_exports_at_once_in_one_process_both_succeed(tmp_path: Path) -> None:
    """The matcher's and the reader's first exports can start together (the reader reads ahead on
    another thread); torch's exporter keeps global state, so they take turns instead of failing."""
    from index.embedder import export_onnx

    errors: list[BaseException] = []

    def export(target: Path) -> None:
        try:
            export_onnx("all-MiniLM-L6-v2", target, fuse=False)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    targets = [tmp_path / "one.onnx", tmp_path / "two.onnx"]
    threads = [threading.Thread(target=export, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert targets[0].stat().st_size > 1_000_000
    # Unserialised, an export that did not fail could still write another graph.
    assert targets[0].read_bytes() == targets[1].read_bytes()
