"""Conflicting figures and story questions without the model: what counts as the asked figure,
how reports are grouped by value, and that only verified figures become a conflict."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qa.answer import conflicts
from qa.answer.citations import finalize
from qa.answer.composer import ComposeRequest, Draft, Quote, Segment
from qa.answer.history import Turn
from qa.answer.stories import is_story_question, topic
from qa.models import Passage

QUESTION = "How many policemen were killed in Vellmore?"
REPORTS = {
    # article id: (published, text)
    "first": ("2026-01-05", "Riots hit Vellmore. Twelve policemen were killed in the clashes."),
    "later": ("2026-01-07", "The toll rose. Eighteen policemen were killed in Vellmore, officials said."),
    "agrees": ("2026-01-06", "Officials in Vellmore said 18 policemen were killed."),
    "other": ("2026-01-08", "In Vellmore 40 policemen were injured and 3 soldiers were killed."),
}


def _passage(article_id: str, rank: int) -> Passage:
    published, text = REPORTS[article_id]
    return Passage(chunk_id=f"{article_id}:0", article_id=article_id, title=article_id.title(),
                   source="test", published=published, start=0, end=len(text), text=text,
                   score=1.0 - rank / 10, rank=rank)


def _request(*ids: str) -> ComposeRequest:
    return ComposeRequest(QUESTION, QUESTION, (), tuple(_passage(a, i) for i, a in enumerate(ids)))


def _draft(article_id: str) -> Draft:
    """The extractive answer: the report's second sentence, its figure as the short answer."""
    text = REPORTS[article_id][1]
    start = text.index(". ") + 2
    sentence = Quote(article_id, start, len(text), text[start:], 0, 0.9)
    word = sentence.text.split()[0]
    return Draft(answered=True, segments=(Segment(sentence.text, (sentence,)),), confidence=0.9,
                 backend="extractive", short=Quote(article_id, start, start + len(word), word, 0, 0.8))


@pytest.mark.parametrize(("sentence", "asked", "expected"), [
    ("Eighteen policemen were killed, and 1,200 people.", QUESTION, [("Eighteen", 18.0, "")]),
    ("Twenty-one policemen and 12 police officers died.", QUESTION, [("Twenty-one", 21.0, "")]),
    ("In 2004 policemen were killed; since 1999 7 policemen died.", QUESTION, [("7", 7.0, "")]),
    ("It cost $3.5m, or £2 million, up 12%.", "How much did it cost?",
     [("$3.5m", 3.5e6, "$"), ("£2 million", 2e6, "£")]),
    ("Turnout rose 4 points to 61.5 per cent.", "What percentage of voters turned out?",
     [("61.5 per cent", 61.5, "%")]),
    # A count whose noun is left out before its verb counts people, not the villages asked about.
    ("At least 14 people were killed and 230 were evacuated.", "How many villages were evacuated?", []),
    ("At least 14 people were killed and 230 were evacuated.", "How many residents were evacuated?",
     [("230", 230.0, "")]),
    ("More than 1,100 people were evacuated from six villages.", "How many villages were evacuated?",
     [("six", 6.0, "")]),
])
def test_only_figures_of_the_asked_kind_are_found(sentence: str, asked: str, expected: list[object]) -> None:
    kind = conflicts.asked_figure(asked)
    assert kind is not None
    found = [(sentence[a:b], value, unit) for a, b, value, unit in conflicts.figures_in(sentence, kind)]
    assert found == expected


def test_a_question_that_asks_no_figure_has_no_conflict() -> None:
    assert conflicts.asked_figure("Who lifted the curfew in Vellmore?") is None
    assert conflicts.disagreement(replace(_request("first", "later"), question="Who was killed?"),
                                  _draft("first")) is None


def test_differing_reports_are_grouped_by_value_newest_first() -> None:
    found = conflicts.disagreement(_request("first", "later", "agrees", "other"), _draft("first"))
    assert found is not None
    assert [(f.figure.text, f.figure.article_id) for f in found.found] == [
        ("Eighteen", "later"), ("Twelve", "first")]
    # The other report of 18 agrees with the newest one; 40 injured (and 3 soldiers) is no toll.
    assert found.also == {"later": ("agrees",), "first": ()}


