"""The sources panel's dates: relative dates annotated beside the verified quote, and the timeline."""

from __future__ import annotations

import re
from dataclasses import replace

from qa.models import Answer, Citation, DateMention, Passage, ShortAnswer
from qa.ui import render

ARTICLE = "Protesters stormed buildings yesterday. Twelve policemen died on Tuesday, officials said."
QUOTE = "Twelve policemen died on Tuesday, officials said."


def _citation(n: int = 1, *, article_id: str = "kz", published: str | None = "2022-01-06",
              title: str = "Riots") -> Citation:
    start = ARTICLE.index(QUOTE)
    tuesday = ARTICLE.index("on Tuesday")
    return Citation(
        n=n, article_id=article_id, title=title, source="kz.txt", start=start, end=start + len(QUOTE),
        quote=QUOTE, score=0.9, published=published, context=ARTICLE, context_start=0,
        author="Ann Lee",
        dates=(DateMention("yesterday", 29, 38, "2022-01-05"),
               DateMention("on Tuesday", tuesday, tuesday + 10, "2022-01-04", in_quote=True)),
    )


def _answer(*citations: Citation) -> Answer:
    return Answer(question="How many died?", text="Twelve. [1]", answered=True, citations=citations)


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_relative_dates_are_annotated_and_the_quote_text_is_unchanged() -> None:
    c = _citation()
    html = render.quote_in_context(c)
    assert ('<time class="qa-reldate" datetime="2022-01-05" data-day="5 Jan 2022" '
            'title="yesterday: 5 Jan 2022">yesterday</time>') in html
    assert 'datetime="2022-01-04"' in html
    mark = re.search(r'<mark class="qa-quote">(.*?)</mark>', html)
    assert mark and _text(mark.group(1)) == QUOTE  # the annotation is CSS, not text
    assert _text(html).removesuffix(" …") == ARTICLE


def test_dates_inside_the_bold_short_answer_split_cleanly() -> None:
    c = _citation()
    at = QUOTE.index("Tuesday")
    short = ShortAnswer("Tuesday", "kz", c.start + at, c.start + at + 7, 1, at, at)
    html = render.quote_in_context(c, short)
    assert '<strong class="qa-short">Tuesday</strong>' in html
    # "on Tuesday" straddles the bold phrase: shown plainly rather than cut in two.
    assert 'datetime="2022-01-04"' not in html and _text(html).removesuffix(" …") == ARTICLE


def test_a_mention_that_does_not_match_the_text_is_not_shown() -> None:
    c = replace(_citation(), dates=(DateMention("yesterday", 0, 9, "2022-01-05"),))
    assert "qa-reldate" not in render.quote_in_context(c)


def test_card_byline_shows_date_and_author() -> None:
    html = render.sources_html(_answer(_citation()), turn=2)
    assert '<span class="qa-author">Ann Lee</span>' in html
    assert '<time datetime="2022-01-06">6 Jan 2022</time>' in html


def test_timeline_places_dated_articles_on_an_axis_and_lists_undated_apart() -> None:
    answer = _answer(_citation(1, article_id="a", published="2022-01-06"),
                     _citation(2, article_id="b", published="2022-01-16T08:00:00", title="<b>Later</b>"),
                     _citation(3, article_id="a", published="2022-01-06"),
                     _citation(4, article_id="c", published=None, title="Undated"))
    html = render.timeline_html(answer, turn=5)
    assert 'href="#src-5-1" style="left: 0.0%"' in html and ">[1][3]</a>" in html
    assert 'href="#src-5-2" style="left: 100.0%"' in html
    listed = re.search(r'<ol class="qa-tl-list">(.*?)</ol>', html)
    assert listed and _text(listed.group(1)).index("6 Jan") < _text(listed.group(1)).index("16 Jan")
    assert "&lt;b&gt;Later&lt;/b&gt;" in html and "<b>" not in html
    assert "Undated:" in html and '<a href="#src-5-4">[4]</a> Undated' in html
    assert html in render.sources_html(answer, turn=5)


def test_one_date_sits_in_the_middle_and_no_date_means_no_timeline() -> None:
    one = render.timeline_html(_answer(_citation()), turn=1)
    assert 'style="left: 50.0%"' in one and "qa-tl-ends" not in one
    undated = _answer(_citation(published=None))
    assert render.timeline_html(undated, turn=1) == ""
    assert "qa-timeline" not in render.sources_html(undated, turn=1)
    assert render.timeline_html(Answer("q", "not found", False), turn=1) == ""


def test_a_relative_short_answer_is_followed_by_its_day_in_the_chat() -> None:
    c = _citation()
    at = QUOTE.index("on Tuesday")
    short = ShortAnswer("on Tuesday", "kz", c.start + at, c.start + at + 10, 1, at, at)
    answer = replace(_answer(c), text=f'on Tuesday. "{QUOTE}" [1]', short=short)
    assert render.answer_markdown(answer, turn=1).startswith("**on Tuesday** (4 Jan 2022). ")
    plain = replace(answer, citations=(replace(c, dates=()),))
    assert render.answer_markdown(plain, turn=1).startswith("**on Tuesday**. ")


def _retrieved(article_id: str, rank: int, published: str | None, title: str) -> Passage:
    return Passage(chunk_id=f"{article_id}:0", article_id=article_id, title=title, source="x.txt",
                   published=published, start=0, end=len(ARTICLE), text=ARTICLE, score=0.5, rank=rank)


def test_retrieved_articles_the_answer_does_not_cite_are_on_the_timeline_marked_apart() -> None:
    """A newer report was retrieved but not cited: it is on the axis (which now reaches its day),
    hollow, labelled with its passage's rank and linked to its card, never as a citation."""
    cited = _citation(1, article_id="a", published="2022-01-06")
    answer = replace(_answer(cited), passages=(
        _retrieved("a", 0, "2022-01-06", "Riots"), _retrieved("b", 1, "2022-01-16", "Curfew lifted"),
        _retrieved("b", 2, "2022-01-16", "Curfew lifted"), _retrieved("c", 3, None, "Undated story")))
    html = render.timeline_html(answer, turn=4)
    assert 'class="qa-tl-dot" href="#src-4-1" style="left: 0.0%"' in html
    assert ('<a class="qa-tl-dot qa-tl-uncited" href="#src-4-p2" style="left: 100.0%" '
            'title="16 Jan 2022: Curfew lifted (retrieved, not cited)">#2</a>') in html
    assert html.count("qa-tl-uncited") == 2  # one dot and one list line for article b
    assert "Undated story" not in html and "1 retrieved, not cited, article" in html
    sources = render.sources_html(answer, turn=4)
    assert 'id="src-4-p2"' in sources and html in sources
    # Nothing cited: no timeline, whatever was retrieved.
    assert render.timeline_html(replace(answer, citations=(), answered=False), turn=4) == ""
