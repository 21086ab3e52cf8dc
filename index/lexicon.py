"""The keyword index: BM25 over stemmed chunk terms in SQLite FTS5, beside the Chroma store.

A derived copy of the store's chunks, kept in step at an ingest's write points (``put_article``
before Chroma records the article, ``delete_article`` after it dropped it) and repaired by
``catch_up`` when the store's change marker moves past the one it last saw: each article row
carries the store's version of that article, so only articles whose versions differ are rebuilt
(after a crash; in server mode, where each process derives its own lexicon from the server).

FTS5 ranks with its own ``bm25()`` (k1=1.2, b=0.75); the column holds the project's stemmed
terms (PyStemmer english, stopwords dropped) separated by spaces, so queries and the answer
step's term statistics see the same words. Filters (article ids, publication dates) are SQL
conditions inside the ranked query, not a pass over its top rows. ``bm25()`` costs about a
microsecond per matching row, and a question's common words match most rows of a large index:
there, only the rows that can still reach the top k are scored (``Lexicon._pruned``), with the
same scores, so the ranking is the one the plain query gives.
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import Stemmer

from index.errors import StoreError

_TOKEN = re.compile(r"(?u)\b\w\w+\b|\b\d\b")
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    also did does many much whose""".split()  # noqa: SIM905 - a word list reads better as text
)

# bm25() gives a row at most idf * (K1 + 1) for each query term (its term-frequency part stays
# below K1 + 1), FTS5's idf being max(log((N - df + 0.5) / (df + 0.5)), 1e-6).
_K1 = 1.2
# Pruning pays once the query's terms are in this many rows together; the first, cheap pass
# ranks the rows of the rarest terms holding at least PROBE_ROWS rows.
PRUNE_ABOVE = 5000
PROBE_ROWS = 300

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (article_id TEXT PRIMARY KEY, version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE, article_id TEXT NOT NULL,
    published_ts INTEGER
);
CREATE INDEX IF NOT EXISTS chunks_by_article ON chunks (article_id);
CREATE INDEX IF NOT EXISTS chunks_by_date ON chunks (published_ts);
-- '_' is a word character for the project's tokeniser (\\w), so it is one here too.
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    terms, tokenize = "unicode61 remove_diacritics 0 tokenchars '_'"
);
CREATE VIRTUAL TABLE IF NOT EXISTS vocab USING fts5vocab(fts, 'row');
"""


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words of ``text`` (stopwords dropped)."""
    words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOPWORDS]
    return list(_stemmer().stemWords(words))


@dataclass(frozen=True)
class LexicalRow:
    """One chunk as the lexicon keeps it: its id, article, date stamp and text."""

    chunk_id: str
    article_id: str
    published_ts: int | None
    text: str


@dataclass(frozen=True)
class LexicalFilter:
    """Filters applied inside the ranked query."""

    article_ids: tuple[str, ...] | None = None
    published_from_ts: int | None = None
    published_to_ts: int | None = None


class Source(Protocol):
    """What ``catch_up`` reads from the store (``ChromaStore`` provides it)."""

    def article_versions(self) -> dict[str, str]: ...

    def lexical_rows(self, article_id: str) -> list[LexicalRow]: ...


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _why(exc: BaseException, lexicon: Lexicon) -> str:  # a damaged file: how to mend it
    mend = (f" (the file is damaged; it only mirrors the store: delete {lexicon.path.name} and its -wal/-shm "
            "files, and the next command rebuilds it)")
    return f"{exc}{mend if re.search(r'malformed|not a database', str(exc)) else ''}"