def test_reports_that_agree_change_nothing() -> None:
    request, draft = _request("later", "agrees"), _draft("later")
    assert conflicts.disagreement(request, draft) is None
    assert conflicts.revise(request, draft) == (draft, None)


def test_a_figure_that_is_not_verbatim_is_no_conflict() -> None:
    request = _request("first", "later")
    draft, found = conflicts.revise(request, _draft("first"))
    texts = {a: REPORTS[a][1] for a in REPORTS}
    answer = finalize(request, draft, texts, timings={})
    shown = conflicts.attach(answer, found, texts)
    assert [f.text for f in shown.conflicts[0].figures] == ["Eighteen", "Twelve"]
    assert shown.text.startswith("Reports differ on the number of policemen: Eighteen (2026-01-07) [1]; "
                                 "Twelve (2026-01-05) [2].")
    assert not shown.text.startswith("Twelve.")
    # The same draft checked against a changed article: the figure no longer matches, so the
    # answer claims no disagreement (and finalize drops the changed sentence's citation).
    changed = {**texts, "later": texts["later"].replace("Eighteen", "Nineteen")}
    answer = finalize(request, draft, changed, timings={})
    assert conflicts.attach(answer, found, changed).conflicts == ()


@pytest.mark.parametrize(("question", "stories"), [
    ("What has happened in Almaty so far?", True),
    ("What happened to the Quillby ferry?", True),
    ("Summarise the unrest in Vellmore", True),
    ("What has the government done so far?", True),
    ("How many policemen were killed so far?", False),
    ("What is the latest death toll?", False),
    ("Who lifted the curfew?", False),
    ("When did the riots start?", False),
])
def test_story_questions_are_told_from_factoids(question: str, stories: bool) -> None:
    assert is_story_question(question) is stories


@pytest.mark.parametrize(("question", "lead", "other"), [
    ("How many copies has the book sold in France?",
     "The novel has sold around one million copies in France.",
     "The novel has sold more than seven million copies worldwide."),
    ("By how much did Borussia Dortmund's shares fall?",
     "Shares in Borussia Dortmund dropped by almost 23% in early trading.",
     "Shares in music giant EMI have sunk by more than 16% after a profit warning."),
    ("Roughly how much is the Student Government's budget?",
     "The Student Government has its own office. Its annual budget is greater than $2 million.",
     "Harvard halted the $1.2 billion science complex to balance its budget."),
])
def test_a_figure_about_another_place_or_company_is_not_a_conflict(question: str, lead: str,
                                                                  other: str) -> None:
    passages = tuple(
        Passage(chunk_id=f"{i}:0", article_id=str(i), title="", source="", published=None,
                start=0, end=len(text), text=text, score=1.0, rank=i)
        for i, text in enumerate((lead, other)))
    at = lead.rfind("Its ") if "Its " in lead else 0
    quote = Quote("0", at, len(lead), lead[at:], 0, 0.9)
    draft = Draft(answered=True, segments=(Segment(quote.text, (quote,)),), confidence=0.9,
                  backend="extractive")
    assert conflicts.disagreement(ComposeRequest(question, question, (), passages), draft) is None
    # The same figures for the same subject do disagree.
    same = replace(passages[1], text=lead.replace("one million", "two million").replace("23%", "25%")
                   .replace("$2 million", "$3 million"))
    request = ComposeRequest(question, question, (), (passages[0], replace(same, end=len(same.text))))
    assert conflicts.disagreement(request, draft) is not None


def test_a_follow_up_question_without_its_conversation_claims_no_disagreement() -> None:
    request = replace(_request("first", "later"), question="And how many policemen were killed?",
                      standalone="Riots in Vellmore. And how many policemen were killed?")
    assert conflicts.disagreement(request, _draft("first")) is None


