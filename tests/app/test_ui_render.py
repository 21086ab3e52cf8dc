"""The chat page's HTML and Markdown, without a browser: escaping, markers, highlighted quotes."""

from __future__ import annotations

from qa.answer.citations import context_window
from qa.models import Answer, Citation, Passage
from qa.ui import render

ARTICLE = (
    "Riots in Almaty\n\nTwelve policemen have been killed and 353 injured in the riots in Almaty, "
    "according to Kazakh public television. The first Russian troops arrived."
)
QUOTE = "Twelve policemen have been killed and 353 injured in the riots in Almaty"


def _passage(start: int, end: int, *, rank: int = 0, text: str = ARTICLE, article_id: str = "kz") -> Passage:
    return Passage(
        chunk_id=f"{article_id}#{start}", article_id=article_id, title="Riots <b>in</b> Almaty",
        source="https://example.org/kz?a=1&b=2", published="2022-01-06T10:00:00", start=start, end=end,
        text=text[start:end], score=0.0328, dense_score=0.51, lexical_score=1.3, rank=rank,
    )


def _answer(text: str = ARTICLE) -> Answer:
    start = text.index(QUOTE)
    lo, hi = context_window(text, start, start + len(QUOTE))
    citation = Citation(
        n=1, article_id="kz", title="Riots <b>in</b> Almaty", source="https://example.org/kz?a=1&b=2",
        start=start, end=start + len(QUOTE), quote=QUOTE, score=2.0, published="2022-01-06",
        context=text[lo:hi], context_start=lo,
    )
    other = Passage(chunk_id="other#0", article_id="other", title="Elsewhere", source="other.txt",
                    published=None, start=0, end=9, text="<i>x</i> y", score=0.01, rank=1)
    return Answer(
        question="How many <policemen> were killed?", text=f"{QUOTE}. [1]", answered=True,
        citations=(citation,), passages=(_passage(0, len(text), text=text), other),
        timings={"retrieve": 0.012, "compose": 0.003},
    )


def test_cited_quote_is_marked_inside_its_escaped_context() -> None:
    html = render.sources_html(_answer(), turn=3)
    assert f'<mark class="qa-quote">{QUOTE}</mark>' in html
    assert 'id="src-3-1"' in html
    assert "Riots &lt;b&gt;in&lt;/b&gt; Almaty" in html
    assert "How many &lt;policemen&gt; were killed?" in html
    assert 'href="https://example.org/kz?a=1&amp;b=2"' in html
    assert "2022-01-06" in html


def test_article_markup_is_shown_as_text_never_as_html() -> None:
    hostile = ARTICLE.replace("The first", "<script>alert(1)</script><img src=x onerror=alert(2)> The first")
    answer = _answer(hostile)
    html = render.sources_html(answer, turn=1)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    uncited = render.sources_html(answer, turn=1)
    assert "<i>" not in uncited and "&lt;i&gt;x&lt;/i&gt; y" in uncited


def test_uncited_passages_are_listed_folded_below_the_cited_ones() -> None:
    html = render.sources_html(_answer(), turn=1)
    folded = html.index('<details class="qa-more">')
    assert html.index('id="src-1-1"') < folded < html.index("Elsewhere")
    assert "1 more passage was retrieved but not cited" in html


def test_details_show_stage_timings_and_retrieval_scores() -> None:
    html = render.details_html(_answer())
    assert "retrieve" in html and "12 ms" in html
    assert "0.0328" in html and "0.51" in html and "1.3" in html


def test_abstention_says_so_and_cites_nothing() -> None:
    answer = Answer(question="What is the capital of Australia?", text="", answered=False,
                    passages=(_passage(0, 40),))
    assert render.answer_markdown(answer, turn=1) == render.NOT_FOUND
    html = render.sources_html(answer, turn=1)
    assert "<mark" not in html and "No passage is cited" in html
    assert "1 passage was retrieved, none cited" in html