def _guarded(
    doing: str,
) -> Callable[[Callable[Concatenate[Lexicon, _P], _R]], Callable[Concatenate[Lexicon, _P], _R]]:
    """Turn SQLite failures (locked past the timeout, disk full, corrupt file) into StoreError
    naming the file and the operation, so the CLI and the page print one clear line."""

    def wrap(method: Callable[Concatenate[Lexicon, _P], _R]) -> Callable[Concatenate[Lexicon, _P], _R]:
        @functools.wraps(method)
        def run(self: Lexicon, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise StoreError(f"keyword index {self.path}: cannot {doing}: " + _why(exc, self)) from exc

        return run

    return wrap


class Lexicon:
    """BM25 search and term statistics over the stored chunks, persisted in one SQLite file.

    Safe to share between threads (one connection behind a lock) and between processes (WAL
    journal; writers wait for each other).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: each ``_transaction`` block is one explicit transaction.
            self._db = sqlite3.connect(
                str(self.path), timeout=60, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the keyword index at {self.path}: {_why(exc, self)}") from exc
        self._stats_key = ""
        self._df: dict[str, int] = {}
        self._n = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes (ingest) -----------------------------------------------------------------------

    def put_article(self, article_id: str, version: str, rows: Sequence[LexicalRow]) -> None:
        """Replace an article's rows and record the store version they match, in one transaction."""
        self.put_articles([(article_id, version, rows)])

    @_guarded("write an article's terms")
    def put_articles(self, articles: Sequence[tuple[str, str, Sequence[LexicalRow]]]) -> None:
        """``put_article`` for many (article id, version, rows), in one transaction."""
        with self._lock, _transaction(self._db):
            for article_id, version, rows in articles:
                self._drop(article_id)
                self._insert(rows)
                self._db.execute(
                    "INSERT OR REPLACE INTO articles (article_id, version) VALUES (?, ?)",
                    (article_id, version),
                )

    @_guarded("delete an article")
    def delete_article(self, article_id: str) -> None:
        """Drop an article and its rows."""
        with self._lock, _transaction(self._db):
            self._drop(article_id)
            self._db.execute("DELETE FROM articles WHERE article_id = ?", (article_id,))

    @_guarded("record the change marker")
    def mark_synced(self, generation: str) -> None:
        """Record the store change marker this lexicon now agrees with."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('generation', ?)", (generation,)
            )

    @_guarded("read the change marker")
    def synced(self) -> str | None:
        """The store change marker this lexicon last agreed with (None before the first sync)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return None if row is None else str(row[0])

    def catch_up(self, source: Source, generation: str) -> int:
        """Bring the lexicon in step with the store at ``generation``; returns articles redone.

        Nothing to do (one SQLite read) when this file already saw ``generation``: the usual case
        in embedded mode, where the ingesting process wrote the same file.
        """
        if self.synced() == generation:
            return 0
        redone = self.reconcile(source)
        self.mark_synced(generation)
        return redone

    @_guarded("catch up with the store")
    def reconcile(self, source: Source) -> int:
        """Rebuild the rows of every article whose version differs from the store's, and drop the
        articles the store no longer has; returns how many articles changed."""
        wanted = source.article_versions()
        with self._lock:
            have = dict(self._db.execute("SELECT article_id, version FROM articles").fetchall())
        redone = 0
        for article_id in sorted(set(have) - set(wanted)):
            self.delete_article(article_id)
            redone += 1
        for article_id, version in sorted(wanted.items()):
            # A blank version is an article the store is still changing (or was, when a run
            # died): rebuilt from what the store holds now, and again once it is recorded.
            if have.get(article_id) != version or not version:
                self.put_article(article_id, version, source.lexical_rows(article_id))
                redone += 1
        return redone

    # -- reads (questions) ---------------------------------------------------------------------

    @_guarded("search")
    def search(
        self, query: str, k: int, *, where: LexicalFilter | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` best chunk ids for ``query`` with their BM25 scores, filters applied inside."""
        if k <= 0:
            return []
        # One read snapshot: the term statistics the pruning bounds use are those of the rows it ranks.
        with self._lock, _transaction(self._db, "BEGIN DEFERRED"):
            query_terms = sorted({t for t in terms(query) if self.knows(t)})
            found = self._pruned(query_terms, k, where) if query_terms else []
        return [(str(cid), -float(bm25)) for cid, bm25 in found if bm25 < 0]

    def _pruned(self, query_terms: list[str], k: int, where: LexicalFilter | None) -> list[tuple[str, float]]:
        """The plain query's top ``k`` (chunk id, bm25()), scoring only the rows that can reach it.

        A row holding none of the rarest terms scores below the sum of the other terms' bounds;
        once ``k`` rows score above that sum, the rows without a rare term need no scoring. The
        first pass ranks the rows of the rarest terms to learn the k-th score; a second widens the
        rare set when that score does not rule out enough.
        """
        df = {t: self._doc_freq(t) for t in query_terms}
        if sum(df.values()) <= PRUNE_ABOVE:
            return self._ranked(query_terms, query_terms, k, where)
        n = self._size()
        most = {t: (_K1 + 1) * max(math.log((n - d + 0.5) / (d + 0.5)), 1e-6) for t, d in df.items()}
        rarest = sorted(query_terms, key=lambda t: (-most[t], t))
        probe = 1
        while probe < len(rarest) and sum(df[t] for t in rarest[:probe]) < PROBE_ROWS:
            probe += 1
        found = self._ranked(query_terms, rarest[:probe], k, where)
        needed = len(rarest)
        if len(found) >= k:
            kth = -found[k - 1][1]
            rest_most = [sum(most[t] for t in rarest[m:]) for m in range(len(rarest))]
            needed = next((m for m in range(1, len(rarest)) if rest_most[m] < kth), needed)
        return found if needed <= probe else self._ranked(query_terms, rarest[:needed], k, where)

    def _ranked(
        self, query_terms: list[str], rare: list[str], k: int, where: LexicalFilter | None
    ) -> list[tuple[str, float]]:
        """The top ``k`` (chunk id, bm25()) of the rows holding a ``rare`` term, ranked by all the
        query terms (every row holding one, when ``rare`` is all of them)."""
        match = _any(query_terms)
        common = [t for t in query_terms if t not in rare]
        if common:
            # Restricts the rows to those holding a rare term. FTS5 scores a row by the phrases it
            # matches; those of the NOT branch match none in a returned row and add 0 to bm25():
            # the scores are bit for bit those of the plain query (whose phrases come first here).
            match = f"{match} NOT ({_any(common)} NOT {_any(sorted(rare))})"
        sql = [
            "SELECT c.chunk_id, bm25(fts) AS score FROM fts JOIN chunks c ON c.rowid = fts.rowid",
            "WHERE fts MATCH ?",
        ]
        params: list[object] = [match]
        if where is not None and where.article_ids is not None:
            sql.append(f"AND c.article_id IN ({', '.join('?' * len(where.article_ids))})")
            params += list(where.article_ids)
        if where is not None and where.published_from_ts is not None:
            sql.append("AND c.published_ts >= ?")
            params.append(where.published_from_ts)
        if where is not None and where.published_to_ts is not None:
            sql.append("AND c.published_ts <= ?")
            params.append(where.published_to_ts)
        # Ties go by row, so a pruned and a plain query order equal scores alike.
        sql.append("ORDER BY score, c.rowid LIMIT ?")
        params.append(k)
        return [(str(cid), float(score)) for cid, score in self._db.execute(" ".join(sql), params)]

    @_guarded("look up a term")
    def knows(self, term: str) -> bool:
        """Does any chunk contain this (stemmed) term?"""
        return self._doc_freq(term) > 0

    @_guarded("look up a term")
    def idf(self, term: str) -> float:
        """Inverse document frequency (BM25 form, never negative)."""
        df = self._doc_freq(term)
        n = self._size() or 1
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    @_guarded("count chunks")
    def chunk_count(self) -> int:
        return self._size()

    @_guarded("list articles")
    def article_ids(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT article_id FROM articles")}

    @_guarded("list chunks")
    def chunk_ids(self, article_id: str | None = None) -> set[str]:
        sql = "SELECT chunk_id FROM chunks"
        params: tuple[str, ...] = ()
        if article_id is not None:
            sql, params = sql + " WHERE article_id = ?", (article_id,)
        with self._lock:
            return {r[0] for r in self._db.execute(sql, params)}

    def forget_stats(self) -> None:
        """Drop the cached term statistics (the next lookup reads them afresh)."""
        with self._lock:
            self._stats_key = ""

    # -- internals -----------------------------------------------------------------------------

    def _drop(self, article_id: str) -> None:
        self._db.execute(
            "DELETE FROM fts WHERE rowid IN (SELECT rowid FROM chunks WHERE article_id = ?)",
            (article_id,),
        )
        self._db.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))

    def _insert(self, rows: Iterable[LexicalRow]) -> None:
        for row in rows:
            # A chunk id is unique to its article, but a stale row left by another article's
            # interrupted rewrite must not block this one.
            old = self._db.execute("SELECT rowid FROM chunks WHERE chunk_id = ?", (row.chunk_id,))
            for (rowid,) in old.fetchall():
                self._db.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
                self._db.execute("DELETE FROM chunks WHERE rowid = ?", (rowid,))
            cursor = self._db.execute(
                "INSERT INTO chunks (chunk_id, article_id, published_ts) VALUES (?, ?, ?)",
                (row.chunk_id, row.article_id, row.published_ts),
            )
            self._db.execute(
                "INSERT INTO fts (rowid, terms) VALUES (?, ?)",
                (cursor.lastrowid, " ".join(terms(row.text))),
            )

    def _fresh_stats(self) -> None:
        # Term statistics are cached per state of the file: SQLite's data_version changes when
        # another connection (another process) commits, total_changes when this one does.
        key = f"{self._db.execute('PRAGMA data_version').fetchone()[0]}:{self._db.total_changes}"
        if key != self._stats_key:
            self._df = {}
            self._n = int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])
            self._stats_key = key

    def _doc_freq(self, term: str) -> int:
        with self._lock:
            self._fresh_stats()
            if term not in self._df:
                row = self._db.execute("SELECT doc FROM vocab WHERE term = ?", (term,)).fetchone()
                self._df[term] = int(row[0]) if row else 0
            return self._df[term]

    def _size(self) -> int:
        with self._lock:
            self._fresh_stats()
            return self._n


def _any(query_terms: Iterable[str]) -> str:
    return "(" + " OR ".join(f'"{t}"' for t in query_terms) + ")"


class _transaction:
    """BEGIN IMMEDIATE (or ``begin``) ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> None:
        self._db = db
        self._begin = begin

    def __enter__(self) -> None:
        self._db.execute(self._begin)

    def __exit__(self, kind: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")


def lexicon_path(store_location: str, data_dir: str | Path) -> Path:
    """Where the lexicon of a store lives: beside an embedded store's folder, or, for a Chroma
    server, in this machine's data dir under a name for that server (one derived copy per
    machine, caught up from the server by article versions)."""
    if store_location.startswith(("http://", "https://")):
        slug = re.sub(r"[^A-Za-z0-9]+", "-", store_location.split("://", 1)[1]).strip("-")
        return Path(data_dir) / f"lexicon-{slug}.sqlite"
    folder = Path(store_location)
    return folder.with_name(f"{folder.name}.lexicon.sqlite")
