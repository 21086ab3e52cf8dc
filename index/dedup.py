"""Wire copies: near-duplicate articles found with MinHash/LSH (the one module importing datasketch).

Each article's text becomes a set of word 5-gram shingles and a 128-permutation MinHash; LSH
proposes candidates, and a candidate counts only when the signatures' estimated Jaccard
similarity reaches ``threshold``. A new article joins the group of its most similar stored
article (the group id is the id of the group's first-ingested member), else starts its own.

Signatures are kept in a side file (``dedup.npz`` in the data dir) because computing them again
costs seconds per thousand articles (BENCHMARKS.md). The file is a cache, not a source of truth:
groups live in the store's article records, and ``sync`` recomputes the signature of any stored
article the file lacks or holds an older version of (after a crash, or an index built elsewhere).
A file saved at the store's change marker (``save(marker=...)``) is the whole state at that
marker: while the store still shows that marker, ``load`` takes it without listing the store.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.files import temp_beside

if TYPE_CHECKING:
    from datasketch import MinHash

# datasketch (and scipy under it) takes over a second to import: it loads on the first ingest,
# or earlier where a process has idle time to spend (``preload``: the chat page as it starts).


def preload() -> None:
    """Import datasketch now (1.2-1.5 s, mostly scipy) rather than inside the first ingest."""
    _permutations()

NUM_PERM = 128
SHINGLE_WORDS = 5
SCHEME = "affine32"  # datasketch's hash-permutation scheme, stored with the signatures
DEFAULT_THRESHOLD = 0.7
_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[bytes]:
    """Lower-cased word ``size``-grams of a text (the whole text when it is shorter)."""
    words = _WORD.findall(text.lower())
    return {" ".join(words[i : i + size]).encode() for i in range(max(1, len(words) - size + 1))}


def signature(text: str) -> MinHash:
    """The MinHash of a text's shingles."""
    from datasketch import MinHash

    m = MinHash(num_perm=NUM_PERM, scheme=SCHEME, permutations=_permutations())
    m.update_batch(list(shingles(text)))
    return m


@lru_cache(maxsize=1)
def _permutations() -> Any:
    """The (seeded, so always the same) permutation parameters, made once and shared by every
    signature: datasketch otherwise draws them again for each one (a third of a millisecond,
    1.3 s for the 4k stored signatures read at the first ingest of a process)."""
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, scheme=SCHEME).permutations


@dataclass(frozen=True)
class Stored:
    """What ``Deduper.sync`` needs of a stored article: id, version (hash) and group."""

    id: str
    version: str
    group: str


