"""Housekeeping of the ONNX export cache (``index.embedder`` decides what is exported and where).

A cache folder is named by a key over the model files' content, so a new install of the same
weights (a new virtualenv: new paths, new mtimes) finds its export again; each folder has its own
``.lock``, held while something exports into it. When a key changes (an export format bump, a new
onnxruntime, other weights) the folder of the old key is removed after the new export, unless
another process holds its lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

# Every file ``index.embedder`` writes into a cache folder: the exports, their lock, and the
# temporary files of an export in progress (``model.onnx.<pid>.<thread>.tmp`` and the like).
_OUR_FILES = re.compile(r"\.lock|model(-int8)?\.onnx|model[\w.-]*\.tmp")

_digests: dict[tuple[str, int, int], str] = {}
_digests_lock = threading.Lock()


def content_digest(folder: Path) -> str:
    """sha256 over the names and bytes of the files directly in ``folder`` (a model's weights,
    config and tokenizer).

    Each file is read once per process while its size and mtime stay the same: ~0.09 s for the
    bundled model's 90 MB when the OS has it cached (BENCHMARKS.md, "How the ONNX backend is built").
    """
    digest = hashlib.sha256()
    # One lock for the whole walk: the embedder, matcher and reader warm up in parallel threads,
    # and the second one waits for the first one's digests instead of reading 90 MB again.
    with _digests_lock:
        for file in sorted(folder.iterdir()):
            if file.is_file():
                digest.update(f"{file.name}:{_file_digest(file)};".encode())
    return digest.hexdigest()


def _file_digest(file: Path) -> str:
    stat = file.stat()
    seen = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
    if seen not in _digests:
        with open(file, "rb") as handle:
            _digests[seen] = hashlib.file_digest(handle, "sha256").hexdigest()
    return _digests[seen]


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock between processes (two ``qa`` commands exporting the same model) on the
    file ``path``; yields whether it is held. With ``wait=False`` it is not held when another
    process (or another handle in this one) holds it, and never where ``fcntl`` is missing."""
    if wait:
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: the atomic renames still hold
            yield wait
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale(cache_dir: Path, stale: re.Pattern[str], *, keep: str) -> list[str]:
    """Remove the folders of ``cache_dir`` whose whole name matches ``stale``, except ``keep``
    (the folder just exported), and return their names.

    A folder is kept when its lock is held (an export into it is running) or when it holds
    anything but what ``index.embedder`` writes. Removal never raises: a folder that cannot be
    removed (a read-only cache, another user's files) stays, logged at info level, and a removal
    that stops half-way leaves complete files only, which the next export of that key reuses.
    """
    try:
        folders = sorted(p for p in cache_dir.iterdir() if p.name != keep and stale.fullmatch(p.name))
    except OSError:
        return []
    removed = []
    for folder in folders:
        try:
            size = _remove_unused(folder)
        except OSError as exc:
            log.info("kept the old model export %s: %s", folder, exc)
            continue
        if size is not None:
            removed.append(folder.name)
            log.info("removed the old model export %s (%.0f MB)", folder, size / 1e6)
    return removed


def _remove_unused(folder: Path) -> int | None:
    """Remove ``folder`` if it is ours and nobody exports into it; its size in bytes, or None."""
    if folder.is_symlink() or not folder.is_dir() or not _only_ours(folder):
        return None
    with file_lock(folder / ".lock", wait=False) as held:
        if not held:
            log.info("kept the old model export %s: another process is exporting into it", folder)
            return None
        if not _only_ours(folder):  # again under the lock: something may have been put there since
            return None
        files = [f for f in folder.iterdir() if f.name != ".lock"]
        size = sum(f.stat().st_size for f in files)
        for file in files:
            file.unlink(missing_ok=True)
        # The lock goes last: until then, an exporter of this key waits for it, then re-creates
        # the folder and exports afresh.
        (folder / ".lock").unlink(missing_ok=True)
        folder.rmdir()
    return size


def _only_ours(folder: Path) -> bool:
    return all(f.is_file() and not f.is_symlink() and _OUR_FILES.fullmatch(f.name) for f in folder.iterdir())
