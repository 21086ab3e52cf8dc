"""A generated answer over reports that differ (``tests/fixtures/news.jsonl``: 12 policemen killed
in Vellmore, then 18): when the model itself cites both reports, the verified answer leads with
"Reports differ" and lists both figures; its own sentences stay as it wrote them. When it cites
one report, nothing is added. A story question ("What has happened in Vellmore so far?") asks
the model for one sentence per report, oldest first, and its sentences are put in the date order
of the articles they cite, each citation verified."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qa.answer.extractive import ExtractiveComposer
from qa.answer.stories import STORY_RULE
from qa.assistant import Assistant
from qa.cli.answers import format_answer
from qa.llm.generative import build_llm_composer
from qa.models import Answer
from qa.settings import Settings
from qa.ui import render
from tests.llm.fake_servers import OpenAIServer, Reply

NEWS = Path(__file__).resolve().parent.parent / "fixtures" / "news.jsonl"
KILLED = "How many policemen were killed in Vellmore?"
SO_FAR = "What has happened in Vellmore so far?"
_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory, real_embedder: Any) -> Iterator[Assistant]:
    assistant = Assistant(Settings(data_dir=tmp_path_factory.mktemp("news-llm")), embedder=real_embedder)
    assert assistant.ingest([NEWS]).ok
    yield assistant


def citing(*claims: tuple[str, str]) -> Callable[[dict[str, Any]], str]:
    """A model that writes each claim and cites the passage it was given that holds its phrase."""
    def respond(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        passages = {int(m.group(1)): m.group(2) for m in _PASSAGE.finditer(prompt)}
        return " ".join(f"{claim} [{next(n for n, t in passages.items() if phrase in t)}]."
                        for claim, phrase in claims)
    return respond


def ask(news: Assistant, real_embedder: Any, respond: Callable[[dict[str, Any]], str],
        question: str = KILLED, prompts: list[str] | None = None) -> Answer:
    def recorded(body: dict[str, Any]) -> str:
        if prompts is not None:
            prompts.append(body["messages"][-1]["content"])
        return respond(body)

    with OpenAIServer(Reply(respond=recorded)) as server:
        settings = Settings.model_validate({
            "llm": "openai", "llm_base_url": server.base_url, "llm_model": "test-model",
            "data_dir": news.settings.data_dir})
        composer = build_llm_composer(settings, real_embedder, fallback=ExtractiveComposer(idf=lambda t: 1.0))
        assistant = Assistant(settings, store=news.store, embedder=real_embedder, composer=composer)
        return assistant.ask(question)


def test_a_generated_answer_citing_reports_that_differ_says_so(news: Assistant, real_embedder: Any) -> None:
    written = ("Eighteen policemen were killed in the riots, according to the ministry. [1] "
               "An earlier report said twelve policemen were killed in the clashes. [2]")
    answer = ask(news, real_embedder, citing(
        ("Eighteen policemen were killed in the riots, according to the ministry", "Eighteen policemen"),
        ("An earlier report said twelve policemen were killed in the clashes", "Twelve policemen")))
    assert answer.backend == "openai:test-model" and answer.answered
    (conflict,) = answer.conflicts
    assert [(f.text, f.article_id, f.citation) for f in conflict.figures] == [
        ("Eighteen", "vellmore-toll", 1), ("Twelve", "vellmore-first", 2)]
    texts = news.store.article_texts({f.article_id for f in conflict.figures})
    assert all(texts[f.article_id][f.start:f.end] == f.text for f in conflict.figures)
    assert answer.text == ("Reports differ on the number of policemen: Eighteen (2026-01-07) [1]; "
                           "Twelve (2026-01-05) [2]. " + written)


def test_a_generated_answer_citing_one_report_is_left_as_written(news: Assistant, real_embedder: Any) -> None:
    answer = ask(news, real_embedder, citing(
        ("Eighteen policemen were killed in the riots", "Eighteen policemen")))
    assert answer.answered and answer.conflicts == ()
    assert answer.text == "Eighteen policemen were killed in the riots. [1]"


# The model's sentences, newest report first: the answer tells them oldest first.
STORY = (("Governor Ilse Brandt lifted the curfew in Vellmore on Saturday after four calm nights",
          "lifted the curfew"),
         ("Eighteen policemen were killed in the riots, a ministry spokesman told reporters",
          "Eighteen policemen"),
         ("Protests over fuel prices turned violent in Vellmore on Sunday night", "turned violent"))


def test_a_generated_story_answer_is_told_in_date_order(news: Assistant, real_embedder: Any) -> None:
    prompts: list[str] = []
    answer = ask(news, real_embedder, citing(*STORY), question=SO_FAR, prompts=prompts)
    assert STORY_RULE in prompts[-1]
    assert answer.backend == "openai:test-model" and answer.answered and answer.stories
    assert answer.conflicts == () and answer.unsupported == ()
    assert [c.article_id for c in answer.citations] == ["vellmore-first", "vellmore-toll", "vellmore-curfew"]
    texts = news.store.article_texts({c.article_id for c in answer.citations})
    assert all(texts[c.article_id][c.start:c.end] == c.quote for c in answer.citations)
    # The model's own sentences, oldest report first, each with its citation.
    assert answer.text == " ".join(f"{claim}. [{n}]" for n, (claim, _) in enumerate(reversed(STORY), start=1))
    lines = format_answer(answer).splitlines()
    assert lines[0] == "From several reports, in date order:"
    assert [line.split()[0] for line in lines[1:4]] == ["2026-01-05", "2026-01-07", "2026-01-10"]
    assert lines[1].endswith("Protests over fuel prices turned violent in Vellmore on Sunday night. [1]")
    message = render.answer_markdown(answer, turn=2)
    assert message.startswith("From several reports, in date order:")
    assert message.index("turned violent") < message.index("Eighteen") < message.index("lifted the curfew")


def test_a_generated_story_answer_with_an_unsupported_sentence_stays_as_written(
        news: Assistant, real_embedder: Any) -> None:
    def respond(body: dict[str, Any]) -> str:
        return citing(*STORY)(body) + " The mayor of Vellmore resigned in disgrace [1]."
    answer = ask(news, real_embedder, respond, question=SO_FAR)
    assert answer.answered and not answer.stories
    assert answer.unsupported == ("The mayor of Vellmore resigned in disgrace.",)
    assert answer.text.startswith("Governor Ilse Brandt lifted the curfew")


def test_a_factoid_question_gets_no_story_rule(news: Assistant, real_embedder: Any) -> None:
    prompts: list[str] = []
    answer = ask(news, real_embedder, citing(STORY[1]), prompts=prompts)
    assert STORY_RULE not in prompts[-1] and not answer.stories
