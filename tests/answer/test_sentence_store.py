"""Sentence vectors kept on disk: read back exactly, by model, never at the cost of an answer."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from index.sentences import splitter_version
from qa.answer.sentence_store import PassageSplitter, SentenceStore
from qa.answer.sentvec import SentenceVectors
from tests.fakes import FakeEmbedder

TEXTS = ["Twelve policemen have been killed.", "The airport was retaken.", "Troops arrived by air."]


def counting(name: str = "fake-embedder") -> FakeEmbedder:
    """A fake embedder; its ``embedded`` lists every text it embedded."""
    return FakeEmbedder(name=name)


def test_vectors_come_back_bit_for_bit_under_their_model_only(tmp_path: Path) -> None:
    store = SentenceStore(tmp_path / "v.sqlite")
    vectors = {t: np.random.default_rng(i).standard_normal(384).astype(np.float32)
               for i, t in enumerate(TEXTS)}
    store.put("model-a", vectors)
    again = SentenceStore(tmp_path / "v.sqlite")  # another process, in effect
    got = again.get("model-a", [*TEXTS, "never stored"])
    assert set(got) == set(TEXTS)
    assert all(np.array_equal(got[t], vectors[t]) and got[t].dtype == np.float32 for t in TEXTS)
    assert again.get("model-b", TEXTS) == {}
    assert again.count() == 3 and again.count("model-a") == 3 and again.count("model-b") == 0
    assert again.missing("model-a", [TEXTS[1], "never stored"]) == ["never stored"]
    assert again.missing("model-b", TEXTS[:2]) == TEXTS[:2]


def test_a_new_process_reads_what_an_earlier_one_embedded_and_embeds_nothing(tmp_path: Path) -> None:
    first_model = counting()
    first = SentenceVectors(first_model, store=SentenceStore(tmp_path / "v.sqlite"))
    before = first.sentences(TEXTS)
    assert sorted(first_model.embedded) == sorted(TEXTS)

    later_model = counting()
    later = SentenceVectors(later_model, store=SentenceStore(tmp_path / "v.sqlite"))
    after = later.sentences([TEXTS[2], TEXTS[0], "A new sentence."])
    assert later_model.embedded == ["A new sentence."]
    assert later.read == 2 and later.embedded == 1
    assert np.array_equal(after[0], before[2]) and np.array_equal(after[1], before[0])


def test_another_model_under_the_same_file_embeds_its_own(tmp_path: Path) -> None:
    SentenceVectors(counting("model-one"), store=SentenceStore(tmp_path / "v.sqlite")).sentences(TEXTS)
    other = counting("model-two")
    SentenceVectors(other, store=SentenceStore(tmp_path / "v.sqlite")).sentences(TEXTS)
    assert sorted(other.embedded) == sorted(TEXTS)


def test_a_damaged_file_is_warned_about_once_and_questions_go_on_embedding(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "v.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    model = counting()
    vectors = SentenceVectors(model, store=SentenceStore(path))
    with caplog.at_level(logging.WARNING, logger="qa.answer.sentence_store"):
        got = vectors.sentences(TEXTS)
        vectors.sentences(["One more."])
    assert got.shape == (3, 64) and len(model.embedded) == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(path) in warnings[0].getMessage()
    assert path.read_bytes() == b"this is not a database" * 100  # nothing of the user's overwritten


def test_keep_only_removes_other_sentences_and_other_models_only_once_unused_for_long(
    tmp_path: Path,
) -> None:
    import sqlite3
    import time

    from qa.answer.sentence_store import STALE_AFTER

    store = SentenceStore(tmp_path / "v.sqlite")
    one = {t: np.ones(4, dtype=np.float32) for t in TEXTS}
    store.put("model-a", one)
    store.put("model-elsewhere", one)  # another virtualenv's model, say, in use
    assert store.keep_only({"model-a": TEXTS[:2]}) == 1
    assert set(store.get("model-a", TEXTS)) == set(TEXTS[:2])
    assert set(store.get("model-elsewhere", TEXTS)) == set(TEXTS)
    with sqlite3.connect(tmp_path / "v.sqlite") as db:
        db.execute("UPDATE models SET used = ? WHERE key = 'model-elsewhere'",
                   (time.time() - STALE_AFTER - 60,))
    assert store.keep_only({"model-a": TEXTS[:2]}) == 3
    assert store.get("model-elsewhere", TEXTS) == {}


def test_forget_removes_every_models_vectors_of_the_sentences_and_the_passages_spans(tmp_path: Path) -> None:
    store = SentenceStore(tmp_path / "v.sqlite")
    one = {t: np.ones(4, dtype=np.float32) for t in TEXTS}
    store.put("model-a", one)
    store.put("model-b", one)
    store.put_spans("rules-1", {"A passage.": [(0, 10)], "Another.": [(0, 8)]})
    store.forget(TEXTS[:1], passages=("rules-1", ["A passage."]))
    assert set(store.get("model-a", TEXTS)) == set(store.get("model-b", TEXTS)) == set(TEXTS[1:])
    assert list(store.get_spans("rules-1", ["A passage.", "Another."])) == ["Another."]


def test_a_splitter_forgets_its_passages_sentences_and_spans_and_keeps_the_others(tmp_path: Path) -> None:
    store = SentenceStore(tmp_path / "v.sqlite")
    gone, kept = "Twelve policemen have been killed. The airport was retaken.", "Troops arrived by air."
    splitter = PassageSplitter(store)
    sentences = splitter.sentence_texts([gone, kept])
    store.put("model-a", {t: np.ones(4, dtype=np.float32) for t in sentences})
    splitter.forget([gone])
    assert set(store.get("model-a", sentences)) == {kept}
    assert list(store.get_spans(splitter_version(), [gone, kept])) == [kept]
    assert gone not in splitter._cache and kept in splitter._cache


def test_passage_spans_come_back_by_splitter_and_never_past_their_text(tmp_path: Path) -> None:
    store = SentenceStore(tmp_path / "v.sqlite")
    text = "One sentence. Another one."
    store.put_spans("rules-1", {text: [(0, 13), (14, 26)], "short": [(0, 99)]})
    again = SentenceStore(tmp_path / "v.sqlite")
    assert again.get_spans("rules-1", [text, "short", "unknown"]) == {text: [(0, 13), (14, 26)]}
    assert again.get_spans("rules-2", [text]) == {}


def test_a_new_composer_reads_a_passages_sentences_instead_of_splitting_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa.answer.sentence_store as splitting
    from qa.answer.extractive import ExtractiveComposer

    passage = "Twelve policemen have been killed. The airport was retaken. Troops arrived by air."
    first = ExtractiveComposer(lambda term: 1.0, store=SentenceStore(tmp_path / "v.sqlite"))
    assert first.sentence_texts([passage]) == [passage[:34], passage[35:59], passage[60:]]
    split: list[str] = []
    real = splitting.sentence_spans_in
    monkeypatch.setattr(splitting, "sentence_spans_in",
                        lambda text, a, b: split.append(text) or real(text, a, b))
    later = ExtractiveComposer(lambda term: 1.0, store=SentenceStore(tmp_path / "v.sqlite"))
    assert later.sentence_texts([passage]) == first.sentence_texts([passage])
    assert split == []
    ExtractiveComposer(lambda term: 1.0).sentence_texts([passage])  # no store: split here
    assert split == [passage]


def test_a_passage_evicted_by_another_thread_mid_split_is_no_error(tmp_path: Path) -> None:
    """``split`` reads its cache, then the store outside the lock; another question or the
    background warm-up may evict a passage it found in between."""
    from qa.answer.extractive import ExtractiveComposer

    store = SentenceStore(tmp_path / "v.sqlite")
    composer = ExtractiveComposer(lambda term: 1.0, store=store)
    cached, new = "Old passage. It is cached.", "A new passage. Never seen."
    composer.split([cached])
    real = store.get_spans

    def evicting(splitter: str, texts: list[str]) -> dict[str, list[tuple[int, int]]]:
        composer.splitter._cache.clear()  # what another thread's split does when the cache is full
        return real(splitter, texts)

    store.get_spans = evicting  # type: ignore[method-assign]
    found = composer.split([cached, new])
    assert [cached[a:b] for a, b in found[cached]] == ["Old passage.", "It is cached."]
    assert set(composer.splitter._cache) == {cached, new}


def test_a_file_from_before_models_had_a_used_mark_is_brought_up_to_date(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "v.sqlite"
    with sqlite3.connect(path) as db:  # the schema of the first version of this file
        db.executescript("""
            CREATE TABLE models (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
            CREATE TABLE vectors (model INTEGER NOT NULL, digest BLOB NOT NULL, vector BLOB NOT NULL,
                                  UNIQUE (model, digest));
            CREATE TABLE spans (digest BLOB NOT NULL UNIQUE, spans BLOB NOT NULL);""")
    store = SentenceStore(path)
    store.put("model-a", {TEXTS[0]: np.ones(4, dtype=np.float32)})
    assert store.usable and store.problem is None
    assert list(SentenceStore(path).get("model-a", TEXTS)) == [TEXTS[0]]


def test_reading_a_models_vectors_marks_it_used_so_no_other_setup_prunes_them(tmp_path: Path) -> None:
    import sqlite3
    import time

    from qa.answer.sentence_store import STALE_AFTER

    path = tmp_path / "v.sqlite"
    SentenceStore(path).put("model-a", {TEXTS[0]: np.ones(4, dtype=np.float32)})
    long_ago = time.time() - STALE_AFTER - 60
    with sqlite3.connect(path) as db:
        db.execute("UPDATE models SET used = ?", (long_ago,))
    assert list(SentenceStore(path).get("model-a", TEXTS)) == [TEXTS[0]]  # a process that only reads
    assert SentenceStore(path).keep_only({"model-b": []}) == 0  # another setup's prune
    assert list(SentenceStore(path).get("model-a", TEXTS)) == [TEXTS[0]]