def test_a_follow_up_takes_its_setting_from_the_question_before_it() -> None:
    """"And how many were evacuated?" after a question about the Dunmere floods: the reports of
    those floods that differ are a conflict; after a question about somewhere else, none is."""
    first = ("2026-03-02", "Floods hit Dunmere. Around 1,200 people were evacuated overnight.")
    later = ("2026-03-04", "Rain stopped in Dunmere. Some 2,000 people have now been evacuated.")
    question = "And how many were evacuated?"
    for before, expected in (("How many people died in the Dunmere floods?", [2000.0, 1200.0]),
                             ("How many people died in the Holm floods?", None)):
        assert _values(question, first, later, history=(Turn(before),)) == expected


def test_a_story_topic_is_every_name_and_number_of_the_question() -> None:
    assert topic("What happened in 1992 in a UK-wide process?")[0] == {"1992", "uk", "wide"}
    assert topic("What has happened in Vellmore so far?")[0] == {"vellmor"}


@pytest.mark.parametrize("sentence", [
    "One of the policemen killed in Almaty was beheaded.",     # a part, not the total
    "On January 5 policemen were killed in Almaty.",           # a day of the month
    "The 2nd policemen's unit was sent to Almaty.",            # an ordinal
])
def test_parts_days_and_ordinals_are_not_the_count_asked(sentence: str) -> None:
    asked = conflicts.asked_figure("How many policemen were killed in Almaty?")
    assert asked is not None and conflicts.figures_in(sentence, asked) == []
    assert conflicts.figures_in("Eighteen policemen were killed in Almaty.", asked)[0][2] == 18.0


def _values(question: str, lead: tuple[str, str], *others: tuple[str, str],
            history: tuple[Turn, ...] = ()) -> list[float] | None:
    """The differing values ``disagreement`` finds, newest first (None: no conflict), when the
    answer's sentence is the last sentence of the first report; reports are (published, text)."""
    passages = tuple(
        Passage(chunk_id=f"r{i}:0", article_id=f"r{i}", title="", source="", published=published,
                start=0, end=len(text), text=text, score=1.0 - i / 10, rank=i)
        for i, (published, text) in enumerate((lead, *others)))
    text = lead[1]
    at = text.rfind(". ") + 2 if ". " in text else 0
    quote = Quote("r0", at, len(text), text[at:], 0, 0.9)
    draft = Draft(answered=True, segments=(Segment(quote.text, (quote,)),), confidence=0.9,
                  backend="extractive")
    standalone = f"{history[-1].question} {question}" if history else question
    found = conflicts.disagreement(ComposeRequest(question, standalone, history, passages), draft)
    return None if found is None else [f.value for f in found.found]


FIRST = ("2026-03-02", "Floods hit Dunmere. At least seven people died and dozens were missing.")
TOLL = ("2026-03-04", "The death toll from the floods in Dunmere rose to 18 on Tuesday.")
KNOWN = ("2026-03-05", "Eighteen people are now known to have died in the Dunmere floods.")
MISSING = ("2026-03-04", "Rain stopped in Dunmere. Eleven people are still missing.")


@pytest.mark.parametrize("question", [
    "How many people died in the Dunmere floods?", "How many died in Dunmere?",
    "How many were killed in the Dunmere floods?", "What is the latest death toll in Dunmere?",
])
def test_a_death_toll_is_the_count_of_the_dead(question: str) -> None:
    """"The death toll rose to 18" names no counted noun, yet it answers "how many people died";
    "killed", "died" and "death toll" ask the same, and the report of the first day (in a story
    about the floods, its clause not saying so) gives the other figure."""
    asked = conflicts.asked_figure(question)
    assert asked is not None
    sentence = TOLL[1]
    assert [sentence[a:b] for a, b, _, _ in conflicts.figures_in(sentence, asked)] == ["18"]
    assert _values(question, TOLL, FIRST) == [18.0, 7.0]
    assert _values(question, KNOWN, TOLL, FIRST) == [18.0, 7.0]


