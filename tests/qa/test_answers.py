"""The answer side end to end: real model, real Chroma, the sample article."""

from __future__ import annotations

import json
import logging

import pytest

from index.sentences import sentence_spans
from qa.answer.citations import NOT_FOUND, finalize
from qa.answer.composer import ComposeRequest, Draft, Quote, Segment
from qa.errors import QuestionError
from tests.conftest import SAMPLE_ARTICLE, SAMPLE_QUESTIONS


def _questions() -> list[dict]:
    return [json.loads(line) for line in SAMPLE_QUESTIONS.read_text().splitlines() if line.strip()]


def _generated_questions() -> list[str]:
    """Hundreds of questions made from the article's own sentences, cut and reworded."""
    text = SAMPLE_ARTICLE.read_text()
    out: list[str] = []
    for paragraph in sentence_spans(text):
        for a, b in paragraph:
            words = text[a:b].split()
            for lo in range(0, max(1, len(words) - 3), 2):
                out.append("What about " + " ".join(words[lo : lo + 6]) + "?")
    return out


def test_every_citation_is_verbatim_over_hundreds_of_questions(sample_assistant) -> None:
    questions = _generated_questions() + [q["question"] for q in _questions()]
    assert len(questions) >= 300
    text = sample_assistant.article_text("kazakhstan-unrest")
    cited = 0
    for question in questions:
        answer = sample_assistant.ask(question)
        for c in answer.citations:
            cited += 1
            assert text[c.start : c.end] == c.quote
            assert f"[{c.n}]" in answer.text
    assert cited > 200


def test_answer_carries_cited_sentence_and_passages(sample_assistant) -> None:
    answer = sample_assistant.ask("How many policemen were killed in Almaty?")
    assert answer.answered
    assert "Twelve policemen have been killed and 353 injured" in answer.text
    assert answer.citations[0].article_id == "kazakhstan-unrest"
    assert answer.passages and answer.passages[0].score >= answer.passages[-1].score
    assert {"embed", "search", "rank", "compose", "verify", "total"} <= set(answer.timings)
    json.dumps(answer.to_dict())


def test_unanswerable_sample_questions_abstain_without_citations(sample_assistant) -> None:
    # The learned answer step abstains on 10 of these 12 (its threshold is fitted for at most 5%
    # wrong abstentions on its training split; see BENCHMARKS.md); main's lexical rule did on 12.
    unanswerable = [q for q in _questions() if not q["answers"]]
    assert len(unanswerable) >= 5
    abstained = 0
    for q in unanswerable:
        answer = sample_assistant.ask(q["question"], history=q.get("history", []))
        if not answer.answered:
            abstained += 1
            assert answer.text == NOT_FOUND
            assert answer.citations == ()
    assert abstained / len(unanswerable) >= 0.8


def test_most_answerable_sample_questions_contain_a_gold_answer(sample_assistant) -> None:
    answerable = [q for q in _questions() if q["answers"]]
    hits = 0
    for q in answerable:
        answer = sample_assistant.ask(q["question"], history=q.get("history", []))
        hits += any(g.lower() in answer.text.lower() for g in q["answers"])
    assert hits / len(answerable) >= 0.7


def test_followup_question_finds_its_passage_through_history(sample_assistant) -> None:
    history = ["How many policemen were killed in Almaty?"]
    answer = sample_assistant.ask("And how many were injured?", history=history)
    assert answer.answered and "353" in answer.text
    assert answer.standalone_question and "policemen" in answer.standalone_question


def test_self_contained_question_is_not_disturbed_by_history(sample_assistant) -> None:
    alone = sample_assistant.ask("Who is the president of Kazakhstan?")
    with_history = sample_assistant.ask(
        "Who is the president of Kazakhstan?", history=["How many policemen were killed in Almaty?"]
    )
    assert with_history.standalone_question is None
    assert with_history.text == alone.text


def test_history_accepts_pairs_and_messages(sample_assistant) -> None:
    pairs = [("How many policemen were killed in Almaty?", "Twelve [1]")]
    messages = [{"role": "user", "content": "How many policemen were killed in Almaty?"},
                {"role": "assistant", "content": "Twelve [1]"}]
    for history in (pairs, messages):
        assert "353" in sample_assistant.ask("And how many were injured?", history=history).text


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question_is_a_clear_error(sample_assistant, question: str) -> None:
    with pytest.raises(QuestionError, match="empty"):
        sample_assistant.ask(question)


def test_overlong_question_names_the_limit(sample_assistant) -> None:
    with pytest.raises(QuestionError, match="QA_MAX_QUESTION_CHARS"):
        sample_assistant.ask("why " * 2500)


def test_control_and_unicode_characters_still_get_an_answer(sample_assistant) -> None:
    answer = sample_assistant.ask("How many\x00 policemen\x07 were killed in Almaty? 🤔 — «vraiment»")
    assert answer.answered and "Twelve" in answer.text


@pytest.mark.parametrize(
    "dirty",
    [
        "\u202eHow many policemen were killed in Almaty?",  # right-to-left override first
        "How\u200b many\u200b police\u200bmen were killed\ufeff in Almaty?",  # zero-width
    ],
)
def test_unicode_format_characters_do_not_change_the_answer(sample_assistant, dirty: str) -> None:
    def same(answer):  # everything but the timings and the question as typed
        return {k: v for k, v in answer.to_dict().items() if k not in ("timings", "question")}

    clean = sample_assistant.ask("How many policemen were killed in Almaty?")
    assert clean.answered and "Twelve" in clean.text
    assert same(sample_assistant.ask(dirty)) == same(clean)


