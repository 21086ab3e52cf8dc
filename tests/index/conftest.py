"""Fixtures of the ingest tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def refuse_reading(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make the OS refuse to read files of one name (tests run as root, where chmod 000 does not)."""

    def refuse(name: str) -> None:
        real_read_bytes = Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self.name == name:
                raise PermissionError(13, "Permission denied", str(self))
            return real_read_bytes(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)

    return refuse
