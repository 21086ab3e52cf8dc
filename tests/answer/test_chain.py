"""The chain's entrance: questions cleaned, options checked, one runnable for ask and stream."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from qa.answer.chain import OPTIONS, check_options, clean_question
from qa.answer.history import Turn, parse_history
from qa.errors import QuestionError
from tests.conftest import SAMPLE_ARTICLES


def test_format_characters_are_stripped_and_text_normalised() -> None:
    dirty = "\u202eHow many\u200b policemen were\u00ad killed? Cafe\u0301"
    assert clean_question(dirty, limit=100) == "How many policemen were killed? Café"


def test_a_question_or_history_turn_that_is_not_valid_text_is_a_question_error(fake_assistant: Any) -> None:
    """A stray byte in a shell argument arrives as a lone surrogate: the tokenizer raised a
    TypeError (a traceback at the CLI, "something went wrong" on the page)."""
    fake_assistant.ingest([SAMPLE_ARTICLES])
    with pytest.raises(QuestionError, match=r"question holds bytes that are not valid UTF-8.*character 16"):
        fake_assistant.ask("How many were k\udcffilled?")
    with pytest.raises(QuestionError, match="the question of history turn 1 holds bytes"):
        fake_assistant.ask("And how many were injured?", history=["How many were k\udcffilled?"])


def test_history_turns_have_the_questions_limit_and_answers_are_cut_to_five_times_it() -> None:
    """A megabyte of history was added to every follow-up's retrieval (20 s for one question);
    a question is measured as the question itself is, so one that was answered never fails the
    follow-up after it."""
    with pytest.raises(QuestionError, match=r"history turn 2 is 41 characters long; the limit is 40"):
        parse_history(["Q1", "x" * 41], limit=40)
    spaced = "How   many      policemen     were killed?"  # 42 characters, 36 once cleaned
    (turn,) = parse_history([(spaced, "y" * 500)], limit=40)
    assert turn.question == spaced and turn.answer == "y" * 200
    assert parse_history([("Q", "y" * 500)]) == (Turn("Q", "y" * 500),)


@pytest.mark.parametrize("k", [0, -2, "5", 2.5, True])
def test_k_must_be_a_whole_number_of_at_least_one(fake_assistant: Any, k: Any) -> None:
    """k=0 silently became the default number of passages."""
    fake_assistant.ingest([SAMPLE_ARTICLES])
    with pytest.raises(QuestionError, match=r"k \(passages to retrieve\) must be a whole number"):
        fake_assistant.ask("How many policemen were killed?", k=k)
    assert len(fake_assistant.ask("How many policemen were killed?", k=2).passages) <= 2


def test_unknown_options_are_named_not_ignored() -> None:
    with pytest.raises(QuestionError, match="'article_id'"):
        check_options({"article_id": "a", "k": 3})
    check_options(dict.fromkeys(OPTIONS))


def test_ask_refuses_a_misspelled_option(fake_assistant: Any) -> None:
    fake_assistant.ingest([SAMPLE_ARTICLES])
    with pytest.raises(QuestionError, match=r"unknown option.*'article_id'.*article_ids"):
        fake_assistant.ask("How many policemen were killed?", article_id="kazakhstan-unrest")


class _Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.chains: list[str] = []

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self.chains.append(str(kwargs.get("name") or (serialized or {}).get("name")))


def test_streaming_runs_the_same_runnable_so_callbacks_see_it(fake_assistant: Any) -> None:
    fake_assistant.ingest([SAMPLE_ARTICLES])
    chain = fake_assistant.chain
    recorder = _Recorder()
    request = chain.request("How many policemen were killed in Almaty?", [], {})
    chunks = list(chain.runnable.stream(request, config={"callbacks": [recorder]}))
    assert {"prepare", "retrieve", "answer"} <= set(recorder.chains)
    assert chunks[-1]["answer"].answered
    streamed = "".join(c.get("delta", "") for c in chunks)
    invoked = chain.runnable.invoke(request)
    assert invoked["delta"] == streamed and invoked["answer"].text == chunks[-1]["answer"].text


def test_article_texts_are_fetched_once_per_answer(fake_assistant: Any, monkeypatch: Any) -> None:
    fake_assistant.ingest([SAMPLE_ARTICLES])
    calls: list[set[str]] = []
    real = fake_assistant.store.article_texts

    def counting(ids: Any) -> dict[str, str]:
        calls.append(set(ids))
        return real(ids)

    monkeypatch.setattr(fake_assistant.store, "article_texts", counting)
    answer = fake_assistant.ask("How many policemen were killed in Almaty?")
    assert len(calls) == 1
    citation = answer.citations[0]
    assert citation.context[citation.quote_offset:][: len(citation.quote)] == citation.quote


def test_a_quote_of_a_sentence_not_shown_as_cited_gets_no_source_card() -> None:
    from qa.answer.citations import NOT_FOUND, finalize
    from qa.answer.composer import ComposeRequest, Draft, Quote, Segment

    text = "Twelve policemen were killed."
    quote = Quote("a", 0, len(text), text, 0, 1.0)
    short = Quote("a", 0, 6, "Twelve", 0, 1.0)
    draft = Draft(True, (Segment(text, (quote,), supported=False),), 0.9, "extractive", short=short)
    answer = finalize(ComposeRequest("q", "q", (), ()), draft, {"a": text}, timings={})
    assert not answer.answered and answer.citations == () and answer.short is None
    assert answer.text == NOT_FOUND