def test_question_before_anything_is_indexed_says_so(fake_assistant) -> None:
    with pytest.raises(QuestionError, match="nothing is indexed"):
        fake_assistant.ask("Who won?")


def test_filters_restrict_retrieval_to_chosen_articles(fake_assistant, tmp_path) -> None:
    (tmp_path / "a.txt").write_text("Alpha\n\nThe falcon landed in Paris on Monday.")
    (tmp_path / "b.jsonl").write_text(json.dumps(
        {"id": "b", "title": "Beta", "text": "The falcon landed in Rome on Friday.",
         "published": "2022-01-07"}
    ) + "\n")
    fake_assistant.ingest([tmp_path])
    only_a = fake_assistant.ask("Where did the falcon land?", article_ids=["a"])
    assert {p.article_id for p in only_a.passages} == {"a"}
    dated = fake_assistant.ask("Where did the falcon land?", published_from="2022-01-01")
    assert {p.article_id for p in dated.passages} == {"b"}
    with pytest.raises(QuestionError, match="not a date"):
        fake_assistant.ask("Where did the falcon land?", published_to="someday")
    # Filters that match no article said only "not found", which reads as a miss of the assistant.
    unknown = fake_assistant.ask("Where did the falcon land?", article_ids=["a", "nosuch"])
    assert unknown.answered and unknown.notice is None  # "a" is there: nothing to explain
    # Only unknown ids: a mistyped id is refused, not answered "not found" (exit 1 in the CLI).
    with pytest.raises(QuestionError, match=r"none of the articles 'nosuch', 'gone' is indexed \(qa list"):
        fake_assistant.ask("Where did the falcon land?", article_ids=["nosuch", "gone"])
    undated = fake_assistant.ask("Where did the falcon land?", article_ids=["a"], published_from="2022-01-01")
    assert not undated.answered and undated.notice is not None
    assert "dated 2022-01-01 to ..." in undated.notice and "undated" in undated.notice
    assert fake_assistant.ask("Who won the cup?").notice is None  # a plain miss has no notice


def test_dense_only_and_hybrid_both_answer(sample_assistant) -> None:
    for hybrid in (True, False):
        answer = sample_assistant.ask("Which buildings did extremist forces try to assault?", hybrid=hybrid)
        assert answer.answered and answer.passages


def test_a_quote_that_is_not_verbatim_is_dropped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    text = "Twelve policemen were killed. The square was cleared."
    good = Quote("a", 0, 29, text[0:29], 0, 1.0)
    bad = Quote("a", 30, 53, "The square was CLEARED.", 0, 0.9)
    request = ComposeRequest("q", "q", (), ())
    draft = Draft(True, (Segment(good.text, (good,)), Segment(bad.text, (bad,))), 0.9, "extractive")
    with caplog.at_level(logging.WARNING):
        answer = finalize(request, draft, {"a": text}, timings={})
    assert [c.quote for c in answer.citations] == [good.text]
    assert "CLEARED" not in answer.text
    assert "not verbatim" in caplog.text


def test_a_draft_whose_quotes_all_fail_abstains() -> None:
    bad = Quote("a", 0, 5, "Nope!", 0, 1.0)
    draft = Draft(True, (Segment("Nope!", (bad,)),), 0.9, "extractive")
    answer = finalize(ComposeRequest("q", "q", (), ()), draft, {"a": "Hello world"}, timings={})
    assert not answer.answered and answer.citations == () and answer.text == NOT_FOUND


def test_the_chain_is_a_langchain_runnable(sample_assistant) -> None:
    from langchain_core.runnables import Runnable

    assert isinstance(sample_assistant.chain.runnable, Runnable)
    out = sample_assistant.chain.runnable.invoke(
        {"question": "What did the riots cause in Almaty?", "history": [], "options": {}}
    )
    assert out["answer"].answered
    assert out["delta"].strip() and out["delta"].split()[0] in out["answer"].text


def test_stream_yields_text_then_the_final_answer(sample_assistant) -> None:
    pieces = list(sample_assistant.stream("How many policemen were killed in Almaty?"))
    assert all(isinstance(p, str) for p in pieces[:-1]) and pieces[:-1]
    assert pieces[-1].answered and pieces[-1].citations


def test_ask_shortcut_uses_a_default_assistant(sample_assistant, monkeypatch) -> None:
    import qa
    from qa import assistant as module

    monkeypatch.setattr(module, "_default", sample_assistant)
    assert "Twelve" in qa.ask("How many policemen were killed in Almaty?").text


def test_a_question_after_another_writer_emptied_the_index_says_so(fake_assistant, tmp_path) -> None:
    (tmp_path / "a.txt").write_text("Alpha\n\nThe falcon landed in Paris on Monday.")
    fake_assistant.ingest([tmp_path / "a.txt"])
    assert fake_assistant.ask("Where did the falcon land?").answered
    # Another writer removes everything from the store; this process's lexicon still has rows.
    store = fake_assistant.store
    store.delete_article("a")
    store.bump_generation()
    assert fake_assistant.lexicon.chunk_count() > 0
    with pytest.raises(QuestionError, match="nothing is indexed"):
        fake_assistant.ask("Where did the falcon land?")
