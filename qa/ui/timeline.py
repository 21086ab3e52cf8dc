"""The sources panel's dated views: relative dates annotated inside the quotes, and the cited
articles on a timeline. Pure HTML (the CSS is in static/qa.css); no gradio here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from qa.models import Answer, Citation, DateMention
from qa.ui.markup import card_id, esc, iso_day, reader_date


def dated_html(text: str, offset: int, dates: Sequence[DateMention]) -> str:
    """``text`` (found at article offset ``offset``) escaped, each resolved relative date inside it
    in a ``<time>`` whose tooltip and CSS annotation give the day it means ("yesterday (5 Jan
    2022)"). The annotation is generated content (``::after``): the text itself stays the
    article's, so a copied quote is still the verified one."""
    out: list[str] = []
    last = 0
    for m in sorted(dates, key=lambda m: m.start):
        a, b = m.start - offset, m.end - offset
        if a < last or a < 0 or b > len(text) or text[a:b] != m.phrase:
            continue
        day = reader_date(m.date)
        out += [esc(text[last:a]),
                f'<time class="qa-reldate" datetime="{esc(m.date)}" data-day="{esc(day)}" '
                f'title="{esc(m.phrase)}: {esc(day)}">{esc(m.phrase)}</time>']
        last = b
    out.append(esc(text[last:]))
    return "".join(out)


def short_answer_day(answer: Answer) -> str:
    """" (1 Mar 2022)" when the short answer is a relative date ("yesterday") its citation
    resolved; "" otherwise. Shown after the bold answer phrase, outside the quoted text."""
    short = answer.short
    if short is None:
        return ""
    holder = next((c for c in answer.citations if c.n == short.citation), None)
    days = {m.date for m in (holder.dates if holder else ())
            if short.start <= m.start and m.end <= short.end}
    return f" ({reader_date(days.pop())})" if len(days) == 1 else ""


def _day_of(published: str | None) -> date | None:
    try:
        return date.fromisoformat(iso_day(published)) if published else None
    except ValueError:
        return None


def timeline_html(answer: Answer, *, turn: int) -> str:
    """The cited articles on a date axis (pure HTML and CSS), oldest left, each dot labelled with
    its citation numbers and linked to its first card; undated articles listed apart. Empty when
    no cited article has a date."""
    articles: dict[str, list[Citation]] = {}
    for c in answer.citations:
        articles.setdefault(c.article_id, []).append(c)
    days = {a: _day_of(cs[0].published) for a, cs in articles.items()}
    dated = sorted((d, a) for a, d in days.items() if d is not None)
    if not dated:
        return ""
    first, last = dated[0][0], dated[-1][0]
    span = (last - first).days

    def label(cs: list[Citation]) -> str:
        return "".join(f"[{c.n}]" for c in cs)

    dots, rows = [], []
    for day, article_id in dated:
        cs = articles[article_id]
        left = 50.0 if span == 0 else 100.0 * (day - first).days / span
        title = cs[0].title or article_id
        dots.append(
            f'<a class="qa-tl-dot" href="#{card_id(turn, cs[0].n)}" style="left: {left:.1f}%" '
            f'title="{esc(reader_date(day.isoformat()))}: {esc(title)}">{esc(label(cs))}</a>'
        )
        rows.append(
            f'<li><time datetime="{day.isoformat()}">{esc(reader_date(day.isoformat()))}</time> '
            f'<a href="#{card_id(turn, cs[0].n)}">{esc(label(cs))}</a> {esc(title)}</li>'
        )
    undated = [a for a, d in days.items() if d is None]
    apart = ""
    if undated:
        items = "".join(
            f'<li><a href="#{card_id(turn, articles[a][0].n)}">{esc(label(articles[a]))}</a> '
            f"{esc(articles[a][0].title or a)}</li>" for a in undated
        )
        apart = f'<p class="qa-note">Undated:</p><ul class="qa-tl-undated">{items}</ul>'
    ends = (f'<div class="qa-tl-ends"><span>{esc(reader_date(first.isoformat()))}</span>'
            f'<span>{esc(reader_date(last.isoformat()))}</span></div>') if span else ""
    return (
        '<details class="qa-timeline" open><summary>Timeline of the cited articles</summary>'
        f'<div class="qa-tl-axis" role="img" aria-label="cited articles by date">{"".join(dots)}</div>'
        f'{ends}<ol class="qa-tl-list">{"".join(rows)}</ol>{apart}</details>'
    )