def test_markers_become_links_to_their_cards_and_back() -> None:
    markdown = render.answer_markdown(_answer(), turn=2)
    assert '[\\[1\\]](#src-2-1 "Show source 1")' in markdown


def test_markers_that_cite_nothing_stay_plain_text() -> None:
    assert render.link_markers("see [2] and [1]", turn=1, cited=[1]) == (
        'see \\[2\\] and [\\[1\\]](#src-1-1 "Show source 1")'
    )


def test_a_streaming_draft_is_marked_unchecked_and_links_no_source() -> None:
    """While an LLM streams, its [n] are claims not yet verified: no link to a source card,
    and the note says the text is being checked; the verified answer replaces it."""
    draft = render.draft_markdown("Twelve policemen died [1].\nMore *soon* [2]")
    assert draft.startswith(render.DRAFT_NOTE)
    assert "#src-" not in draft and "Show source" not in draft
    assert "> Twelve policemen died \\[1\\]." in draft and "> More \\*soon\\* \\[2\\]" in draft
    assert render.draft_markdown("  ") == render.DRAFT_NOTE


def test_answer_text_cannot_inject_markdown_or_html() -> None:
    markdown = render.link_markers("<img src=x onerror=alert(1)> *bold* [link](javascript:x) $x$", turn=1)
    assert "<img" not in markdown
    assert "\\*bold\\*" in markdown and "\\[link\\](javascript:x)" in markdown and "\\$x\\$" in markdown


def test_context_window_stops_at_word_boundaries() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta"
    start = text.index("delta")
    lo, hi = context_window(text, start, start + len("delta"), radius=8)
    assert text[lo:hi] == "gamma delta epsilon"


def test_a_citation_without_context_shows_its_quote_alone() -> None:
    answer = _answer()
    bare = answer.citations[0].__class__(**{**answer.citations[0].to_dict(), "context": ""})
    html = render.quote_in_context(bare)
    assert html == f'<mark class="qa-quote">{QUOTE}</mark>'


def test_upload_summary_names_files_not_temporary_paths() -> None:
    summary = "0 added ... 1 failed\n  failed: /data/uploads/empty.txt: file is empty"
    assert render.upload_summary(summary, {"/data/uploads/empty.txt": "empty.txt"}).endswith(
        "failed: empty.txt: file is empty"
    )


def test_a_card_reads_like_a_source_and_keeps_numbers_in_the_details() -> None:
    from dataclasses import replace

    answer = _answer()
    answer = replace(answer, citations=(replace(answer.citations[0], author="Jane <Doe>"),))
    card = render.sources_html(answer, turn=1).split('<details class="qa-more">')[0]
    head = card.split('<div class="qa-context">')[0]
    assert ">example.org</a>" in head and "Jane &lt;Doe&gt;" in head
    assert '<time datetime="2022-01-06">6 Jan 2022</time>' in head
    assert "score" not in head and "chars" not in head and str(answer.citations[0].start) not in head
    details = render.details_html(answer)
    start = answer.citations[0].start
    assert f"<td>[1]</td><td>Riots &lt;b&gt;in&lt;/b&gt; Almaty</td><td>{start}–" in details


def test_the_short_answer_is_bold_in_the_message_and_inside_the_highlight() -> None:
    from dataclasses import replace

    from qa.models import ShortAnswer

    answer = _answer()
    citation = answer.citations[0]
    short = ShortAnswer(text="Twelve", article_id="kz", start=citation.start, end=citation.start + 6,
                        citation=1, quote_offset=0, context_offset=citation.quote_offset)
    answer = replace(answer, short=short, text=f'Twelve. "{QUOTE}." [1]')
    assert render.answer_markdown(answer, turn=1).startswith("**Twelve**. ")
    html = render.sources_html(answer, turn=1)
    assert '<mark class="qa-quote"><strong class="qa-short">Twelve</strong> policemen' in html
    # A phrase that does not sit where it says is not bolded (nothing is invented).
    wrong = replace(answer, short=replace(short, quote_offset=3))
    assert '<strong class="qa-short">' not in render.sources_html(wrong, turn=1)
