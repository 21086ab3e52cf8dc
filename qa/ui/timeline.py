"""The sources panel's dated views: relative dates annotated inside the quotes, and the cited
articles (and the retrieved ones the answer does not cite, marked apart) on a timeline. Pure HTML
(the CSS is in static/qa.css); no gradio here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from qa.models import Answer, Citation, DateMention, Passage
from qa.ui.markup import card_id, esc, iso_day, passage_card_id, reader_date


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


def _uncited_articles(answer: Answer) -> dict[str, Passage]:
    """The best retrieved passage of each article the answer does not cite (ranks as retrieved)."""
    cited = {c.article_id for c in answer.citations}
    out: dict[str, Passage] = {}
    for p in sorted(answer.passages, key=lambda p: p.rank):
        if p.article_id not in cited:
            out.setdefault(p.article_id, p)
    return out


def timeline_html(answer: Answer, *, turn: int) -> str:
    """The articles behind an answer on a date axis (pure HTML and CSS), oldest left: each cited
    article a dot labelled with its citation numbers and linked to its first card; each dated
    article that was retrieved but not cited a hollow dot labelled with its passage's rank ("#4",
    as in the "retrieved but not cited" list) and linked to that passage's card, so a newer report
    the answer does not use is seen, never taken for a source. Undated cited articles are listed
    apart (undated uncited ones only in the passage list). Empty when the answer cites nothing or
    no cited article has a date."""
    articles: dict[str, list[Citation]] = {}
    for c in answer.citations:
        articles.setdefault(c.article_id, []).append(c)
    days = {a: _day_of(cs[0].published) for a, cs in articles.items()}
    dated = sorted((d, a) for a, d in days.items() if d is not None)
    if not dated:
        return ""
    uncited = [(day, p) for p in _uncited_articles(answer).values()
               if (day := _day_of(p.published)) is not None]
    every = [d for d, _ in dated] + [d for d, _ in uncited]
    first, last = min(every), max(every)
    span = (last - first).days

    def label(cs: list[Citation]) -> str:
        return "".join(f"[{c.n}]" for c in cs)

    def left(day: date) -> str:
        return f"{50.0 if span == 0 else 100.0 * (day - first).days / span:.1f}%"

    dots, rows = [], []
    entries = [(day, 0, article_id) for day, article_id in dated]
    entries += [(day, 1, p.article_id) for day, p in uncited]
    passages = {p.article_id: p for _, p in uncited}
    for day, kind, article_id in sorted(entries):
        when = esc(reader_date(day.isoformat()))
        if kind == 0:
            cs = articles[article_id]
            title, href, text = cs[0].title or article_id, card_id(turn, cs[0].n), label(cs)
            cls, note = "", ""
        else:
            p = passages[article_id]
            title, href, text = p.title or article_id, passage_card_id(turn, p.rank), f"#{p.rank + 1}"
            cls, note = " qa-tl-uncited", " (retrieved, not cited)"
        dots.append(
            f'<a class="qa-tl-dot{cls}" href="#{href}" style="left: {left(day)}" '
            f'title="{when}: {esc(title)}{note}">{esc(text)}</a>'
        )
        row_class = f' class="{cls.strip()}"' if cls else ""
        rows.append(
            f'<li{row_class}><time datetime="{day.isoformat()}">{when}</time> '
            f'<a href="#{href}">{esc(text)}</a> {esc(title)}{esc(note)}</li>'
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
    summary = "Timeline of the cited articles"
    if uncited:
        more = "article" if len(uncited) == 1 else "articles"
        summary += f" and {len(uncited)} retrieved, not cited, {more} (hollow)"
    return (
        f'<details class="qa-timeline" open><summary>{summary}</summary>'
        f'<div class="qa-tl-axis" role="img" aria-label="cited and retrieved articles by date">'
        f'{"".join(dots)}</div>'
        f'{ends}<ol class="qa-tl-list">{"".join(rows)}</ol>{apart}</details>'
    )
