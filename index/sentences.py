"""Paragraph and sentence boundaries as exact character spans (pysbd does the splitting).

Every span is ``(start, end)`` into the original text with no leading or trailing whitespace, so
``text[start:end]`` is the sentence exactly as written; answers quote these spans verbatim.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import metadata

import pysbd

Span = tuple[int, int]

# Bump when the rules below change: sentence spans kept on disk (``qa.answer.sentence_store``)
# are keyed by ``splitter_version()``, which also names pysbd's own version.
_RULES = "1"


@lru_cache(maxsize=1)
def splitter_version() -> str:
    """Names what ``sentence_spans_in`` does: these rules and the installed pysbd."""
    try:
        pysbd_version = metadata.version("pysbd")
    except metadata.PackageNotFoundError:  # pragma: no cover - a hard dependency
        pysbd_version = "unknown"
    return f"rules-{_RULES}:pysbd-{pysbd_version}"

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
# pysbd is slow on very long unpunctuated runs; past this size a block is cut at whitespace first.
_MAX_BLOCK = 20_000
_NO_PROSE = 1_000
_SPACE = re.compile(r"\s")


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=False)


def _strip(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def paragraph_spans(text: str) -> list[Span]:
    """Blocks of text separated by blank lines."""
    spans: list[Span] = []
    cursor = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        span = _strip(text, cursor, match.start())
        if span:
            spans.append(span)
        cursor = match.end()
    last = _strip(text, cursor, len(text))
    if last:
        spans.append(last)
    return spans


def _blocks(text: str, start: int, end: int) -> list[Span]:
    """Cut an over-long paragraph at whitespace so the splitter's cost stays linear."""
    blocks: list[Span] = []
    while end - start > _MAX_BLOCK:
        cut = text.rfind(" ", start + _MAX_BLOCK // 2, start + _MAX_BLOCK)
        cut = cut if cut > start else start + _MAX_BLOCK
        blocks.append((start, cut))
        start = cut
    blocks.append((start, end))
    return blocks


def _segment(block: str) -> list[str]:
    r"""``Segmenter.segment(block)`` (clean=False): pysbd's sentences with trailing whitespace.

    pysbd finds each sentence back in the text with ``re.finditer(re.escape(sentence) + r"\s*")``:
    one fresh regex per sentence, which also evicts its ~600 rule patterns from the stdlib's
    512-entry compile cache. That was a third of its time; ``str.find`` does the same search.
    """
    if not block:
        return []
    found: list[str] = []
    prior_end = 0
    for sentence in _segmenter().processor(block).process():
        pos = 0
        while (at := block.find(sentence, pos)) >= 0:
            end = at + len(sentence)
            while end < len(block) and block[end].isspace():
                end += 1
            if end > prior_end:
                found.append(block[at:end])
                prior_end = end
                break
            pos = end if end > at else at + 1
    return found


def sentence_spans_in(text: str, start: int, end: int) -> list[Span]:
    """Sentences of ``text[start:end]`` as spans into ``text``."""
    spans: list[Span] = []
    for block_start, block_end in _blocks(text, start, end):
        block = text[block_start:block_end]
        if len(block) > _NO_PROSE and not _SPACE.search(block):
            # Thousands of characters without a space are no prose (an encoded blob, a hash, a
            # run of symbols); pysbd takes seconds on each block of them. The chunker cuts them.
            spans.append((block_start, block_end))
            continue
        cursor = 0
        for sentence in _segment(block):
            piece = sentence.strip()
            if not piece:
                continue
            found = block.find(piece, cursor)
            if found < 0:
                # The splitter altered the text (it should not with clean=False): keep the rest
                # of the block as one sentence rather than invent offsets.
                break
            # pysbd sometimes drops characters between sentences (e.g. "0::.?!\n0" loses "?!"):
            # keep them, with the sentence that follows, so no text falls outside every span.
            begin = cursor if block[cursor:found].strip() else found
            cursor = found + len(piece)
            span = _strip(text, block_start + begin, block_start + cursor)
            if span:
                spans.append(span)
        rest = _strip(text, block_start + cursor, block_end)
        if rest:
            spans.append(rest)
    return spans


def sentence_spans(text: str) -> list[list[Span]]:
    """Sentences of each paragraph of ``text``: one list of spans per paragraph."""
    return [sentence_spans_in(text, a, b) for a, b in paragraph_spans(text)]
