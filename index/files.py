"""File helpers every writer of the data dir shares: a temp file of this writer's own beside its
target, a whole-or-nothing text write, and an exclusive lock between processes."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path


def temp_beside(path: Path, suffix: str = ".tmp") -> Path:
    """A temporary file name beside ``path``, this process's and thread's own: two writers each
    write their own temp file and rename it into place (one shared name let one writer rename
    away the other's file: FileNotFoundError)."""
    return path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}{suffix}")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: a temp file of this writer's own, renamed
    into place (a crash leaves the old file or the new one, never half of one)."""
    tmp = temp_beside(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock between processes (two ``qa`` commands exporting the same model) on the
    file ``path``; yields whether it is held. With ``wait=False`` it is not held when another
    process (or another handle in this one) holds it, and never where ``fcntl`` is missing. A lock
    file removed while waited on (``remove_stale`` removes its folder) is not held: ``wait=True``
    locks the file now at ``path`` instead."""
    while True:
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
                # A remover unlinks the lock file while holding it: whoever waited on that file
                # now holds a lock nobody else can see, while the next process locks a new file.
                if _is_at(handle.fileno(), path):
                    yield True
                    return
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        if not wait:
            yield False
            return


def _is_at(fd: int, path: Path) -> bool:
    try:
        held, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)
