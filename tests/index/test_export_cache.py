"""The ONNX export cache: keys follow the model files' content, and an export removes the folders
it supersedes, never one used lately, one being exported into or one it did not write.

The export itself is replaced by a stand-in that writes a few bytes: these tests are about the
cache's folders (the real export is tested in test_embedder_backends.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

import index.embedder as embedder_module
import index.export_cache as export_cache
from index.embedder import WeightDeltas, onnx_file
from index.errors import ConfigError
from index.export_cache import STALE_AFTER
from index.files import file_lock

MODEL = "all-MiniLM-L6-v2"
OLD = f"{MODEL}-0123456789ab"  # a base export under a key of older code (another format, runtime)


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Exports write a stand-in file (and are counted) instead of running torch; the user's cache
    (onnx_file's fallback) is a temporary folder, so a stand-in never lands in the real one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    written: list[Path] = []

    def export(name: str, target: Path, deltas: object = None, *, fuse: bool = True) -> None:
        target.write_bytes(b"not really onnx")
        written.append(target)

    monkeypatch.setattr(embedder_module, "export_onnx", export)
    return written


def _old_export(
    cache: Path, name: str, files: tuple[str, ...] = ("model.onnx", "model-int8.onnx"), *,
    days_ago: float = 15,
) -> Path:
    """A cache folder whose files were last written (or used) ``days_ago``."""
    folder = cache / name
    folder.mkdir(parents=True)
    for file in (".lock", *files):
        (folder / file).write_bytes(b"x" * 1000)
    _age(folder, days_ago)
    return folder


def _age(folder: Path, days_ago: float) -> None:
    when = time.time() - days_ago * 86400
    for file in folder.iterdir():
        os.utime(file, (when, when))


def test_a_copy_of_the_model_folder_with_new_mtimes_keeps_the_export_key(tmp_path: Path) -> None:
    """A new virtualenv installs the same weights with new mtimes: the export is reused."""
    original = tmp_path / "site-a" / "model"
    original.mkdir(parents=True)
    (original / "config.json").write_text('{"hidden_size": 384}')
    (original / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    before = embedder_module._model_key(MODEL, original)
    copy = tmp_path / "site-b" / "model"
    shutil.copytree(original, copy, copy_function=shutil.copyfile)  # new files, new mtimes
    for file in copy.iterdir():
        os.utime(file, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    assert embedder_module._model_key(MODEL, copy) == before
    (copy / "model.safetensors").write_bytes(bytes(reversed(range(256))) * 64)  # other weights
    assert embedder_module._model_key(MODEL, copy) != before


def test_an_export_removes_the_models_exports_under_earlier_keys(
    tmp_path: Path, exports: list[Path], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="index.export_cache")
    _old_export(tmp_path, OLD)
    _old_export(tmp_path, f"{MODEL}-ba5eba11cafe", ("model.onnx", "model.onnx.123.456.tmp"))
    path = onnx_file(MODEL, "onnx", tmp_path)
    assert exports == [path]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.parent.name]
    assert f"removed the old model export {tmp_path / OLD}" in caplog.text
    # Once exported, a later call neither exports nor looks for anything to remove.
    _old_export(tmp_path, OLD, (".used", "model.onnx"))
    assert onnx_file(MODEL, "onnx", tmp_path) == path and len(exports) == 1
    assert (tmp_path / OLD).is_dir()


def test_an_old_export_whose_lock_is_held_is_kept(
    tmp_path: Path, exports: list[Path], caplog: pytest.LogCaptureFixture,
) -> None:
    """A process (of older code, say) exporting into an old folder holds its lock: it stays."""
    caplog.set_level(logging.INFO, logger="index.export_cache")
    fcntl = pytest.importorskip("fcntl")
    busy = _old_export(tmp_path, OLD, ("model.onnx.77.1.tmp",))
    idle = _old_export(tmp_path, f"{MODEL}-ba5eba11cafe")
    with open(busy / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        path = onnx_file(MODEL, "onnx", tmp_path)
        fcntl.flock(handle, fcntl.LOCK_UN)
    assert not idle.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([OLD, path.parent.name])
    assert sorted(p.name for p in busy.iterdir()) == [".lock", "model.onnx.77.1.tmp"]
    assert f"kept the old model export {busy}: another process is exporting into it" in caplog.text


def test_folders_the_cache_did_not_write_are_kept(tmp_path: Path, exports: list[Path]) -> None:
    kept = [
        _old_export(tmp_path, f"{MODEL}-0123456789ab-matcher-336b42797a1d"),  # another kind
        _old_export(tmp_path, f"{MODEL}-0123456789ab-reader-fba7e16574fb"),
        _old_export(tmp_path, f"other-model-{OLD[-12:]}"),  # another model
        _old_export(tmp_path, f"{MODEL}-backup"),  # not a key
        _old_export(tmp_path, f"{MODEL}-0123456789abc"),
        _old_export(tmp_path, f"{MODEL}-ba5eba11cafe", ("model.onnx", "notes.txt")),  # someone's file
        tmp_path / "notes",
    ]
    (tmp_path / "notes").mkdir()
    nested = _old_export(tmp_path, f"{MODEL}-feedfacefeed")
    (nested / "model.onnx.d").mkdir()  # a folder inside: not ours either
    (tmp_path / f"{MODEL}-cafecafecafe").write_text("a file, not a folder")
    stale = _old_export(tmp_path, OLD)
    path = onnx_file(MODEL, "onnx", tmp_path)
    assert not stale.exists()  # the one folder superseded by this export
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {p.name for p in kept} | {nested.name, f"{MODEL}-cafecafecafe", path.parent.name}
    assert all(len(list(folder.iterdir())) > 0 for folder in kept[:-1])


def test_a_matcher_export_replaces_other_matcher_digests_only(tmp_path: Path, exports: list[Path]) -> None:
    """New matcher weights (or a new base key) supersede the old matcher export; the reader's and
    the base model's exports are other kinds."""
    deltas = WeightDeltas("matcher-111111111111", dict)
    other_base = _old_export(tmp_path, OLD)
    old_matcher = _old_export(tmp_path, f"{OLD}-matcher-222222222222", ("model.onnx",))
    reader = _old_export(tmp_path, f"{OLD}-reader-333333333333", ("model.onnx",))
    path = onnx_file(MODEL, "onnx", tmp_path, deltas=deltas)
    assert path.parent.name.endswith("-matcher-111111111111")
    current_matcher = _old_export(tmp_path, path.parent.name.replace("111111111111", "444444444444"))
    assert not old_matcher.exists() and other_base.is_dir() and reader.is_dir()
    assert current_matcher.is_dir()  # made after the export: nothing removed it


