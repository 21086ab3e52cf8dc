"""Sentence vectors kept on disk, so a question asked in a new process need not embed them again.

The answer step embeds every candidate sentence of the retrieved passages with the bundled model
and the matcher (``qa.answer.sentvec``); on a cold process that model work is ~90% of a question
(``BENCHMARKS.md``, "A question asked for the first time"). This file keeps each vector computed,
by the model that computed it (``vector_key``: weights, deltas, backend) and a digest of the
sentence's text (and each passage's sentence boundaries, by the splitter's version and a digest
of the passage), so the next process (a ``qa ask`` from the shell, a restarted page, another
replica on the same data dir) reads it instead. ``qa warm`` fills it for every indexed sentence.
``PassageSplitter`` is the answer step's way to a passage's sentences through it.

It is a cache: any failure to read or write it (a read-only data dir, a damaged file, a lock
held too long) is logged once and the answer step goes on embedding as before. It holds no
article text, only vectors and 16-byte digests; vectors are stored exactly (float32), so an
answer is the same whether its vectors came from here or from the model.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from index.export_cache import STALE_AFTER  # the same grace as other setups' model exports
from index.sentences import sentence_spans_in, splitter_version

log = logging.getLogger(__name__)

FILE_NAME = "sentence-vectors.sqlite"
_SCHEMA = """
-- ``used``: when a process last used the model's vectors (seconds since the epoch, marked at
-- most daily per process); another model's vectors are pruned only after STALE_AFTER unused (a
-- second virtualenv or an older checkout may share the data dir, as with the export cache).
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, used REAL NOT NULL DEFAULT 0
);
-- A rowid table: a 1.5 kB vector fits in its page, where a WITHOUT ROWID table's key b-tree
-- spills every row past ~1 kB to an overflow page of its own (4.7 kB a vector, measured).
CREATE TABLE IF NOT EXISTS vectors (
    model INTEGER NOT NULL, digest BLOB NOT NULL, vector BLOB NOT NULL,
    UNIQUE (model, digest)
);
-- A passage's sentences as (start, end) pairs, int32, keyed by the splitter and the text.
CREATE TABLE IF NOT EXISTS spans (digest BLOB NOT NULL UNIQUE, spans BLOB NOT NULL);
"""
TOUCH_EVERY = 24 * 3600.0
SPLIT_CACHE = 4096  # passages whose sentence spans a process keeps in memory
_T = TypeVar("_T")
_CHUNK = 500  # keys per statement (SQLite allows 32k variables; smaller keeps statements short)


def digest(text: str) -> bytes:
    """The key of a sentence: its text's sha256, first 16 bytes."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


