"""The FTS5 lexicon: ranking, filters inside the query, term statistics, repair from the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.dates import date_to_timestamp
from index.ingest import Ingestor
from index.lexicon import LexicalFilter, LexicalRow, Lexicon, lexicon_path, terms
from index.models import Article
from index.store import ChromaStore
from qa.assistant import Assistant
from qa.settings import Settings
from tests.fakes import FakeEmbedder


def _row(cid: str, article: str, text: str, date: str | None = None) -> LexicalRow:
    return LexicalRow(cid, article, date_to_timestamp(date), text)


def test_search_ranks_by_bm25_over_stemmed_terms(tmp_path: Path) -> None:
    lex = Lexicon(tmp_path / "lex.sqlite")
    lex.put_article("a", "v1", [_row("a:0", "a", "The striker scored twice in the final.")])
    lex.put_article("b", "v1", [_row("b:0", "b", "Parliament debated the budget.")])
    hits = lex.search("Who was scoring goals?", 5)
    assert [cid for cid, _ in hits] == ["a:0"] and hits[0][1] > 0
    assert lex.knows(terms("scoring")[0]) and not lex.knows("zebra")
    assert lex.idf(terms("budget")[0]) > 0


def test_filters_apply_inside_the_search_where_post_filtering_would_miss(tmp_path: Path) -> None:
    """200 chunks outside the filter outrank the one inside: a top-90 cut then filter finds none."""
    lex = Lexicon(tmp_path / "lex.sqlite")
    for n in range(200):
        loud = _row(f"loud-{n}:0", f"loud-{n}", "election election election", "2020-01-01")
        lex.put_article(f"loud-{n}", "v", [loud])
    quiet = "The election was one topic among many others today in town"
    lex.put_article("quiet", "v", [_row("quiet:0", "quiet", quiet, "2024-06-01")])
    unfiltered = [cid for cid, _ in lex.search("election", 90)]
    assert "quiet:0" not in unfiltered  # so filtering those 90 afterwards would find nothing
    by_id = lex.search("election", 5, where=LexicalFilter(article_ids=("quiet",)))
    assert [cid for cid, _ in by_id] == ["quiet:0"]
    since = LexicalFilter(published_from_ts=date_to_timestamp("2024-01-01"))
    by_date = lex.search("election", 5, where=since)
    assert [cid for cid, _ in by_date] == ["quiet:0"]
    early = lex.search("election", 300, where=LexicalFilter(published_to_ts=date_to_timestamp("2021-01-01")))
    assert len(early) == 200 and "quiet:0" not in {cid for cid, _ in early}


def test_hybrid_filter_keeps_the_keyword_side_on_a_narrow_filter(tmp_path: Path) -> None:
    """Through the Assistant: the filtered article's chunk gets a lexical score."""
    assistant = Assistant(Settings(data_dir=tmp_path), embedder=FakeEmbedder())
    loud = [
        Article(id=f"loud-{n}", title=f"Loud {n}", text="Election election election news.")
        for n in range(120)
    ]
    quiet = Article(id="quiet", title="Quiet", text="The election was one topic among many others in town.")
    assistant.ingest_articles([*loud, quiet])
    answer = assistant.ask("election", article_ids=["quiet"])
    assert [p.article_id for p in answer.passages] == ["quiet"]
    assert answer.passages[0].lexical_score is not None


def test_put_article_replaces_rows_and_statistics_follow(tmp_path: Path) -> None:
    lex = Lexicon(tmp_path / "lex.sqlite")
    lex.put_article("a", "v1", [_row("a:0", "a", "apples and pears"), _row("a:1", "a", "more apples")])
    assert lex.chunk_count() == 2 and lex.knows("pear")
    lex.put_article("a", "v2", [_row("a:2", "a", "only oranges now")])
    assert lex.chunk_ids() == {"a:2"} and not lex.knows("pear") and lex.knows("orang")
    other = Lexicon(tmp_path / "lex.sqlite")  # another connection (another process) writes
    other.delete_article("a")
    assert lex.chunk_count() == 0 and not lex.knows("orang")