class Deduper:
    """Assigns group ids at ingest; ``path`` is the side file (None keeps signatures in memory)."""

    def __init__(self, path: Path | None, *, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"the duplicate threshold must be in (0, 1], not {threshold}")
        self.path = path
        self.threshold = threshold
        self._lsh_index: Any = None
        self._sigs: dict[str, MinHash] = {}
        self._versions: dict[str, str] = {}
        self._groups: dict[str, str] = {}
        self._synced = False
        self._dirty = False
        self._saved_at = ""  # the store's change marker the side file was last saved at

    @property
    def synced(self) -> bool:
        return self._synced

    def invalidate(self) -> None:
        """Another writer changed the store: the next ``assign`` syncs again first."""
        self._synced = False

    def sync(self, stored: Iterable[Stored], fetch_texts: Callable[[list[str]], Mapping[str, str]]) -> int:
        """Load the side file and bring it in step with the stored articles.

        ``fetch_texts(ids) -> {id: text}`` supplies the texts of articles whose signature is
        missing or stale. Returns how many signatures were computed.
        """
        records = {s.id: s for s in stored}
        cached = {i: (sig, version) for i, (sig, version, _) in self._read()[1].items()}
        # A second sync (another process wrote the store meanwhile) starts from a clean LSH, keeping
        # the signatures this process already holds so only new or changed articles are hashed.
        cached.update({i: (sig, self._versions[i]) for i, sig in self._sigs.items()})
        self._lsh_index, self._sigs, self._versions, self._groups = None, {}, {}, {}
        computed = 0
        # Not in the side file at all is stale too: a new article's placeholder (left by a killed
        # ingest) has the blank version a missing entry would default to.
        stale = [i for i, s in records.items() if i not in cached or cached[i][1] != s.version]
        got = fetch_texts(stale) if stale else {}
        for article_id, record in records.items():
            self._groups[article_id] = record.group or article_id
            if article_id in stale:
                if article_id not in got:
                    continue
                sig = signature(got[article_id])
                computed += 1
                self._dirty = True
            else:
                sig = cached[article_id][0]
            self._put(article_id, sig, record.version)
        self._dirty = self._dirty or any(i not in records for i in cached)
        self._synced = True
        return computed

    def load(self, marker: str) -> bool:
        """Take the side file as the whole state when it was saved at ``marker``, the store's
        change marker now (no other write since): no store listing. False, and nothing loaded,
        when it was saved at another marker (or none, or is missing or damaged)."""
        if not marker or self._marker() != marker:
            return False  # checked first: reading every signature costs far more
        saved_at, rows = self._read()
        if saved_at != marker:
            return False
        self._lsh_index, self._sigs, self._versions, self._groups = None, {}, {}, {}
        for article_id, (sig, version, group) in rows.items():
            self._put(article_id, sig, version)
            self._groups[article_id] = group or article_id
        self._synced, self._dirty, self._saved_at = True, False, marker
        return True

    def assign(
        self, article_id: str, text: str, version: str, *, skip: Callable[[str], bool] | None = None
    ) -> str:
        """The group of an article about to be stored (its own id when it matches nothing).

        ``skip(candidate_id)`` rules out a candidate (a renamed file's old record, about to go)."""
        sig = signature(text)
        self._drop(article_id)
        best: tuple[float, str] | None = None
        # Sorted: which of two equally similar copies an article joins is the same in every process.
        for other in sorted(self._lsh.query(sig)):
            if skip is not None and skip(other):
                continue
            similarity = sig.jaccard(self._sigs[other])
            if similarity >= self.threshold and (best is None or similarity > best[0]):
                best = (similarity, other)
        group = self._groups.get(best[1], best[1]) if best else article_id
        self._put(article_id, sig, version)
        self._groups[article_id] = group
        self._dirty = True
        return group

    def remove(self, article_id: str) -> None:
        """Forget a deleted article (its group keeps its id as a label)."""
        if article_id in self._sigs:
            self._drop(article_id)
            self._groups.pop(article_id, None)
            self._dirty = True

    def group_of(self, article_id: str) -> str | None:
        return self._groups.get(article_id)

    def save(self, marker: str | None = None) -> None:
        """Write the side file (temp file, then rename) when anything changed. ``marker``: the
        store's change marker this state is known to match (None: not known; ``load`` will not
        take the file then)."""
        if self.path is None or not (self._dirty or (marker and marker != self._saved_at)):
            return
        ids = sorted(self._sigs)
        values = np.array([self._sigs[i].hashvalues for i in ids], dtype=np.uint64)
        values = values.reshape(len(ids), NUM_PERM)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_beside(self.path, ".tmp.npz")  # np.savez adds ".npz" to any other name
        try:
            np.savez(tmp, ids=np.array(ids, dtype=str),
                     versions=np.array([self._versions[i] for i in ids], dtype=str), hashvalues=values,
                     num_perm=np.array(NUM_PERM), shingle=np.array(SHINGLE_WORDS), scheme=np.array(SCHEME),
                     groups=np.array([self._groups.get(i, i) for i in ids], dtype=str),
                     marker=np.array(marker or ""))
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self._dirty, self._saved_at = False, marker or ""

    # -- internals -----------------------------------------------------------------------------

    @property
    def _lsh(self) -> Any:
        if self._lsh_index is None:
            from datasketch import MinHashLSH

            self._lsh_index = MinHashLSH(threshold=self.threshold, num_perm=NUM_PERM)
        return self._lsh_index

    def _put(self, article_id: str, sig: MinHash, version: str) -> None:
        self._sigs[article_id] = sig
        self._versions[article_id] = version
        self._lsh.insert(article_id, sig)

    def _drop(self, article_id: str) -> None:
        if article_id in self._sigs:
            self._lsh.remove(article_id)
            del self._sigs[article_id]
            self._versions.pop(article_id, None)

    def _marker(self) -> str:
        if self.path is None:
            return ""
        try:
            with np.load(self.path) as data:
                return str(data["marker"]) if "marker" in data.files else ""
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return ""

    def _read(self) -> tuple[str, dict[str, tuple[MinHash, str, str]]]:
        """The side file's marker ("" when saved without one) and its (signature, version, group)
        per article id; ("", {}) when it is missing, damaged or made another way."""
        if self.path is None or not self.path.exists():
            return "", {}
        from datasketch import MinHash

        try:
            with np.load(self.path) as data:
                same = (int(data["num_perm"]), int(data["shingle"]), str(data["scheme"]))
                if same != (NUM_PERM, SHINGLE_WORDS, SCHEME):
                    return "", {}
                ids, versions = data["ids"].tolist(), data["versions"].tolist()
                # Files written before groups and markers were kept: groups come from the store.
                groups = data["groups"].tolist() if "groups" in data.files else [""] * len(ids)
                marker = str(data["marker"]) if "marker" in data.files else ""
                rows, perms = zip(ids, versions, groups, data["hashvalues"], strict=True), _permutations()
                return marker, {
                    str(i): (MinHash(hashvalues=hv, scheme=SCHEME, permutations=perms), str(v), str(g))
                    for i, v, g, hv in rows
                }
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            # A damaged cache is recomputed from the stored texts; nothing is lost.
            return "", {}
