"""Housekeeping of the ONNX export cache (``index.embedder`` decides what is exported and where).

A cache folder is named by a key over the model files' content, so a new install of the same
weights (a new virtualenv: new paths, new mtimes) finds its export again; each folder has its own
``.lock``, held while something exports into it, and a ``.used`` file touched each time an export
is handed out. When a key changes (an export format bump, a new onnxruntime, other weights) the
folders of the other keys are removed after the new export, unless one was used in the last
``STALE_AFTER`` or another process holds its lock: two setups sharing a cache under different keys
(two virtualenvs, an older checkout, a worktree with other weights) keep each other's exports.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import re
import threading
import time
from pathlib import Path

from index.files import file_lock

log = logging.getLogger(__name__)

# An export of another key is removed only when unused this long (seconds): a setup that still
# runs it touches its ``.used`` at least every time it loads the model.
STALE_AFTER = 14 * 24 * 3600

# Every file ``index.embedder`` writes into a cache folder: the exports, their lock, the mark of
# their last use, and the temporary files of an export in progress (``model.onnx.<pid>.<thread>.tmp``
# and the like).
_OUR_FILES = re.compile(r"\.lock|\.used|model(-int8)?\.onnx|model[\w.-]*\.tmp")

# Without fcntl (Windows) no lock tells a folder being exported into from an idle one.
_FILE_LOCKS = importlib.util.find_spec("fcntl") is not None

_digests: dict[tuple[str, int, int, int, int], str] = {}
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
    # The inode and ctime too: a file replaced by one of the same size and a restored mtime
    # (``cp -p``, an unpacked archive) is a new inode, or at least a new ctime.
    seen = (str(file.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns)
    if seen not in _digests:
        with open(file, "rb") as handle:
            _digests[seen] = hashlib.file_digest(handle, "sha256").hexdigest()
    return _digests[seen]


def mark_used(folder: Path) -> None:
    """Record that the export in ``folder`` was handed out now, which keeps ``remove_stale`` of
    other keys away from it for ``STALE_AFTER``. Best effort: a read-only cache is left as it is."""
    with contextlib.suppress(OSError):
        (folder / ".used").touch()


def remove_stale(cache_dir: Path, stale: re.Pattern[str], *, keep: str) -> list[str]:
    """Remove the folders of ``cache_dir`` whose whole name matches ``stale``, except ``keep``
    (the folder just exported), and return their names.

    A folder is kept when it was used in the last ``STALE_AFTER`` (another setup sharing this
    cache under another key still loads it), when its lock is held (an export into it is running)
    or when it holds anything but what ``index.embedder`` writes. Removal never raises: a folder
    that cannot be removed (a read-only cache, another user's files) stays, logged at info level,
    and a removal that stops half-way leaves complete files only, which the next export of that
    key reuses. Without file locks (Windows) nothing is removed.
    """
    try:
        folders = sorted(p for p in cache_dir.iterdir() if p.name != keep and stale.fullmatch(p.name))
    except OSError:
        return []
    if folders and not _FILE_LOCKS:  # pragma: no cover - Windows
        log.info("kept the old model exports in %s: removing them needs file locks (fcntl)", cache_dir)
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
    """Remove ``folder`` if it is ours and unused; its size in bytes, or None."""
    if folder.is_symlink() or not folder.is_dir() or not _only_ours(folder) or _used_lately(folder):
        return None
    with file_lock(folder / ".lock", wait=False) as held:
        if not held:
            log.info("kept the old model export %s: another process is exporting into it", folder)
            return None
        # Again under the lock: something may have been put there, or used it, since.
        if not _only_ours(folder) or _used_lately(folder):
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


def _used_lately(folder: Path) -> bool:
    """Whether ``folder``'s export was handed out in the last ``STALE_AFTER``: its ``.used`` mark,
    else (an export by code older than the mark) the newest of its files, else the folder's own."""
    used = folder / ".used"
    if used.exists():
        last = used.stat().st_mtime
    else:
        last = max((f.stat().st_mtime for f in folder.iterdir()), default=folder.stat().st_mtime)
    if time.time() - last < STALE_AFTER:
        log.info("kept the old model export %s: used %.1f days ago", folder, (time.time() - last) / 86400)
        return True
    return False


def _only_ours(folder: Path) -> bool:
    return all(f.is_file() and not f.is_symlink() and _OUR_FILES.fullmatch(f.name) for f in folder.iterdir())