def test_catch_up_rebuilds_only_articles_whose_versions_differ(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    store = ChromaStore.persistent(tmp_path / "chroma", model_name=embedder.name)
    Ingestor(store, embedder).ingest_articles(  # no lexicon: as an index built before it existed
        [Article(id=f"a{n}", title="T", text=f"Story {n} about rivers and bridges.") for n in range(3)]
    )
    lex = Lexicon(lexicon_path(store.location, tmp_path))
    generation, _ = store.generation()
    assert lex.catch_up(store, generation) == 3
    assert lex.chunk_ids() == {cid for n in range(3) for cid in store.chunk_ids(f"a{n}")}
    assert lex.catch_up(store, generation) == 0  # same marker: one read, nothing redone
    lex.put_article("a1", "stale", [_row("a1:x", "a1", "wrong words")])
    lex.put_article("ghost", "v", [_row("ghost:0", "ghost", "gone")])
    assert lex.reconcile(store) == 2
    assert lex.article_ids() == {"a0", "a1", "a2"} and "a1:x" not in lex.chunk_ids()


def test_ingest_edit_and_delete_keep_the_lexicon_equal_to_the_store(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    store = ChromaStore.persistent(tmp_path / "chroma", model_name=embedder.name)
    lex = Lexicon(lexicon_path(store.location, tmp_path))
    ingestor = Ingestor(store, embedder, lexicon=lex)
    before, _ = store.generation()
    ingestor.ingest_articles([
        Article(id="a", title="A", text="Cats sleep all day."),
        Article(id="b", title="B", text="Dogs bark."),
    ])
    assert lex.chunk_ids() == set(store.chunk_ids("a")) | set(store.chunk_ids("b"))
    after, pending = store.generation()
    assert after != before and not pending and lex.synced() == after
    ingestor.ingest_articles([Article(id="a", title="A", text="Cats hunt at night.")])
    assert lex.chunk_ids("a") == set(store.chunk_ids("a")) and lex.knows("hunt") and not lex.knows("sleep")
    assert store.generation()[0] != after
    assert ingestor.delete("b") and lex.article_ids() == {"a"}
    assert store.article_versions().keys() == {"a"}  # the change marker is no article
    assert [r.id for r in store.articles()] == ["a"]


@pytest.mark.parametrize("location", ["http://10.0.0.5:8000", "https://chroma.example:443"])
def test_a_server_store_gets_a_lexicon_per_server_in_the_data_dir(tmp_path: Path, location: str) -> None:
    path = lexicon_path(location, tmp_path)
    assert path.parent == tmp_path and path.name.startswith("lexicon-") and path.suffix == ".sqlite"
    assert lexicon_path(str(tmp_path / "chroma"), "unused") == tmp_path / "chroma.lexicon.sqlite"


def test_sqlite_failures_are_store_errors_naming_the_file(tmp_path: Path) -> None:
    """A damaged keyword index (here: another program dropped its tables) is a StoreError that
    names the file and what was being done, not a raw sqlite3 traceback."""
    import sqlite3

    from index.errors import StoreError

    path = tmp_path / "lex.sqlite"
    lex = Lexicon(path)
    lex.put_article("a", "v1", [_row("a:0", "a", "The striker scored twice in the final.")])
    other = sqlite3.connect(str(path))
    other.executescript("DROP TABLE vocab; DROP TABLE fts; DROP TABLE chunks;")
    other.close()
    lex.forget_stats()
    with pytest.raises(StoreError, match=r"lex\.sqlite: cannot look up a term"):
        lex.search("striker", 5)
    with pytest.raises(StoreError, match=r"lex\.sqlite: cannot write an article's terms"):
        lex.put_article("b", "v1", [_row("b:0", "b", "Parliament debated the budget.")])


def test_a_damaged_file_says_how_to_mend_it(tmp_path: Path) -> None:
    """Bytes overwritten in the file: the error says it only mirrors the store, and deleting it
    has the next command rebuild it (it said only "database disk image is malformed")."""
    from index.errors import StoreError

    path = tmp_path / "lex.sqlite"
    lex = Lexicon(path)
    lex.put_article("a", "v1", [_row("a:0", "a", "The striker scored twice in the final.")])
    lex.close()
    for name in (path.name + "-wal", path.name + "-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    path.write_bytes(path.read_bytes()[:100] + b"\x5a" * 3000 + path.read_bytes()[3100:])
    said = (r"lex\.sqlite.*the file is damaged; it only mirrors the store: delete lex\.sqlite and its "
            r"-wal/-shm files, and the next command rebuilds it")
    with pytest.raises(StoreError, match=said):
        Lexicon(path).search("striker", 5)


def test_pruned_search_ranks_and_scores_exactly_as_the_plain_bm25_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Common words match most rows; the search scores only the rows that can reach the top k,
    and still returns what ranking every matching row gives, scores bit for bit, filters too."""
    import random

    import index.lexicon as module

    rng = random.Random(7)
    vocab = [f"{a}{b}{c}o" for a in "bdfgkl" for b in "aeiu" for c in "mnprst"]  # 144 words
    weights = [1 / (1 + i) for i in range(len(vocab))]  # a few common words, many rare ones
    lex = Lexicon(tmp_path / "lex.sqlite")
    for n in range(120):
        rows = [
            _row(f"a{n}:{i}", f"a{n}", " ".join(rng.choices(vocab, weights, k=rng.randint(5, 40))),
                 f"2020-01-{1 + n % 28:02d}")
            for i in range(10)
        ]
        lex.put_article(f"a{n}", "v", rows)
    monkeypatch.setattr(module, "PRUNE_ABOVE", 0)
    monkeypatch.setattr(module, "PROBE_ROWS", 20)
    pruned: list[int] = []
    real_ranked = Lexicon._ranked

    def ranked(self: Lexicon, query_terms: list[str], rare: list[str], *args: object) -> object:
        pruned.append(len(query_terms) - len(rare))
        return real_ranked(self, query_terms, rare, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Lexicon, "_ranked", ranked)
    plain = (
        "SELECT c.chunk_id, -bm25(fts) AS score FROM fts JOIN chunks c ON c.rowid = fts.rowid "
        "WHERE fts MATCH ? {} ORDER BY score DESC, c.rowid LIMIT ?"
    )
    march = date_to_timestamp("2020-01-15")
    for _ in range(60):
        words = sorted(set(rng.sample(vocab[:8], 2) + rng.sample(vocab[8:], 2)))
        query = " OR ".join(f'"{w}"' for w in words)
        for where, sql, extra in (
            (None, "", []), (LexicalFilter(published_from_ts=march), "AND c.published_ts >= ?", [march])
        ):
            want = lex._db.execute(plain.format(sql), [query, *extra, 30]).fetchall()
            assert lex.search(" ".join(words), 30, where=where) == [(c, s) for c, s in want]
    assert sum(1 for n in pruned if n > 0) > 60  # most searches left the common words' rows out
