"""Answers -> the HTML and Markdown the chat page shows. Pure functions; no gradio here.

Every piece of article text goes through ``html.escape`` before it reaches the page: an article
holding ``<script>`` or markup shows as text and runs nothing. Citation markers ``[n]`` in the
answer become links to ``#src-<turn>-<n>``, the id of that citation's card in the sources panel.
URLs and e-mail addresses in any text become code spans, never links: an article (or a model obeying
one) saying "visit http://evil.example/refund" shows the address as text nobody clicks by accident.
A sentence marked unsupported is shown where it stands, in italics with a "⚠ unsupported" badge.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from qa.answer.claims import links_in
from qa.answer.conflicts import asked_phrase, conflict_note
from qa.models import UNSUPPORTED_MARK, Answer, Citation, Conflict, Passage, ShortAnswer
from qa.ui.markup import card_id, esc, iso_day, passage_card_id, reader_date
from qa.ui.timeline import dated_html, short_answer_day, timeline_html

NOT_FOUND = "I could not find this in the indexed articles."
UNSUPPORTED_BADGE = "**⚠ unsupported**"
PASSAGE_PREVIEW_CHARS = 700

_MARKER = re.compile(r"\[(\d{1,3})\]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]#|~$])")


# -- the chat message ----------------------------------------------------------------------------


def escape_markdown(text: str) -> str:
    """Text from elsewhere (an article, a feed or LLM server's answer) as literal Markdown: no
    HTML, no emphasis, no images, no links (autolinks either), no math."""
    out: list[str] = []
    last = 0
    for start, end in links_in(text):
        # A code span is never linkified by any Markdown renderer; its text shows verbatim.
        out += [_escape_plain(text[last:start]), f"`{text[start:end].replace('`', '')}`"]
        last = end
    out.append(_escape_plain(text[last:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


DRAFT_NOTE = "_Checking each sentence against the articles…_"


def draft_markdown(text: str) -> str:
    """The text a composer is still streaming, shown as an unchecked draft: a note that it is
    being verified, the text greyed as a quote block, and ``[n]`` left as plain text (no link to
    a source card), because nothing in it is a verified citation yet."""
    body = escape_markdown(text).replace("\n", "\n> ")
    return f"{DRAFT_NOTE}\n\n> {body}" if text.strip() else DRAFT_NOTE


def link_markers(text: str, *, turn: int, cited: Iterable[int] | None = None) -> str:
    """Escape ``text`` for Markdown and turn each ``[n]`` (of a cited ``n``) into a link to its card."""
    wanted = None if cited is None else set(cited)
    out: list[str] = []
    last = 0
    for match in _MARKER.finditer(text):
        n = int(match.group(1))
        if wanted is not None and n not in wanted:
            continue
        out.append(escape_markdown(text[last : match.start()]))
        out.append(f'[\\[{n}\\]](#{card_id(turn, n)} "Show source {n}")')
        last = match.end()
    out.append(escape_markdown(text[last:]))
    return "".join(out)


def marked_markdown(answer: Answer, *, turn: int) -> str:
    """The answer text with linked markers, each unsupported sentence in italics with a badge."""
    cited = [c.n for c in answer.citations]
    out: list[str] = []
    last = 0
    for sentence in answer.unsupported:
        flagged = f"{sentence} {UNSUPPORTED_MARK}"
        at = answer.text.find(flagged, last)
        if at < 0:
            continue
        out.append(link_markers(answer.text[last:at], turn=turn, cited=cited))
        out.append(f"*{escape_markdown(sentence)}* {UNSUPPORTED_BADGE}")
        last = at + len(flagged)
    out.append(link_markers(answer.text[last:], turn=turn, cited=cited))
    return "".join(out)


def answer_markdown(answer: Answer, *, turn: int) -> str:
    """The final chat message: the answer with linked markers and unsupported sentences marked in
    place, and any notice or warning."""
    if not answer.answered:
        text = escape_markdown(answer.text.strip() or NOT_FOUND)
    elif answer.stories:
        text = stories_markdown(answer, turn=turn)
    elif answer.conflicts:
        text = conflicts_markdown(answer, turn=turn)
    else:
        text = marked_markdown(answer, turn=turn)
        lead = escape_markdown(answer.short.text) if answer.short else ""
        if lead and text.startswith(lead):
            # The answer phrase leads the message; it reads as the answer when it is bold.
            text = f"**{lead}**{short_answer_day(answer)}{text[len(lead):]}"
    lines = [text]
    if answer.unsupported:
        some = "sentence" if len(answer.unsupported) == 1 else f"{len(answer.unsupported)} sentences"
        lines.append(
            f"{UNSUPPORTED_BADGE}: no passage the answer cites states the {some} marked so; "
            "shown as the model wrote it, without a source."
        )
    if answer.notice:
        lines.append(f"*{escape_markdown(answer.notice)}*")
    return "\n\n".join(lines)


def _differ_markdown(conflict: Conflict, *, turn: int, cited: Sequence[int]) -> str:
    figures = " · ".join(
        f"**{escape_markdown(f.text)}** ({escape_markdown(reader_date(f.published) or 'date unknown')})"
        f" {link_markers(f'[{f.citation}]', turn=turn, cited=cited)}"
        for f in conflict.figures
    )
    return f"⚠ **Reports differ** on {escape_markdown(asked_phrase(conflict))}: {figures}"


def conflicts_markdown(answer: Answer, *, turn: int) -> str:
    """An answer whose articles disagree on the figure asked for: a "Reports differ" note with
    each figure and its article's date (newest first), then the cited sentences."""
    cited = [c.n for c in answer.citations]
    body = answer.text
    notes = []
    for conflict in answer.conflicts:
        body = body.replace(conflict_note(conflict), "", 1).strip()
        notes.append(_differ_markdown(conflict, turn=turn, cited=cited))
    return "\n\n".join([*notes, link_markers(body, turn=turn, cited=cited)])


def stories_markdown(answer: Answer, *, turn: int) -> str:
    """An answer from several stories: one line per cited sentence, in date order, each with
    the dates of the articles it cites (a generated sentence may cite more than one)."""
    cited = [c.n for c in answer.citations]
    by_n = {c.n: c for c in answer.citations}
    lines = []
    for line in answer.lines:
        days = dict.fromkeys(reader_date(by_n[n].published) or "Undated" for n in line.citations if n in by_n)
        markers = "".join(f"[{n}]" for n in line.citations)
        lines.append(f"- **{escape_markdown(', '.join(days) or 'Undated')}**: "
                     f"{link_markers(f'{line.text} {markers}', turn=turn, cited=cited)}")
    return "From several reports, in date order:\n\n" + "\n".join(lines)


def error_markdown(message: str) -> str:
    return f"**Could not answer:** {escape_markdown(message)}"


def error_html(message: str) -> str:
    """A failure shown in place of a result (evaluation, settings checks)."""
    return f'<p class="qa-error" role="alert">{esc(message)}</p>'


# -- the sources panel ---------------------------------------------------------------------------


def _source_html(source: str) -> str:
    """The outlet (a URL's host, linked) or the file's name; the whole source in the tooltip."""
    if source.startswith(("https://", "http://")):
        host = urlsplit(source).hostname or source
        host = host.removeprefix("www.")
        return (f'<a href="{esc(source)}" title="{esc(source)}" target="_blank" '
                f'rel="noopener noreferrer nofollow">{esc(host)}</a>')
    name = PurePath(source).name if ("/" in source or "\\" in source) else source
    return f'<span title="{esc(source)}">{esc(name)}</span>' if source else ""


def _byline(source: str, author: str | None, published: str | None) -> str:
    by = f'<span class="qa-author">{esc(author)}</span>' if author else ""
    when = (f'<time datetime="{esc(iso_day(published))}">{esc(reader_date(published))}</time>'
            if published else "")
    return _meta(_source_html(source), by, when)


def _meta(*parts: str) -> str:
    return '<span class="qa-sep"> · </span>'.join(p for p in parts if p)


def _holder(c: Citation, passages: Sequence[Passage]) -> Passage | None:
    return next(
        (p for p in passages if p.article_id == c.article_id and p.start <= c.start and c.end <= p.end),
        None,
    )


def _marked(c: Citation, short: ShortAnswer | None) -> str:
    """The quote in a ``<mark>``; the short answer phrase inside it in bold when it lies there;
    its relative dates annotated with the days they mean."""
    quote = c.quote
    dates = c.dates
    if short is not None and short.citation == c.n:
        at = short.quote_offset
        if quote[at : at + len(short.text)] == short.text:
            rest = at + len(short.text)
            quote_html = (f'{dated_html(quote[:at], c.start, dates)}<strong class="qa-short">'
                          f'{dated_html(short.text, c.start + at, dates)}</strong>'
                          f"{dated_html(quote[rest:], c.start + rest, dates)}")
            return f'<mark class="qa-quote">{quote_html}</mark>'
    return f'<mark class="qa-quote">{dated_html(quote, c.start, dates)}</mark>'


def quote_in_context(c: Citation, short: ShortAnswer | None = None) -> str:
    """The citation's quote in a ``<mark>`` (the answer phrase bold inside it), inside the
    context the chain kept with it; relative dates annotated with the days they mean."""
    if not c.context:
        return _marked(c, short)
    at = c.quote_offset
    before = dated_html(c.context[:at], c.context_start, c.dates)
    after_text = c.context[at + len(c.quote) :]
    after = dated_html(after_text, c.end, c.dates)
    lead = "… " if c.context_start > 0 else ""
    tail = "" if after_text.rstrip().endswith((".", "!", "?", "”", '"')) else " …"
    return f"{lead}{before}{_marked(c, short)}{after}{tail}"


def _citation_card(
    c: Citation, passages: Sequence[Passage], turn: int, short: ShortAnswer | None = None
) -> str:
    holder = _holder(c, passages)
    body = quote_in_context(c, short)
    # Scores and character offsets are for the curious: they sit in the folded details.
    meta = _byline(c.source, c.author, c.published or (holder.published if holder else None))
    return (
        f'<details class="qa-card" id="{card_id(turn, c.n)}" open>'
        f'<summary><span class="qa-n">{c.n}</span><span class="qa-head">'
        f'<span class="qa-title" title="{esc(c.title)}">{esc(c.title or c.article_id)}</span>'
        f'<span class="qa-meta">{meta}</span></span></summary>'
        f'<div class="qa-context">{body}</div>{_also(c)}</details>'
    )


def _also(c: Citation) -> str:
    """Other copies of the same story (wire copies) that were found too."""
    if not c.also_reported_by:
        return ""
    return f'<p class="qa-note">Also reported as: {esc(", ".join(c.also_reported_by))}</p>'


def _conflict_html(conflict: Conflict) -> str:
    """The sources panel's note: the articles disagree on the figure asked for."""
    figures = "; ".join(
        f"<strong>{esc(f.text)}</strong> [{f.citation}] "
        f'(<time datetime="{esc(iso_day(f.published))}">{esc(reader_date(f.published) or "date unknown")}'
        "</time>)"
        for f in conflict.figures
    )
    return f'<p class="qa-note qa-conflict" role="note">Reports differ: {figures}</p>'


def _passage_card(p: Passage, turn: int) -> str:
    preview = p.text if len(p.text) <= PASSAGE_PREVIEW_CHARS else p.text[:PASSAGE_PREVIEW_CHARS] + " …"
    meta = _byline(p.source, None, p.published)
    return (
        f'<details class="qa-card qa-uncited" id="{passage_card_id(turn, p.rank)}">'
        f'<summary><span class="qa-n qa-n-muted">#{p.rank + 1}</span>'
        f'<span class="qa-head"><span class="qa-title" title="{esc(p.title)}">'
        f"{esc(p.title or p.article_id)}</span>"
        f'<span class="qa-meta">{meta}</span></span></summary>'
        f'<div class="qa-context">{esc(preview)}</div></details>'
    )


def _uncited(answer: Answer) -> list[Passage]:
    return [p for p in answer.passages if not any(_holder(c, [p]) for c in answer.citations)]


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def details_html(answer: Answer) -> str:
    """Folded per-answer details: backend, stage timings, and every retrieved passage's scores."""
    cited = {p.chunk_id for p in answer.passages for c in answer.citations if _holder(c, [p])}
    timings = "".join(
        f"<tr><td>{esc(stage)}</td><td>{seconds * 1000:.0f} ms</td></tr>"
        for stage, seconds in answer.timings.items()
    )
    rows = "".join(
        f"<tr><td>{p.rank + 1}</td><td>{esc(p.title or p.article_id)}</td><td>{p.start}–{p.end}</td>"
        f"<td>{_num(p.score)}</td><td>{_num(p.dense_score)}</td><td>{_num(p.lexical_score)}</td>"
        f"<td>{'yes' if p.chunk_id in cited else ''}</td></tr>"
        for p in answer.passages
    )
    standalone = (
        f"<p>Searched as: “{esc(answer.standalone_question)}”</p>" if answer.standalone_question else ""
    )
    quotes = "".join(
        f"<tr><td>[{c.n}]</td><td>{esc(c.title or c.article_id)}</td><td>{c.start}–{c.end}</td>"
        f"<td>{_num(c.score)}</td><td>{c.passage_rank + 1}</td></tr>"
        for c in answer.citations
    )
    cited_table = (
        '<table class="qa-table"><thead><tr><th>Cited</th><th>Article</th><th>Chars</th><th>Score</th>'
        f"<th>Passage #</th></tr></thead><tbody>{quotes}</tbody></table>" if quotes else ""
    )
    return (
        '<details class="qa-details"><summary>Details: timings and retrieval scores</summary>'
        f"<p>Backend: {esc(answer.backend)} · confidence {answer.confidence:.2f}</p>{standalone}"
        f'<table class="qa-table"><thead><tr><th>Stage</th><th>Time</th></tr></thead>'
        f"<tbody>{timings}</tbody></table>{cited_table}"
        '<table class="qa-table"><thead><tr><th>#</th><th>Article</th><th>Chars</th><th>Fused</th>'
        f"<th>Dense</th><th>Lexical</th><th>Cited</th></tr></thead><tbody>{rows}</tbody></table>"
        "</details>"
    )


def sources_html(answer: Answer, *, turn: int) -> str:
    """One answer's block of the sources panel: cited cards, then the uncited passages, folded."""
    if answer.citations:
        cards = "".join(_citation_card(c, answer.passages, turn, answer.short) for c in answer.citations)
    else:
        cards = ('<p class="qa-empty">No passage is cited: '
                 "the indexed articles do not seem to answer this.</p>")
    cards = "".join(_conflict_html(c) for c in answer.conflicts) + cards
    uncited = _uncited(answer)
    more = ""
    if uncited:
        label = "passage was" if len(uncited) == 1 else "passages were"
        label = f"{len(uncited)} more {label} retrieved but not cited" if answer.citations else (
            f"{len(uncited)} {label} retrieved, none cited")
        more = (
            f'<details class="qa-more"><summary>{label}</summary>'
            f"{''.join(_passage_card(p, turn) for p in uncited)}</details>"
        )
    return (
        f'<section class="qa-turn" id="qa-turn-{turn}" data-turn="{turn}">'
        f'<div class="qa-turn-head"><span class="qa-asked">Sources for “{esc(answer.question)}”</span>'
        '<a class="qa-back" href="#qa-latest">Back to the latest answer</a></div>'
        f"{cards}{timeline_html(answer, turn=turn)}{more}{details_html(answer)}</section>"
    )


def panel_html(sections: Sequence[str]) -> str:
    """The whole panel: every answer's block; CSS shows the latest unless a marker pins another."""
    if not sections:
        return empty_panel_html()
    return f'<div class="qa-sources">{"".join(sections)}</div>'


def empty_panel_html(message: str = "Ask a question: the passages its answer cites appear here, "
                     "with the quoted words highlighted.") -> str:
    return f'<div class="qa-sources"><p class="qa-empty">{esc(message)}</p></div>'


# -- the articles tab ----------------------------------------------------------------------------


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def article_choices(records: Iterable[Any]) -> list[tuple[str, str]]:
    """``(label, id)`` pairs for pickers: a short title and the id."""
    return [(f"{_short(r.title or r.id, 60)} ({r.id})", r.id) for r in records]


def articles_html(records: Sequence[Any]) -> str:
    """The indexed articles as a table: title, id, source, published date, chunks."""
    if not records:
        return '<p class="qa-empty">No articles indexed yet: add some above.</p>'
    rows = "".join(
        f'<tr><td class="qa-title-cell" title="{esc(r.title)}">{esc(_short(r.title or r.id, 140))}</td>'
        f"<td><code>{esc(r.id)}</code></td><td>{_source_html(r.source)}</td>"
        f"<td>{esc(iso_day(r.published)) or '–'}</td><td>{r.chunks}</td></tr>"
        for r in records
    )
    total = sum(r.chunks for r in records)
    return (
        f'<table class="qa-table qa-articles"><caption>{len(records)} article(s), {total} chunks</caption>'
        "<thead><tr><th>Title</th><th>Id</th><th>Source</th><th>Published</th><th>Chunks</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def table_html(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str = "Nothing to show.",
               caption: str = "") -> str:
    """A plain escaped table (evaluation metrics and failures)."""
    if not rows:
        return f'<p class="qa-empty">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<table class="qa-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def upload_summary(summary: str, names: Mapping[str, str]) -> str:
    """An ``IngestReport.summary()`` with temporary upload paths shown as the files' own names."""
    for path, name in sorted(names.items(), key=lambda kv: -len(kv[0])):
        summary = summary.replace(path, name)
    return summary