class SentenceStore:
    """Vectors by (model key, sentence digest), and passages' sentence spans by (splitter,
    passage digest), in one SQLite file. Thread-safe; several processes may share the file
    (WAL). Reads and writes go through two connections, so a question's read never waits
    behind a long write (a prune) of this process. Opened on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conns: dict[str, sqlite3.Connection] = {}
        self._locks = {"read": threading.Lock(), "write": threading.Lock()}
        self._models: dict[str, int] = {}
        self._touched: dict[str, float] = {}  # model key -> when this process last marked it used
        self.problem: str | None = None  # why the file is not used, once it is not

    @property
    def usable(self) -> bool:
        """Whether vectors can be kept here (the file opens for writing); False after a failure."""
        return self._use("write", "open", False, lambda db: True)

    def get(self, model: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those ``texts`` that have one, by text."""
        def read(db: sqlite3.Connection) -> dict[str, np.ndarray]:
            model_id = self._model_id(db, model, create=False)
            if model_id is None:
                return {}
            rows = _select(db, "SELECT digest, vector FROM vectors WHERE model = ? AND digest IN",
                           [model_id], by_digest)
            return {by_digest[key]: np.frombuffer(blob, dtype=np.float32).copy() for key, blob in rows}

        by_digest = {digest(t): t for t in texts}
        found: dict[str, np.ndarray] = self._use("read", "read", {}, read) if texts else {}
        if found:
            self._touch(model)  # a process that only reads uses these vectors too
        return found

    def missing(self, model: str, texts: Sequence[str]) -> list[str]:
        """Those ``texts`` with no stored vector for ``model`` (reads keys only, not vectors);
        none when the file cannot be read (nothing could be kept anyway)."""
        def read(db: sqlite3.Connection) -> list[str]:
            model_id = self._model_id(db, model, create=False)
            if model_id is None:
                return list(by_digest.values())
            rows = _select(db, "SELECT digest, digest FROM vectors WHERE model = ? AND digest IN",
                           [model_id], by_digest)
            kept = {key for key, _ in rows}
            return [t for d, t in by_digest.items() if d not in kept]

        by_digest = {digest(t): t for t in texts}
        return self._use("read", "read", [], read) if texts else []

    def put(self, model: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Keep ``vectors`` (by text) as ``model``'s; texts already stored are left as they are."""
        def write(db: sqlite3.Connection) -> None:
            with db:
                model_id = self._model_id(db, model, create=True)
                db.executemany("INSERT OR IGNORE INTO vectors (model, digest, vector) VALUES (?, ?, ?)",
                               [(model_id, key, blob) for key, blob in rows])

        rows = [(digest(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in vectors.items()]
        if rows:
            self._use("write", "write", None, write)

    def get_spans(self, splitter: str, texts: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
        """The stored sentence spans (by ``splitter``, a version) of those passage ``texts`` that
        have them; spans that do not fit their text are ignored."""
        def read(db: sqlite3.Connection) -> dict[str, list[tuple[int, int]]]:
            found = {}
            for key, blob in _select(db, "SELECT digest, spans FROM spans WHERE digest IN", [], by_digest):
                text = by_digest[key]
                pairs = [(int(a), int(b)) for a, b in np.frombuffer(blob, dtype=np.int32).reshape(-1, 2)]
                if all(0 <= a < b <= len(text) for a, b in pairs):
                    found[text] = pairs
            return found

        by_digest = {_passage_digest(splitter, t): t for t in texts}
        return self._use("read", "read", {}, read) if texts else {}

    def put_spans(self, splitter: str, spans: Mapping[str, Sequence[tuple[int, int]]]) -> None:
        """Keep the sentence spans of passage texts, as split by ``splitter``."""
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.executemany("INSERT OR IGNORE INTO spans (digest, spans) VALUES (?, ?)", rows)

        rows = [(_passage_digest(splitter, t), np.asarray(p, dtype=np.int32).reshape(-1).tobytes())
                for t, p in spans.items()]
        if rows:
            self._use("write", "write", None, write)

    def forget(self, sentences: Iterable[str], passages: tuple[str, Iterable[str]]) -> None:
        """Remove these sentences' vectors (every model's) and these passages' spans (splitter,
        texts): an article was deleted."""
        def write(db: sqlite3.Connection) -> None:
            with db:
                # "model IN" lets the (model, digest) index find the rows instead of a full scan.
                db.executemany("DELETE FROM vectors WHERE model IN (SELECT id FROM models) AND digest = ?",
                               ((digest(t),) for t in sentences))
                db.executemany("DELETE FROM spans WHERE digest = ?",
                               ((_passage_digest(splitter, t),) for t in texts))

        splitter, texts = passages
        self._use("write", "write", None, write)

    def keep_only(
        self, keep: Mapping[str, Iterable[str]], passages: tuple[str, Iterable[str]] | None = None
    ) -> int:
        """Remove the vectors of the models in ``keep`` but those of the given texts (the
        sentences of the index now), every vector of other models unused for ``STALE_AFTER``,
        and with ``passages`` (splitter, texts) every passage's spans but those; returns how
        many vectors were removed."""
        def prune(db: sqlite3.Connection) -> int:
            with db:
                db.execute("CREATE TEMP TABLE IF NOT EXISTS kept (model INTEGER, digest BLOB,"
                           " PRIMARY KEY (model, digest)) WITHOUT ROWID")
                db.execute("DELETE FROM kept")
                ids = []
                for model, texts in keep.items():
                    ids.append(self._model_id(db, model, create=True))
                    db.executemany("INSERT OR IGNORE INTO kept VALUES (?, ?)",
                                   ((ids[-1], digest(t)) for t in texts))
                marks = ",".join("?" * len(ids))
                # Model rows stay (a few bytes each): an id is never reused for another model
                # while another process may still write under it.
                removed = db.execute(
                    f"DELETE FROM vectors WHERE model IN ({marks}) AND NOT EXISTS (SELECT 1 FROM "
                    "kept WHERE kept.model = vectors.model AND kept.digest = vectors.digest)",
                    ids).rowcount
                removed += db.execute(
                    f"DELETE FROM vectors WHERE model NOT IN ({marks}) AND model IN "
                    "(SELECT id FROM models WHERE used < ?)", [*ids, time.time() - STALE_AFTER]).rowcount
                if passages is not None:
                    splitter, texts = passages
                    db.executemany("INSERT OR IGNORE INTO kept VALUES (0, ?)",
                                   ((_passage_digest(splitter, t),) for t in texts))
                    db.execute("DELETE FROM spans WHERE NOT EXISTS (SELECT 1 FROM kept WHERE "
                               "kept.model = 0 AND kept.digest = spans.digest)")
                db.execute("DELETE FROM kept")
            return int(removed)

        return self._use("write", "prune", 0, prune)

    def count(self, model: str | None = None) -> int:
        """How many vectors are stored (for ``model`` alone when given)."""
        def read(db: sqlite3.Connection) -> int:
            if model is None:
                return int(db.execute("SELECT count(*) FROM vectors").fetchone()[0])
            model_id = self._model_id(db, model, create=False)
            if model_id is None:
                return 0
            return int(db.execute("SELECT count(*) FROM vectors WHERE model = ?", (model_id,)).fetchone()[0])

        return self._use("read", "read", 0, read)

    def close(self) -> None:
        for role, lock in self._locks.items():
            with lock:
                db = self._conns.pop(role, None)
                if db is not None:
                    db.close()

    # -- inside a connection's lock ------------------------------------------------------------

    def _use(self, role: str, what: str, default: _T, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """``work(db)`` on the ``role`` connection under its lock; ``default`` when the file cannot
        be used."""
        with self._locks[role]:
            db = self._open(role)
            if db is None:
                return default
            try:
                return work(db)
            except (sqlite3.Error, ValueError) as exc:
                # An id or a "used" mark written inside a rolled-back transaction may be gone.
                self._models.clear()
                self._touched.clear()
                self._give_up(what, exc)
                return default

    def _open(self, role: str) -> sqlite3.Connection | None:
        if self.problem is not None:
            return None
        if role not in self._conns:
            db: sqlite3.Connection | None = None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Python's own transactions: ``with db:`` commits or rolls back. Writes wait for
                # another process's write at most 5 s; reads never wait in WAL mode.
                db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
                # Five 1.5 kB vectors fill an 8 kB page; two fill a 4 kB one (2.1 kB a vector).
                # Takes effect only on a new file, before its first table.
                db.execute("PRAGMA page_size=8192")
                db.execute("PRAGMA journal_mode=WAL")
                # A cache: losing the last writes at a power cut costs a re-embedding, no more.
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                columns = {row[1] for row in db.execute("PRAGMA table_info(models)")}
                if "used" not in columns:  # a file written before models had it
                    with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                        db.execute("ALTER TABLE models ADD COLUMN used REAL NOT NULL DEFAULT 0")
                self._conns[role] = db
            except (OSError, sqlite3.Error) as exc:
                if db is not None:
                    db.close()
                self._give_up("open", exc)
                return None
        return self._conns[role]

    def _model_id(self, db: sqlite3.Connection, model: str, *, create: bool) -> int | None:
        model_id = self._models.get(model)
        if model_id is None:
            row = db.execute("SELECT id FROM models WHERE key = ?", (model,)).fetchone()
            if row is None and create:
                db.execute("INSERT OR IGNORE INTO models (key, used) VALUES (?, ?)", (model, time.time()))
                row = db.execute("SELECT id FROM models WHERE key = ?", (model,)).fetchone()
            if row is None:
                return None
            model_id = self._models[model] = int(row[0])
        if create and time.time() - self._touched.get(model, 0.0) > TOUCH_EVERY:
            # This model's vectors are in use (see STALE_AFTER): once a day per process.
            db.execute("UPDATE models SET used = ? WHERE id = ?", (time.time(), model_id))
            self._touched[model] = time.time()
        return model_id

    def _touch(self, model: str) -> None:
        """Mark ``model`` used (from a read path: through the write connection, at most daily)."""
        if time.time() - self._touched.get(model, 0.0) > TOUCH_EVERY:
            def write(db: sqlite3.Connection) -> None:
                with db:
                    self._model_id(db, model, create=True)

            self._use("write", "write", None, write)

    def _give_up(self, what: str, exc: Exception) -> None:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            # Another process held the file past the timeout: skip this one read or write.
            log.info("the sentence vectors in %s are busy (%s); skipped once", self.path, exc)
            return
        # Warned once: the answer step goes on without the file (it embeds, as it would anyway).
        log.warning("cannot %s the sentence vectors in %s (%s); going on without them",
                    what, self.path, exc)
        # Connections stay open but unused: another thread may be inside one right now.
        self.problem = f"cannot {what} {self.path}: {exc}"


class PassageSplitter:
    """Passages' sentence spans (``index.sentences``), from this process's cache, the store, or
    the splitter (then kept in the store, and in the cache unless told not to). Popular passages
    come back question after question; pysbd takes ~4 ms a passage. Thread-safe."""

    def __init__(self, store: SentenceStore | None) -> None:
        self.store = store
        self._cache: OrderedDict[str, list[tuple[int, int]]] = OrderedDict()
        self._lock = threading.Lock()

    def sentence_texts(self, passages: Sequence[str], *, remember: bool = True) -> list[str]:
        """The distinct sentences of these passage texts, in order."""
        spans = self.split(passages, remember=remember)
        return list(dict.fromkeys(text[a:b] for text in passages for a, b in spans[text]))

    def forget(self, passages: Sequence[str]) -> None:
        """Remove what is kept of these passages (their sentences' vectors, their spans), here
        and in the store: their article was deleted. Another article may share a sentence (a
        wire copy): it is embedded again if asked."""
        if self.store is not None and passages:
            sentences = self.sentence_texts(passages, remember=False)
            self.store.forget(sentences, passages=(splitter_version(), passages))
        with self._lock:
            for text in passages:
                self._cache.pop(text, None)

    def split(self, passages: Sequence[str], *, remember: bool = True) -> dict[str, list[tuple[int, int]]]:
        """Each passage text's sentence spans; ``remember=False`` (the warm-up) leaves this
        process's cache to the passages questions use."""
        with self._lock:
            found = {t: s for t in passages if (s := self._cache.get(t)) is not None}
        missing = [t for t in dict.fromkeys(passages) if t not in found]
        if missing and self.store is not None:
            found.update(self.store.get_spans(splitter_version(), missing))
            new = {t: sentence_spans_in(t, 0, len(t)) for t in missing if t not in found}
            self.store.put_spans(splitter_version(), new)
            found.update(new)
        found.update({t: sentence_spans_in(t, 0, len(t)) for t in missing if t not in found})
        if remember:
            with self._lock:
                for text, spans in found.items():
                    # Set, not only moved: another thread may have evicted it since it was read.
                    self._cache[text] = spans
                    self._cache.move_to_end(text)
                while len(self._cache) > SPLIT_CACHE:
                    self._cache.popitem(last=False)
        return found


def _passage_digest(splitter: str, text: str) -> bytes:
    return digest(f"{splitter}\0{text}")


def _select(
    db: sqlite3.Connection, query: str, params: list[Any], keys: Iterable[bytes]
) -> list[tuple[bytes, bytes]]:
    """``query`` + `` (?, ?, ...)`` over ``keys`` in statements of at most ``_CHUNK`` keys."""
    keys = list(keys)
    rows: list[tuple[bytes, bytes]] = []
    for lo in range(0, len(keys), _CHUNK):
        part = keys[lo : lo + _CHUNK]
        found = db.execute(f"{query} ({','.join('?' * len(part))})", [*params, *part]).fetchall()
        rows.extend((bytes(key), bytes(value)) for key, value in found)
    return rows
