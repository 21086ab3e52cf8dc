"""The short-answer floor a refit chooses: the lowest at which shown phrases are right often
enough, and none (no phrase shown) when no floor gets there."""

from __future__ import annotations

import numpy as np

from bench.train_spans import PRECISION, lowest_floor


def test_the_lowest_floor_reaching_the_precision_is_chosen() -> None:
    top = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    right = np.array([True, True, True, False, True, False])
    chosen = lowest_floor(top, right)
    # Floors up to 0.10 show all six (4 right: 0.67); 0.15 drops the 0.1 and shows five, 4 right.
    assert chosen["met"] == 1.0 and chosen["precision"] >= PRECISION
    assert chosen["floor"] == 0.15 and chosen["shown_of_factoid"] == 5 / 6


def test_no_floor_reaching_the_precision_shows_no_phrase() -> None:
    top = np.array([0.9, 0.8, 0.7])
    right = np.array([False, False, True])
    chosen = lowest_floor(top, right)
    assert chosen["met"] == 0.0 and chosen["floor"] > 1.0 and chosen["shown_of_factoid"] == 0.0