def test_a_death_toll_is_no_count_of_other_things() -> None:
    for question in ("How many people were injured in Dunmere?", "How many homes were flooded?"):
        asked = conflicts.asked_figure(question)
        assert asked is not None and conflicts.figures_in(TOLL[1], asked) == []
    # "18 people missing" is no toll: the dead and the missing are not one count.
    assert _values("How many people died in the Dunmere floods?", KNOWN, MISSING) is None


def test_the_answer_sentence_figure_must_be_of_what_is_asked_too() -> None:
    """The answer's own sentence "At least seven people died and dozens were missing" gives no
    count of the missing: "seven" is the dead, so "Eleven" still missing is no disagreement."""
    assert _values("How many people are still missing after the Dunmere floods?", FIRST, MISSING) is None


def test_a_verb_of_getting_does_not_hide_a_differing_count() -> None:
    recount = ("2026-05-11",
               "Okafor received 12,431 votes and Tomas Lind 12,309, the returning officer said.")
    result = ("2026-05-08", "Grace Okafor was elected mayor on Thursday, winning 12,480 votes to 12,302 for "
                            "the sitting mayor.")
    assert _values("How many votes did Grace Okafor get?", recount, result) == [12431.0, 12480.0]


def test_since_is_no_story_topic_word() -> None:
    assert topic("What has happened since the Lorne museum theft?")[1] == {"museum", "theft"}


SANK = ("2026-02-06", "A ferry sank in Tarrow Bay with 230 passengers on board. "
                      "At least 14 were killed and more than 60 were injured, the coastguard said.")
DEAD = ("2026-02-08", "Divers reached the wreck of the ferry in Tarrow Bay. "
                      "The number of dead rose to 27, the coastguard said.")
INQUIRY = ("2026-02-12", "Twenty-seven people died when the ferry sank. "
                         "An inquiry into the Tarrow Bay ferry disaster opened on Wednesday.")


@pytest.mark.parametrize(("question", "sentence", "expected"), [
    # The counted noun is elided (said in an earlier sentence): the question's verb tells it.
    ("How many people died when the ferry sank?", SANK[1].split(". ")[1], ["14"]),
    ("How many people were injured when the ferry sank?", SANK[1].split(". ")[1], ["60"]),
    ("How many people have now been evacuated?", "Some 2,000 have now been evacuated.", ["2,000"]),
    # "the number of" the noun (or the dead) before the figure.
    ("How many people died in Tarrow Bay?", DEAD[1].split(". ")[1], ["27"]),
    ("How many people were arrested?", "A third man was held, bringing the number of arrests to three.",
     ["three"]),
    ("How many policemen were killed?", "The number of arrests rose to three; 14 were injured.", []),
    ("How many people died in the floods?", "At least 14 died in the floods.", ["14"]),
    # A noun after the figure is no elided one: "six libraries" are not "individual libraries".
    ("How many individual libraries make up the library?", "It encompasses six libraries.", []),
])
def test_a_count_whose_noun_is_elided_or_before_it(question: str, sentence: str, expected: list[str]) -> None:
    asked = conflicts.asked_figure(question)
    assert asked is not None
    assert [sentence[a:b] for a, b, _, _ in conflicts.figures_in(sentence, asked)] == expected


def test_reports_naming_the_dead_in_other_words_disagree() -> None:
    """"Twenty-seven people died", "The number of dead rose to 27", "At least 14 were killed":
    two values, and the report that agrees with the newest is not a third."""
    assert _values("How many people died in the Tarrow Bay ferry disaster?", DEAD, SANK) == [27.0, 14.0]


def test_irregular_verb_forms_are_one_verb() -> None:
    fallen = ("2026-02-12", "Shares in Bluewake Lines have fallen 15% since the sinking.")
    fell = ("2026-02-08", "Divers reached the wreck. Bluewake Lines shares fell 11% when trading opened.")
    assert _values("By how much have Bluewake Lines shares fallen?", fallen, fell) == [15.0, 11.0]
    rose = ("2026-11-10", "House prices in Tarrow rose 4% in the year to October.")
    rise = ("2026-11-03", "The average house price in Tarrow will rise 6% this year.")
    assert _values("By how much did house prices in Tarrow rise?", rise, rose) == [4.0, 6.0]


