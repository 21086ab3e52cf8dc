"""Articles -> chunks sized to the embedding model's window, with exact offsets.

Chunks are built from whole sentences and prefer to break between paragraphs. A sentence longer
than the window is cut at word-piece boundaries, and no piece counts for more than
``MAX_PIECE_CHARS`` characters, so text without spaces is cut too. Each chunk is a slice of the
article's text, so ``article_text[chunk.start:chunk.end] == chunk.text`` holds by construction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from index.models import Chunk
from index.sentences import Span, sentence_spans

# Bump when the chunking rules change: chunk ids include it, so a re-ingest replaces old chunks.
CHUNKER_VERSION = "c2"

TokenCounter = Callable[[Sequence[str]], list[int]]
TokenSpans = Callable[[str], list[Span]]

# WordPiece reads a word it cannot split (over 100 characters, or of characters outside its
# vocabulary) as one [UNK] for the whole word; its longest real piece is 18 characters. Counted
# as one piece, a megabyte without spaces filled one chunk (issue 11), so a piece counts once
# per this many characters, and no chunk is longer than max_tokens times this.
MAX_PIECE_CHARS = 20
# A run the tokenizer may read as one word: it splits only on spaces, tabs, line ends and
# Unicode space separators (Zs); other control characters ("\x1f") are dropped, gluing the
# words on either side into one.
_LONG_RUN = re.compile(
    rf"[^ \t\n\r\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]{{{MAX_PIECE_CHARS + 1},}}"
)


@dataclass(frozen=True)
class ChunkerConfig:
    """How big chunks are (in word pieces of the embedding model) and how much they overlap."""

    max_tokens: int = 254
    overlap_tokens: int = 48

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise ValueError(f"max_tokens must be at least 8, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ValueError(
                f"overlap_tokens must be between 0 and max_tokens/2, got {self.overlap_tokens}"
            )


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    paragraph: int
    first_in_paragraph: bool


def chunk_id(article_id: str, text: str, version: str, occurrence: int = 0) -> str:
    """Deterministic id from the chunk's text, not its offsets: an edit above a chunk moves it
    but keeps its id, so a re-ingest re-embeds only chunks whose text changed. ``occurrence``
    tells apart identical chunks of one article."""
    digest = hashlib.sha1(f"{article_id}\x1f{version}\x1f{occurrence}\x1f{text}".encode())
    return f"{article_id}#{digest.hexdigest()[:16]}"


def _trim(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _window_end(text: str, pieces: list[Span], i: int, limit: int) -> int:
    """Where a window of at most ``limit`` pieces from ``i`` ends: at whitespace if it has any."""
    j = min(i + limit, len(pieces))
    if j == len(pieces):
        return j
    for k in range(j, i + max(1, limit // 2), -1):
        if any(ch.isspace() for ch in text[pieces[k - 1][1] : pieces[k][0]]):
            return k
    return j


def _bounded(spans: list[Span]) -> list[Span]:
    """Pieces longer than ``MAX_PIECE_CHARS`` cut into pieces of at most that many characters."""
    if all(b - a <= MAX_PIECE_CHARS for a, b in spans):
        return spans
    out: list[Span] = []
    for a, b in spans:
        while b - a > MAX_PIECE_CHARS:
            out.append((a, a + MAX_PIECE_CHARS))
            a += MAX_PIECE_CHARS
        out.append((a, b))
    return out


def _bounded_tokens(count: TokenCounter, spans: TokenSpans) -> tuple[TokenCounter, TokenSpans]:
    """The model's counter and spans, with no piece counted for more than ``MAX_PIECE_CHARS``.

    Only a text with a run of more non-space characters than that can hold such a piece, so
    the others are counted in one batch as before.
    """

    def bounded_spans(text: str) -> list[Span]:
        return _bounded(spans(text))

    def bounded_count(texts: Sequence[str]) -> list[int]:
        long = {i for i, t in enumerate(texts) if _LONG_RUN.search(t)}
        if not long:
            return count(texts)
        plain = [i for i in range(len(texts)) if i not in long]
        counts = [len(bounded_spans(t)) if i in long else 0 for i, t in enumerate(texts)]
        for i, n in zip(plain, count([texts[i] for i in plain]) if plain else [], strict=True):
            counts[i] = n
        return counts

    return bounded_count, bounded_spans


def _split_long(text: str, span: Span, limit: int, token_spans: TokenSpans) -> list[tuple[Span, int]]:
    """Cut an over-long sentence between word pieces into parts of at most ``limit`` pieces.

    Parts cover the whole span (characters the tokenizer skips stay in). Each part is counted
    again on its own: a word cut in two, or a piece cut from what followed it, can tokenize into
    more pieces than it had in place. Returns each part with its count.
    """
    start, end = span
    pieces = [(start + a, start + b) for a, b in token_spans(text[start:end])]
    out: list[tuple[Span, int]] = []
    lo, i = start, 0
    while i < len(pieces):
        j = _window_end(text, pieces, i, limit)
        hi = end if j == len(pieces) else pieces[j][0]
        # Counted again on its own: pieces depend on their neighbours, and not only across a
        # cut word (digits, a control character and a full-width letter are one unknown piece
        # in place; the digits alone are several).
        n = len(token_spans(text[lo:hi]))
        while j > i + 1 and n > limit:
            # Step back by the excess (at least one piece), then count again.
            j = max(i + 1, j - max(1, n - limit))
            hi = pieces[j][0]
            n = len(token_spans(text[lo:hi]))
        part = _trim(text, lo, hi)
        if part:
            out.append((part, n))
        lo, i = hi, j
    return out or [(span, len(pieces))]


def _units(text: str, config: ChunkerConfig, count: TokenCounter, spans: TokenSpans) -> list[_Unit]:
    paragraphs = sentence_spans(text)
    flat = [(p, i == 0, s) for p, sents in enumerate(paragraphs) for i, s in enumerate(sents)]
    # A sentence too long to fit in any chunk goes straight to the cutter, which counts it anyway.
    too_long = config.max_tokens * MAX_PIECE_CHARS * 2
    short = [text[a:b] for _, _, (a, b) in flat if b - a <= too_long]
    counts = iter(count(short) if short else [])
    units: list[_Unit] = []
    for paragraph, first, span in flat:
        tokens = next(counts) if span[1] - span[0] <= too_long else config.max_tokens + 1
        if tokens <= config.max_tokens:
            units.append(_Unit(span[0], span[1], tokens, paragraph, first))
            continue
        for k, ((a, b), piece_tokens) in enumerate(_split_long(text, span, config.max_tokens, spans)):
            units.append(_Unit(a, b, piece_tokens, paragraph, first and k == 0))
    return units


def _paragraph_tokens(units: list[_Unit], i: int) -> int:
    paragraph = units[i].paragraph
    return sum(u.tokens for u in units[i:] if u.paragraph == paragraph)


def _pack(units: list[_Unit], config: ChunkerConfig) -> list[list[_Unit]]:
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = 0
    for i, unit in enumerate(units):
        fits = size + unit.tokens <= config.max_tokens
        # Break before a paragraph that would not fit whole, when it would fit in a fresh chunk.
        paragraph_break = (
            current
            and unit.first_in_paragraph
            and size + _paragraph_tokens(units, i) > config.max_tokens
            and _paragraph_tokens(units, i) <= config.max_tokens
        )
        if current and (not fits or paragraph_break):
            groups.append(current)
            carry: list[_Unit] = []
            if not unit.first_in_paragraph:
                # Overlap only inside a paragraph: trailing sentences that share its context.
                for prev in reversed(current[1:]):
                    if sum(u.tokens for u in carry) + prev.tokens > config.overlap_tokens:
                        break
                    if sum(u.tokens for u in carry) + prev.tokens + unit.tokens > config.max_tokens:
                        break
                    carry.insert(0, prev)
            current, size = carry, sum(u.tokens for u in carry)
        current.append(unit)
        size += unit.tokens
    if current:
        groups.append(current)
    return groups


def _refit(
    text: str, groups: list[list[_Unit]], config: ChunkerConfig, count: TokenCounter
) -> list[list[_Unit]]:
    """Re-count chunks whose units touch without whitespace (parts of one cut word).

    Token counts add up across whitespace, but a word glued back together can tokenize into
    more pieces than its parts did; such a chunk is split where its units touch.
    """
    glued = [g for g in groups if any(a.end == b.start for a, b in pairwise(g))]
    if not glued:
        return groups
    too_big = {
        id(g) for g, n in zip(glued, count([text[g[0].start : g[-1].end] for g in glued]), strict=True)
        if n > config.max_tokens
    }
    out: list[list[_Unit]] = []
    for group in groups:
        if id(group) not in too_big:
            out.append(group)
            continue
        out.append([group[0]])
        for prev, unit in pairwise(group):
            if prev.end == unit.start:
                out.append([unit])
            else:
                out[-1].append(unit)
    return out


def chunk_text(
    article_id: str,
    text: str,
    *,
    config: ChunkerConfig,
    count_tokens: TokenCounter,
    token_spans: TokenSpans,
    model_name: str = "",
) -> list[Chunk]:
    """Split one article's text into chunks of whole sentences with exact offsets."""
    version = f"{CHUNKER_VERSION}:{model_name}:{config.max_tokens}:{config.overlap_tokens}"
    count_tokens, token_spans = _bounded_tokens(count_tokens, token_spans)
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    groups = _pack(_units(text, config, count_tokens, token_spans), config)
    for index, group in enumerate(_refit(text, groups, config, count_tokens)):
        start, end = group[0].start, group[-1].end
        piece = text[start:end]
        occurrence = seen[piece] = seen.get(piece, -1) + 1
        chunk = chunk_id(article_id, piece, version, occurrence)
        chunks.append(Chunk(chunk, article_id, index, start, end, piece))
    return chunks
