"""An ingest process the crash test can SIGKILL at a chosen store call.

Usage: python -m tests.index.crash_worker INDEX_DIR FOLDER MAX_BATCH [dedup]
Then, per line on stdin, ``OPERATION N [ARTICLE_ID]``: ingest FOLDER (or, given an id, delete
that article), printing one line per call of OPERATION ("upsert", "update" or "delete") on the
chunks collection (``articles.upsert`` on the articles collection, ``lexicon.put_articles`` on
the lexicon); after the N-th call print "parked" and sleep until killed. N = 0 never parks: the
run ends with "finished <summary>".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from index.dedup import Deduper
from index.ingest import Ingestor
from index.lexicon import Lexicon, lexicon_path
from index.store import ChromaStore
from tests.fakes import FakeEmbedder


class _Parking:
    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self.operation = ""
        self.park_after = 0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._collection, name)
        if name != self.operation:
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            self.calls += 1
            print(f"{name} {self.calls}", flush=True)
            if self.calls == self.park_after:
                print("parked", flush=True)
                time.sleep(3600)
            return result

        return call


def main(index_dir: str, folder: str, max_batch: str, dedup: str = "") -> None:
    embedder = FakeEmbedder()
    store = ChromaStore.persistent(index_dir, model_name=embedder.name)
    store.max_batch = int(max_batch)
    lexicon = Lexicon(lexicon_path(index_dir, index_dir))
    parked = {"chunks": _Parking(store._chunks), "articles": _Parking(store._articles),
              "lexicon": _Parking(lexicon)}
    store._chunks, store._articles = parked["chunks"], parked["articles"]
    ingestor = Ingestor(
        store, embedder, lexicon=parked["lexicon"],  # type: ignore[arg-type]
        dedup=Deduper(Path(index_dir) / "dedup.npz") if dedup == "dedup" else None,
    )
    print("ready", flush=True)
    for command in sys.stdin:
        operation, park_after, *delete = command.split()
        target, _, operation = operation.rpartition(".")
        for name, parking in parked.items():
            parking.operation = operation if name == (target or "chunks") else ""
            parking.park_after, parking.calls = int(park_after), 0
        if delete:
            print(f"finished deleted {ingestor.delete(delete[0])}", flush=True)
        else:
            print(f"finished {ingestor.ingest([folder]).summary()}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
