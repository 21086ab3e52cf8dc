"""What an ingest did: the per-run tally and the report handed back (added, updated, unchanged,
removed, failed with reasons, warnings, counts)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


def first_few(items: list[str], n: int = 3) -> str:
    """``"a, b, c, ..."``: the first ``n`` of a list named in a message, and whether there are more."""
    return ", ".join(items[:n]) + (", ..." if len(items) > n else "")


@dataclass(frozen=True)
class Failure:
    """A file (or file:line) that was not ingested, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did: article ids per outcome, failures with reasons, and counts."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    failed: tuple[Failure, ...] = ()
    warnings: tuple[str, ...] = ()
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """A few human lines: counts, then each failure and warning."""
        lines = [
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.failed)} failed "
            f"({self.chunks_added} chunk{'' if self.chunks_added == 1 else 's'} embedded, "
            f"{self.seconds:.1f}s)"
        ]
        lines += [f"  failed: {f.path}: {f.reason}" for f in self.failed]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass
class Run:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    ids_by_path: dict[str, str] = field(default_factory=dict)
    text_hashes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def report(self, started: float) -> IngestReport:
        return IngestReport(
            tuple(self.added), tuple(self.updated), tuple(self.unchanged), tuple(self.removed),
            tuple(self.failed), tuple(self.warnings), self.chunks_added, self.chunks_removed,
            time.perf_counter() - started,
        )
