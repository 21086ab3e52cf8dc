"""The short answer phrase: its candidates, the shipped span model, and its article offsets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.answer.spans import (
    SPAN_FEATURES,
    SpanModel,
    candidates,
    default_model,
    pick,
    span_rows,
    wants_phrase,
)
from qa.errors import ConfigError

POLICE = ("Twelve policemen have been killed and 353 injured in the riots in Almaty, according to "
          "Kazakh public television.")


def texts(sentence: str) -> list[str]:
    found = candidates(sentence)
    assert all(sentence[c.start : c.end] == c.text for c in found)
    return [c.text for c in found]


@pytest.mark.parametrize(
    ("sentence", "phrases"),
    [
        # money, with its currency and its "bn"/"m" suffix kept whole
        ("Profits for the year to 31 December rose 20% to £4.6bn ($8.6bn).", ["£4.6bn", "$8.6bn", "20%"]),
        ("The deal was worth $1.2 billion, analysts said.", ["$1.2 billion"]),
        # percentages
        ("Turnout was 61.4 per cent, up from 59%.", ["61.4 per cent", "59%"]),
        # dates
        ("The game was played on February 7, 2016, at Levi's Stadium.", ["February 7, 2016"]),
        ("Word reached London on 7 January 2005.", ["7 January 2005"]),
        ("In the 1890s, the university affiliated with several colleges.", ["1890s"]),
        ("The theorem was proven at the end of the 19th century.", ["end of the 19th century"]),
        # names, with "of" inside and capitalised function words that are names
        ("It was led by the University of Chicago in 1998.", ["University of Chicago"]),
        ("This year, Will Smith will be given an honorary Cesar.", ["Will Smith"]),
        # noun phrases with "of", numbers with units, ranges, quoted titles, lists
        ("In November 2011 the capacity of the Tyne Tunnel was increased.", ["capacity of the Tyne Tunnel"]),
        ("The trade moved its 12 to 15 million Africans.", ["12 to 15 million"]),
        ('Beyonce and Coldplay sang "Hymn for the Weekend" at the show.', ['"Hymn for the Weekend"']),
        ("Neutrophils and macrophages are phagocytes.", ["Neutrophils and macrophages"]),
        ("The Russian military is being transported to Kazakhstan by air.", ["by air"]),
        (POLICE, ["Twelve", "353", "Almaty", "Kazakh public television"]),
    ],
)
def test_candidates_hold_the_answer_verbatim(sentence: str, phrases: list[str]) -> None:
    found = texts(sentence)
    for phrase in phrases:
        assert phrase in found


def test_candidates_never_cut_a_bracket_or_a_quotation_in_half() -> None:
    found = texts('In 1965, GE (Schenectady) paid "a lot" for it.')
    assert "(Schenectady)" in found and "GE (Schenectady)" in found
    assert not [t for t in found if t.count("(") != t.count(")") or t.count('"') % 2]
    assert not [t for t in found if t.lower() in ("the", "of", "in", "and")]


def test_rows_describe_every_candidate_with_every_feature() -> None:
    spans = candidates(POLICE)
    rows = span_rows("How many policemen were killed?", POLICE, spans)
    assert rows.shape == (len(spans), len(SPAN_FEATURES)) and np.isfinite(rows).all()
    twelve = [c.text for c in spans].index("Twelve")
    col = SPAN_FEATURES.index
    assert rows[twelve, col("starts_number")] == 1 and rows[twelve, col("counted_after")] == 1
    assert rows[twelve, col("q_how_many")] == 1 and rows[twelve, col("asks_number")] == 1


@pytest.mark.parametrize(
    ("question", "sentence", "answers"),
    [
        ("How many policemen were killed?", POLICE, ("Twelve",)),
        ("How many were injured?", POLICE, ("353",)),
        ("Where were the policemen killed?", POLICE, ("Almaty",)),
        # Both are gold answers of bbc-q001.
        ("How much did Barclays make in pre-tax profit?",
         "Profits for the year to 31 December rose 20% to £4.6bn ($8.6bn).", ("£4.6bn", "£4.6bn ($8.6bn)")),
    ],
)
def test_the_shipped_model_picks_the_answer(question: str, sentence: str, answers: tuple[str, ...]) -> None:
    # Its best phrase, whether or not it is sure enough to show it (the floor is tested below).
    found = pick(question, sentence, min_probability=0.0)
    assert found is not None and found.span.text in answers
    assert sentence[found.span.start : found.span.end] == found.span.text
    assert 0.0 < found.probability <= 1.0


def test_the_shipped_model_round_trips_and_matches_its_json() -> None:
    model = default_model()
    assert model.version == "spans-v2" and model.trees and set(model.features) <= set(SPAN_FEATURES)
    again = SpanModel.from_dict(json.loads(json.dumps(model.to_dict())))
    rows = span_rows("Who was killed?", POLICE, candidates(POLICE))
    assert np.allclose(model.logit(rows), again.logit(rows))


def test_a_phrase_below_the_floor_is_not_shown() -> None:
    """The floor is fitted so that shown phrases are right 3 times in 4 on the training questions:
    a weak best phrase leaves the answer to the sentence."""
    model = default_model()
    assert model.min_probability > 0.3
    question = "Where were the policemen killed?"
    best = pick(question, POLICE, min_probability=0.0)
    assert best is not None and best.probability < model.min_probability
    assert pick(question, POLICE) is None


def test_a_broken_weights_file_is_a_config_error_that_says_how_to_refit(tmp_path) -> None:
    path = tmp_path / "spans.json"
    path.write_text('{"version": "spans-v2", "features": ["no_such_feature"]}')
    with pytest.raises(ConfigError, match=r"bench\.train_spans"):
        SpanModel.load(path)


def test_only_one_phrase_questions_get_a_phrase() -> None:
    assert wants_phrase("How many policemen were killed?")
    assert wants_phrase("How long will the troops stay?")
    assert not wants_phrase("Why did the riots break out?")
    assert not wants_phrase("Which countries belong to the CSTO?")


def test_the_sample_article_short_answer_has_verified_article_offsets(sample_assistant) -> None:
    answer = sample_assistant.ask("How many policemen were killed?")
    short = answer.short
    assert short is not None and short.text == "Twelve"
    text = sample_assistant.article_text(short.article_id)
    assert text[short.start : short.end] == short.text
    assert answer.text.startswith('Twelve. "Twelve policemen')


CARE = ("The Ministry of Health announced it on public TV: “About 400 have been hospitalized and 62 are "
        "in intensive care”.")


class _Prefers:
    """A reader that scores one phrase highest (the shipped one prefers "About 400" in ``CARE``)."""

    def __init__(self, phrase: str) -> None:
        self.phrase = phrase

    def scores(self, question: str, sentence: str, spans: list[tuple[int, int]]) -> np.ndarray:
        return np.array([9.0 if sentence[a:b] == self.phrase else 1.0 for a, b in spans])


@pytest.mark.parametrize(("question", "answer"), [
    ("How many people are in intensive care?", "62"),
    ("How many people have been hospitalized?", "About 400"),
])
def test_a_figure_is_taken_from_the_clause_that_says_what_is_asked(question: str, answer: str) -> None:
    """Of two figures, the one whose clause says what is asked ("62 are in intensive care"), even
    when the reader prefers the other; a figure whose own clause fits is kept."""
    found = pick(question, CARE, reader=_Prefers("About 400"), min_probability=0.0)
    assert found is not None and found.span.text == answer


@pytest.mark.parametrize(("question", "sentence", "chosen"), [
    # A sum was asked: "two" (weeks' wages) sits in the clause with the question's words, but is
    # no sum.
    ("How much have Newcastle fined Craig Bellamy?",
     "Newcastle have fined Craig Bellamy two weeks' wages - about £80,000 - for his outburst.",
     "about £80,000"),
    # Never the question's own figure, a year, a day of a month or a time.
    ("How many companies were registered in 2006?",
     "The total reached 5,200, up from 2006 when the first companies were registered.", "5,200"),
    ("How many people died when the bridge collapsed?",
     "Rescuers have found 12 bodies, the bridge having collapsed in 2019.", "12"),
    ("How many people died when the bridge collapsed?",
     "Rescuers have found 12 bodies so far, the bridge having collapsed on March 3.", "12"),
    ("How many people were rescued from the ship?",
     "Coastguards brought 57 ashore overnight; the ship sank on 12 May.", "57"),
    ("How many people were rescued when the ship sank?",
     "Coastguards brought 57 ashore overnight; the ship sank at 4 am.", "57"),
])
def test_the_clause_rule_takes_only_another_amount_of_the_kind_asked(
    question: str, sentence: str, chosen: str
) -> None:
    found = pick(question, sentence, reader=_Prefers(chosen), min_probability=0.0)
    assert found is not None and found.span.text == chosen
