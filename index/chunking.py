"""Articles -> chunks sized to the embedding model's window, with exact offsets.

Chunks are built from whole sentences and prefer to break between paragraphs. A sentence longer
than the window is cut at word-piece boundaries. Each chunk is a slice of the article's text, so
``article_text[chunk.start:chunk.end] == chunk.text`` holds by construction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from index.models import Chunk
from index.sentences import Span, sentence_spans

# Bump when the chunking rules change: chunk ids include it, so a re-ingest replaces old chunks.
CHUNKER_VERSION = "c1"

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


def chunk_id(article_id: str, start: int, end: int, text: str, version: str) -> str:
    """Deterministic id: same article, span, text, chunker and model give the same id."""
    digest = hashlib.sha1(f"{article_id}\x1f{start}\x1f{end}\x1f{version}\x1f{text}".encode())
    return f"{article_id}#{start}-{end}-{digest.hexdigest()[:12]}"


def _split_long(text: str, span: Span, limit: int, token_spans: TokenSpans) -> list[Span]:
    start, end = span
    pieces = token_spans(text[start:end])
    out: list[Span] = []
    for i in range(0, len(pieces), limit):
        window = pieces[i : i + limit]
        out.append((start + window[0][0], start + window[-1][1]))
    # Keep the characters between word pieces inside the chunks so nothing is dropped.
    return [(a if k == 0 else out[k - 1][1], b) for k, (a, b) in enumerate(out)] or [span]


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
    for index, group in enumerate(_pack(_units(text, config, count_tokens, token_spans), config)):
        start, end = group[0].start, group[-1].end
        piece = text[start:end]
        chunks.append(
            Chunk(chunk_id(article_id, start, end, piece, version), article_id, index, start, end, piece)
        )
    return chunks
