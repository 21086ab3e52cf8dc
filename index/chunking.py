"""Articles -> chunks sized to the embedding model's window, with exact offsets.

Chunks are built from whole sentences and prefer to break between paragraphs. A sentence longer
than the window is cut at word-piece boundaries. Each chunk is a slice of the article's text, so
``article_text[chunk.start:chunk.end] == chunk.text`` holds by construction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from index.models import Chunk
from index.sentences import Span, sentence_spans

# Bump when the chunking rules change: chunk ids include it, so a re-ingest replaces old chunks.
CHUNKER_VERSION = "c2"

TokenCounter = Callable[[Sequence[str]], list[int]]
TokenSpans = Callable[[str], list[Span]]


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


def _split_long(text: str, span: Span, limit: int, token_spans: TokenSpans) -> list[Span]:
    """Cut an over-long sentence between word pieces into parts of at most ``limit`` pieces.

    Parts cover the whole span (characters the tokenizer skips stay in), and each part is
    re-counted: a word cut in two can tokenize into more pieces than it had in place.
    """
    start, end = span
    pieces = [(start + a, start + b) for a, b in token_spans(text[start:end])]
    out: list[Span] = []
    lo, i = start, 0
    while i < len(pieces):
        j = _window_end(text, pieces, i, limit)
        hi = end if j == len(pieces) else pieces[j][0]
        while j > i + 1 and len(token_spans(text[lo:hi])) > limit:
            j -= 1
            hi = pieces[j][0]
        part = _trim(text, lo, hi)
        if part:
            out.append(part)
        lo, i = hi, j
    return out or [span]


def _units(text: str, config: ChunkerConfig, count: TokenCounter, spans: TokenSpans) -> list[_Unit]:
    paragraphs = sentence_spans(text)
    flat = [(p, i == 0, s) for p, sents in enumerate(paragraphs) for i, s in enumerate(sents)]
    counts = count([text[a:b] for _, _, (a, b) in flat]) if flat else []
    units: list[_Unit] = []
    for (paragraph, first, span), tokens in zip(flat, counts, strict=True):
        if tokens <= config.max_tokens:
            units.append(_Unit(span[0], span[1], tokens, paragraph, first))
            continue
        for k, (a, b) in enumerate(_split_long(text, span, config.max_tokens, spans)):
            piece_tokens = len(spans(text[a:b]))
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
