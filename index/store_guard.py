"""Chroma failures as one named error: whatever chromadb, httpx or sqlite raise becomes a
``StoreError`` saying what failed where and what to do (start the server, free disk space...).

Kept apart from ``index.store`` (which alone imports chromadb) because it only reads exceptions.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from index.errors import QAError, StoreError

# Free bytes under which a failed write is put down to a full disk.
_LOW_DISK = 8 * 1024 * 1024


class Guarded:
    """A Chroma client or collection whose every call turns a failure into a ``StoreError``.

    chromadb lets through httpx errors (a dead server), sqlite errors wrapped in its own types (a
    read-only or full disk) and its own exceptions; callers should see one named error.
    """

    def __init__(self, target: Any, failure: Callable[[Exception], StoreError]) -> None:
        self._target = target
        self._failure = failure

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with translated(self._failure):
                return attr(*args, **kwargs)

        return call


@contextmanager
def translated(failure: Callable[[Exception], StoreError]) -> Iterator[None]:
    """Raise ``failure(exc)`` from any exception but the project's own named ones."""
    try:
        yield
    except QAError:
        raise
    except Exception as exc:
        raise failure(exc) from exc


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _disk_full(location: str) -> bool:
    """Less than ``_LOW_DISK`` bytes free where the index lives (False when that is unknown)."""
    try:
        return shutil.disk_usage(location).free < _LOW_DISK
    except OSError:
        return False


def store_failure(exc: Exception, location: str, *, server: bool) -> StoreError:
    """One line: what failed where, and what to do about it."""
    causes = list(_causes(exc))
    detail = (str(exc).strip().splitlines() or [""])[0]
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    text = " ".join(str(c) for c in causes).lower()
    errnos = {getattr(c, "errno", None) for c in causes}
    if server:
        unreachable = any(
            isinstance(c, ConnectionError | TimeoutError)
            or type(c).__module__.startswith(("httpx", "httpcore"))
            for c in causes
        ) or "could not connect" in text
        if unreachable:
            host, _, port = location.split("://", 1)[-1].rpartition(":")
            return StoreError(
                f"cannot reach the Chroma server at {location} ({what}). Is the Chroma server "
                f"running? Start it with: chroma run --host {host} --port {port} --path DIR"
            )
        return StoreError(f"the Chroma server at {location} failed: {what}")
    read_only = errno.EROFS in errnos or "readonly database" in text or "read-only file system" in text
    # Chroma's own storage layer often hides the OS error ("Error in compaction: ..."), so a
    # nearly full disk is looked at directly.
    if errno.ENOSPC in errnos or "disk is full" in text or "no space left" in text or (
        _disk_full(location) and not read_only
    ):
        return StoreError(
            f"no space left on the disk holding the index at {location} ({what}): free some "
            "space, or point QA_DATA_DIR at another disk, then run again"
        )
    if read_only:
        return StoreError(
            f"the data folder {location} is read-only, and Chroma must write to its index even "
            "to read it: make the folder writable, or copy it somewhere writable and point "
            "QA_DATA_DIR there"
        )
    if errno.EACCES in errnos or "permission denied" in text:
        return StoreError(
            f"permission denied on the index at {location} ({what}): give this user write "
            "access to the folder, or point QA_DATA_DIR at another one"
        )
    return StoreError(f"the Chroma index at {location} failed: {what}")
