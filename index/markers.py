"""Which changes of the store's change marker one writer made itself.

Every write to the store moves its change marker (``ChromaStore.bump_generation``) to a new
random token. A reader that last saw marker ``A`` and now sees ``B`` knows something changed, not
who changed it. A writer that records, for each token it set, the token it replaced can tell
whether the whole way from ``A`` to ``B`` was its own: then nothing another process wrote needs
to be loaded (an embedded Chroma client already holds its own writes; a duplicate index already
holds the articles its ingestor grouped).

Chroma offers no compare-and-swap: the token a write replaces is read just before the write sets
its own. A whole write of another process (two marker changes with its data in between) falling
in that gap of one lookup would go unnoticed; anything it does outside that gap breaks the chain.
"""

from __future__ import annotations

from collections import OrderedDict

# Tokens remembered per writer (two per write); a longer way back is treated as broken, which
# only costs a reload.
LIMIT = 4096


class MarkerChain:
    """The marker tokens one writer set, each with the token it replaced."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._replaced: OrderedDict[str, str] = OrderedDict()
        self._limit = limit

    def record(self, previous: str, token: str) -> None:
        """This writer moved the marker from ``previous`` to ``token``."""
        self._replaced[token] = previous
        while len(self._replaced) > self._limit:
            self._replaced.popitem(last=False)

    def between(self, since: str, now: str) -> tuple[str, ...] | None:
        """The tokens this writer set on the way from ``since`` to ``now`` (newest first; empty
        when they are the same), or None when some change on that way was not this writer's."""
        way: list[str] = []
        while now != since:
            # ``get``, not a test then a lookup: ``record`` may evict from another thread.
            previous = self._replaced.get(now)
            if previous is None or len(way) > len(self._replaced):
                return None
            way.append(now)
            now = previous
        return tuple(way)

    def __contains__(self, token: str) -> bool:
        """Whether this writer set ``token``."""
        return token in self._replaced

    def clear(self) -> None:
        self._replaced.clear()
