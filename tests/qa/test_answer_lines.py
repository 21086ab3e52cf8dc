"""``Answer.lines``: each cited sentence with its citation numbers, as ``finalize`` shows them.

The chat and the CLI list a several-stories answer from these lines, so a sentence whose own
words hold a bracketed number ("[4]") is still one sentence with its own citations.
"""

from __future__ import annotations

from qa.answer.citations import finalize
from qa.answer.composer import ComposeRequest, Draft, Quote, Segment
from qa.models import AnswerLine, Passage

ARTICLE = "Protests began on Monday. The curfew [4] ended on Friday. Nothing else happened."


def _quote(sentence: str) -> Quote:
    start = ARTICLE.index(sentence)
    return Quote("a1", start, start + len(sentence), sentence, 0, 1.0)


def test_finalize_keeps_each_cited_sentence_with_its_numbers_and_leaves_out_unsupported_ones() -> None:
    passage = Passage(chunk_id="a1:0", article_id="a1", title="T", source="s", published=None,
                      start=0, end=len(ARTICLE), text=ARTICLE, score=1.0)
    request = ComposeRequest("What happened?", "What happened?", (), (passage,))
    first, second = "Protests began on Monday.", "The curfew [4] ended on Friday."
    draft = Draft(answered=True, confidence=0.9, backend="openai", segments=(
        Segment(first, (_quote(first),)),
        Segment("Everyone went home.", (), supported=False),
        Segment(second, (_quote(second), _quote(first))),
    ))
    answer = finalize(request, draft, {"a1": ARTICLE}, timings={})
    assert answer.lines == (AnswerLine(first, (1,)), AnswerLine(second, (2, 1)))
    assert answer.unsupported == ("Everyone went home.",)


def test_an_unanswered_draft_has_no_lines() -> None:
    request = ComposeRequest("What happened?", "What happened?", (), ())
    answer = finalize(request, Draft(answered=False, segments=(), confidence=0.1, backend="extractive"),
                      {}, timings={})
    assert answer.lines == () and not answer.answered