def test_an_old_export_that_cannot_be_removed_stays_and_the_export_succeeds(
    tmp_path: Path, exports: list[Path], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A removal that fails half-way (another user's file, a read-only folder) leaves complete
    files, logs it, and costs the export nothing."""
    caplog.set_level(logging.INFO, logger="index.export_cache")
    stuck = _old_export(tmp_path, OLD)
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.name == "model-int8.onnx":
            raise PermissionError(13, "Permission denied", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    path = onnx_file(MODEL, "onnx", tmp_path)
    assert path.is_file() and "model-int8.onnx" in {p.name for p in stuck.iterdir()}
    assert f"kept the old model export {stuck}" in caplog.text


def test_exports_used_lately_under_other_keys_are_kept(
    tmp_path: Path, exports: list[Path], caplog: pytest.LogCaptureFixture,
) -> None:
    """Another setup sharing the cache (another virtualenv, an older checkout) still loads its
    export: a folder used in the last STALE_AFTER stays, whatever its key."""
    caplog.set_level(logging.INFO, logger="index.export_cache")
    assert STALE_AFTER == 14 * 86400
    used = _old_export(tmp_path, OLD, (".used", "model.onnx"))
    _age(used, 0)  # its setup loaded it just now
    exported_lately = _old_export(tmp_path, f"{MODEL}-ba5eba11cafe", days_ago=13)  # no .used: its files
    marked = _old_export(tmp_path, f"{MODEL}-feedfacefeed", (".used", "model.onnx"))
    os.utime(marked / "model.onnx")  # rewritten lately, but its last use (.used) is 15 days old
    forgotten = _old_export(tmp_path, f"{MODEL}-cafecafecafe")
    path = onnx_file(MODEL, "onnx", tmp_path)
    assert used.is_dir() and exported_lately.is_dir()
    assert not marked.exists() and not forgotten.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == [".lock", ".used", "model.onnx"]
    assert f"kept the old model export {used}: used 0.0 days ago" in caplog.text


def test_handing_out_an_export_marks_it_used(
    tmp_path: Path, exports: list[Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Setup A exports, setup B (another key) exports into the same cache: A's export stays while
    A keeps loading it, and goes once A has not loaded it for STALE_AFTER."""
    first = onnx_file(MODEL, "onnx", tmp_path)
    _age(first.parent, 15)
    assert onnx_file(MODEL, "onnx", tmp_path) == first and len(exports) == 1  # A loads it again
    monkeypatch.setattr(embedder_module, "_EXPORT_FORMAT", "another format")  # setup B
    second = onnx_file(MODEL, "onnx", tmp_path)
    assert second != first and first.is_file()
    _age(first.parent, 15)  # A is gone
    monkeypatch.setattr(embedder_module, "_EXPORT_FORMAT", "a third format")
    third = onnx_file(MODEL, "onnx", tmp_path)
    assert not first.parent.exists() and second.is_file() and third.is_file()


def test_no_removal_without_file_locks(
    tmp_path: Path, exports: list[Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """Without fcntl (Windows) an export in progress cannot be told from an idle one: one line
    says so, instead of a false "another process is exporting" per folder."""
    caplog.set_level(logging.INFO, logger="index.export_cache")
    monkeypatch.setattr(export_cache, "_FILE_LOCKS", False)
    old = _old_export(tmp_path, OLD)
    onnx_file(MODEL, "onnx", tmp_path)
    assert old.is_dir() and "another process" not in caplog.text
    assert f"kept the old model exports in {tmp_path}: removing them needs file locks" in caplog.text


def test_a_lock_file_removed_while_waited_on_is_not_shared(tmp_path: Path) -> None:
    """A remover unlinks a folder's .lock while holding it; an exporter waiting on that file then
    holds a lock nobody else sees, so it locks the file now at the path instead."""
    pytest.importorskip("fcntl")
    lock = tmp_path / "export" / ".lock"
    waiter_holds, done = threading.Event(), threading.Event()

    def exporter() -> None:
        with file_lock(lock):
            waiter_holds.set()
            done.wait(10)

    with file_lock(lock) as held:
        assert held
        thread = threading.Thread(target=exporter)
        thread.start()
        time.sleep(0.3)  # the exporter opens the lock file and waits on it (no way to observe it)
        assert not waiter_holds.is_set()
        lock.unlink()
    try:
        assert waiter_holds.wait(10)
        with file_lock(lock, wait=False) as also_held:
            assert not also_held
    finally:
        done.set()
        thread.join(10)


def test_an_unreadable_model_file_is_a_config_error_naming_the_folder(tmp_path: Path) -> None:
    """The CLI prints a ConfigError as one line; a raw PermissionError was a traceback."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 384}')
    weights = folder / "model.safetensors"
    weights.write_bytes(b"weights")
    weights.chmod(0)
    try:
        if os.access(weights, os.R_OK):  # root reads it anyway: a file nobody can read instead
            if not Path("/proc/self/mem").is_file():
                pytest.skip("running as root, and no /proc/self/mem")
            weights.unlink()
            weights.symlink_to("/proc/self/mem")  # reading from offset 0 is an I/O error
        with pytest.raises(ConfigError, match=f"cannot read the model files in {folder}"):
            embedder_module._model_key(MODEL, folder)
    finally:
        if not weights.is_symlink():
            weights.chmod(0o600)
