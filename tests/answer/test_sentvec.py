"""Sentence vectors at question time: cached, and embedded in batches of similar length."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.answer.sentvec import BATCH, SentenceVectors, length_groups
from tests.fakes import FakeEmbedder

SHORT = "Police said."
LONG = ("The interior ministry said twelve policemen had been killed and 353 injured in the "
        "clashes in Almaty, where protesters set fire to the mayor's office on Wednesday night, "
        "and that order had since been restored across most of the country.")


class Batches(FakeEmbedder):
    """Records every call's texts."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return super().embed_documents(texts)


def test_short_and_long_sentences_are_embedded_apart_and_come_back_in_order() -> None:
    embedder = Batches()
    vectors = SentenceVectors(embedder)
    texts = [SHORT, LONG, "Order was restored.", LONG + " Again.", SHORT]
    rows = vectors.sentences(texts)
    # One padded batch would make the short ones cost as much as the long ones.
    assert len(embedder.calls) == 2
    assert {frozenset(c) for c in embedder.calls} == {
        frozenset({LONG, LONG + " Again."}), frozenset({SHORT, "Order was restored."})}
    expected = np.stack([FakeEmbedder().embed_query(t) for t in texts])
    np.testing.assert_array_equal(rows, expected)
    # Seen texts are not embedded again.
    vectors.sentences([LONG, SHORT])
    assert len(embedder.calls) == 2 and vectors.embedded == 4
    # The old way, kept for bench.cold_bench: one padded batch.
    old = Batches()
    before = SentenceVectors(old)
    before.grouped = False
    np.testing.assert_array_equal(before.sentences(texts), expected)
    assert len(old.calls) == 1


def test_length_groups_cut_the_padded_cost_and_keep_every_index_once() -> None:
    lengths = [7, 60, 9, 58, 30, 12, 61, 8]
    groups = length_groups(lengths)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    longest_first = [max(lengths[i] for i in g) for g in groups]
    assert longest_first == sorted(longest_first, reverse=True)
    assert len(groups) > 1
    # Each batch costs n x its longest: no cheaper split exists than the one found.
    assert length_groups([5, 5, 5], lambda n, longest: n * longest + 100) == [[0, 1, 2]]
    assert length_groups([50, 5], lambda n, longest: n * longest) == [[0], [1]]
    assert length_groups([]) == []
    # Many texts (a whole index, in a benchmark): batches of at most BATCH, found in linear time.
    many = length_groups([10 + i % 50 for i in range(5000)])
    assert max(len(g) for g in many) <= BATCH and sum(len(g) for g in many) == 5000


def test_grouped_batches_give_the_real_models_vectors_of_one_batch(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """Padding is masked out: the same vectors (to float rounding) as the single padded batch."""
    texts = [SHORT, LONG, "Order was restored across the country.", LONG[:80], "Almaty."]
    grouped = SentenceVectors(real_embedder).sentences(texts)
    one = np.asarray(real_embedder.embed_documents(texts))
    np.testing.assert_allclose(grouped, one, atol=1e-6)