def test_a_lead_sentence_without_the_figure_gives_way_to_one_with_it() -> None:
    """The composer led with "An inquiry ... opened on Wednesday": the figure is taken from the
    passages (whose words for the event differ: "the wreck of the ferry in Tarrow Bay")."""
    assert _values("What is the death toll from the Tarrow Bay ferry disaster now?",
                   INQUIRY, DEAD, SANK) == [27.0, 14.0]


def test_a_lead_figure_of_part_of_the_question_gives_way_to_one_of_all_of_it() -> None:
    """The answer's sentence is a pay rise for "By how much did Kestrel Air shares rise?": the
    figure compared is the shares' ("rose 2%"), and the other pay rise is no disagreement."""
    deal = ("2026-04-12", "Kestrel Air settled. Pilots will receive a 6.5% pay rise this year.")
    shares = ("2026-04-13", "Kestrel Air settled. Shares in the airline rose 2% in early trading.")
    offer = ("2026-04-10", "Pilots at Kestrel Air rejected a 4% pay rise on Thursday.")
    assert _values("By how much did Kestrel Air shares rise?", deal, shares, offer) is None


def test_a_payment_of_something_else_is_no_conflict() -> None:
    """"paid" is not read as "pay": a fine paid by Stern's old station is not what Sirius pays him
    (a false conflict on the BBC set when every irregular form was one verb)."""
    dropped = ("2005-01-10", "Sirius signed Howard Stern. Stern was dropped in 2004 after Clear Channel "
                             "had to pay the regulator $1.75m.")
    fined = ("2005-01-12", "Howard Stern joins Sirius. Infinity paid fines totalling $1.7m over Stern.")
    assert _values("How much is Sirius paying Howard Stern?", dropped, fined) is None


def test_a_follow_up_is_about_the_words_of_the_question_before_it() -> None:
    """"And how much would that save?" after a question about abolishing quangos: the other
    report's saving of "government waste" is not about quangos."""
    quangos = ("2005-03-01", "The Tories would abolish 162 quangos. Six units would also be scrapped "
                             "under proposals which the Tories say would save more than £4.3bn.")
    waste = ("2005-03-20", "The Tories set out their tax plans. They say they can save £4bn on waste.")
    before = Turn("How many quangos do the Tories want to abolish?")
    assert _values("And how much would that save?", quangos, waste, history=(before,)) is None


def test_a_report_that_tells_the_update_itself_agrees_with_the_new_figure() -> None:
    """"First said 12, since risen to 18" gives 18 as well: no "Reports differ" against 18."""
    updated = ("2026-01-08", "Vellmore mourns. Officials first said 12 policemen were killed in "
                             "Vellmore, but the toll has since risen to 18 policemen.")
    saved = dict(REPORTS)
    REPORTS["updated"] = updated
    try:
        assert conflicts.disagreement(_request("later", "updated"), _draft("later")) is None
        # Against the old figure it still differs: the first report's 12 and the others' 18.
        found = conflicts.disagreement(_request("first", "later", "updated"), _draft("first"))
        assert found is not None and {f.value for f in found.found} == {12.0, 18.0}
    finally:
        REPORTS.clear()
        REPORTS.update(saved)


def test_a_short_answer_left_outside_the_revised_citations_is_dropped_before_verification() -> None:
    """The composer's short answer sat in its own first sentence; a news shape that cites other
    sentences leaves it in none of them (finalize would log it as not verbatim and drop it)."""
    from qa.answer.chain import short_in_shown

    draft = _draft("first")
    assert short_in_shown(draft) == draft  # "Twelve" is inside the cited sentence
    revised, _ = conflicts.revise(_request("later", "agrees"), _draft("later"))
    moved = replace(revised, short=draft.short)  # the short of a sentence no longer cited
    assert short_in_shown(moved).short is None
    assert short_in_shown(moved).segments == moved.segments
