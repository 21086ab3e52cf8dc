"""Chunking pins: offset-exact slices, nothing lost, never over the model's window, stable ids."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from index.chunking import MAX_PIECE_CHARS, ChunkerConfig, chunk_text
from index.models import Chunk
from index.sentences import sentence_spans
from tests.fakes import FakeEmbedder

FAKE = FakeEmbedder()

# Pieces that stress the splitters: sentence ends, abbreviations, blank lines, odd whitespace,
# characters the real tokenizer drops (zero-width, soft hyphen, BOM, combining marks) or maps to [UNK].
_PIECES = st.sampled_from(
    [
        "The minister said.", " ", "  ", "\n", "\n\n", "\n \n\t\n", "\t", "\r\n", "\u00a0", "\u2028",
        "Mr. Smith", "e.g.", "U.S.", "?!", "...", "“Quoted.”", "unbelievably", "Zürich", "İstanbul",
        "\u200b", "\u00ad", "\ufeff", "e\u0301", "😀", "ＡＢＣ", "中文句子。", "Привет мир.", "x" * 40,
    ]
)
_TEXTS = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(_PIECES, st.text(min_size=1, max_size=12)), max_size=80).map("".join),
)


def _chunks_with(embedder: Any, text: str, max_tokens: int, overlap: int = 0) -> list[Chunk]:
    return chunk_text(
        "doc", text, config=ChunkerConfig(max_tokens=max_tokens, overlap_tokens=overlap),
        count_tokens=embedder.token_counts, token_spans=embedder.token_spans, model_name=embedder.name,
    )


def _assert_chunk_invariants(embedder: Any, text: str, chunks: list[Chunk], max_tokens: int) -> None:
    covered = [False] * len(text)
    for i, chunk in enumerate(chunks):
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip(), f"chunk {i} is blank"
        assert chunk.index == i
        assert chunk.article_id == "doc"
        spans = embedder.token_spans(chunk.text)
        assert len(spans) <= max_tokens, f"chunk {i} has {len(spans)} tokens > {max_tokens}: {chunk.text!r}"
        # An [UNK] stands for a whole word however long; it counts once per MAX_PIECE_CHARS.
        bounded = sum(-(-(b - a) // MAX_PIECE_CHARS) for a, b in spans)
        assert bounded <= max_tokens, f"chunk {i} has {bounded} bounded pieces > {max_tokens}"
        for k in range(chunk.start, chunk.end):
            covered[k] = True
    lost = [(k, ch) for k, ch in enumerate(text) if not ch.isspace() and not covered[k]]
    assert not lost, f"characters in no chunk: {lost[:10]}"
    assert len({c.id for c in chunks}) == len(chunks)


@settings(max_examples=300, deadline=None)
@given(text=_TEXTS)
@example(text="0::.?!\n0\x1b0")  # pysbd drops "?!" here
def test_sentence_spans_cover_every_non_whitespace_character(text: str) -> None:
    covered = [False] * len(text)
    for paragraph in sentence_spans(text):
        for start, end in paragraph:
            assert text[start:end] == text[start:end].strip() != ""
            for k in range(start, end):
                assert not covered[k], "sentences overlap"
                covered[k] = True
    assert all(covered[k] for k, ch in enumerate(text) if not ch.isspace())


@settings(max_examples=300, deadline=None)
@given(text=_TEXTS, max_tokens=st.integers(min_value=8, max_value=40), overlap=st.integers(0, 3))
@example(text="0::.?!\n0\x1b0", max_tokens=8, overlap=0)
def test_chunks_are_exact_covering_slices_within_the_window(text: str, max_tokens: int, overlap: int) -> None:
    chunks = _chunks_with(FAKE, text, max_tokens, overlap)
    _assert_chunk_invariants(FAKE, text, chunks, max_tokens)
    assert [c.id for c in _chunks_with(FAKE, text, max_tokens, overlap)] == [c.id for c in chunks]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_TEXTS, max_tokens=st.integers(min_value=8, max_value=24))
@example(text="\x1b0:0:0::0:", max_tokens=8)  # a character the tokenizer skips, first in a long run
# Digits glued to a full-width letter by a control character: one piece in place, several alone.
@example(text="00002:002\u00a70000000000000000000\x1f\uff21", max_tokens=8)
# The same glued into one unknown piece of 21 characters, which counts as two.
@example(text="00002:002 \u00a70000000000000000000\x1f\uff21", max_tokens=8)
def test_real_tokenizer_chunks_never_exceed_the_window(
    real_embedder: Any, text: str, max_tokens: int
) -> None:
    chunks = _chunks_with(real_embedder, text, max_tokens)
    _assert_chunk_invariants(real_embedder, text, chunks, max_tokens)


@pytest.mark.parametrize("max_tokens", [8, 32, 254])
def test_one_5000_character_sentence_is_cut_within_the_window(real_embedder: Any, max_tokens: int) -> None:
    words = ["unbelievably", "Zürich", "counter-intelligence", "e\u0301tude", "x" * 30, "42,000", "İstanbul"]
    sentence = " ".join(words[i % len(words)] + ("" if i % 5 else ",") for i in range(600))[:5000] + "."
    text = f"Headline\n\n{sentence}\n\nA short closing sentence."
    chunks = _chunks_with(real_embedder, text, max_tokens, overlap=max_tokens // 4)
    _assert_chunk_invariants(real_embedder, text, chunks, max_tokens)
    assert len(chunks) > 2


def test_long_word_piece_runs_are_cut_within_the_window(real_embedder: Any) -> None:
    # No whitespace at all: every cut falls inside a "word", where re-tokenizing can grow the count.
    text = "ab" + "qzxv" * 1500
    chunks = _chunks_with(real_embedder, text, 16)
    _assert_chunk_invariants(real_embedder, text, chunks, 16)


def test_a_200_kb_line_without_spaces_is_cut_into_chunks_within_the_window(real_embedder: Any) -> None:
    # WordPiece reads any word over 100 characters as one [UNK]: counted as one piece each,
    # the whole line used to fit in one 200 kB chunk (issue 11: 9.9 MB became 3 chunks).
    line = ("0123456789abcdef" * 12_500)[:200_000]
    text = f"Checksums\n\n{line}\n\nA short closing sentence."
    config = ChunkerConfig()
    chunks = _chunks_with(real_embedder, text, config.max_tokens, config.overlap_tokens)
    _assert_chunk_invariants(real_embedder, text, chunks, config.max_tokens)
    assert max(len(c.text) for c in chunks) <= config.max_tokens * MAX_PIECE_CHARS
    assert len(chunks) >= 200_000 // (config.max_tokens * MAX_PIECE_CHARS)


def test_the_fake_tokenizer_cuts_a_line_without_spaces_too() -> None:
    text = "x" * 50_000
    chunks = _chunks_with(FAKE, text, 16)
    _assert_chunk_invariants(FAKE, text, chunks, 16)
    assert "".join(c.text for c in chunks) == text and max(len(c.text) for c in chunks) <= 16 * 20


@pytest.mark.parametrize(
    "text",
    [
        "ardenthornscrapsumnershooterinherentlyharrisburgadaptivewonderalsprefixindustrialcomparative",
        "sparksscenariosfoxparadeanothertisalgeriagrainliquids",
    ],
)
def test_parts_of_a_cut_word_packed_together_are_recounted(real_embedder: Any, text: str) -> None:
    # Found by search: the parts fit alone, but glued back into one chunk they tokenize to 10.
    chunks = _chunks_with(real_embedder, text, 8)
    _assert_chunk_invariants(real_embedder, text, chunks, 8)


def test_whitespace_runs_and_blank_lines_stay_inside_or_outside_chunks_never_at_edges() -> None:
    text = "  \n\n\t\n   First para.   \n\n\n\n\u00a0\u2028  Second   para.\n\n   \n"
    chunks = _chunks_with(FAKE, text, 8)
    assert [c.text for c in chunks] == ["First para.   \n\n\n\n\u00a0\u2028  Second   para."]
    _assert_chunk_invariants(FAKE, text, chunks, 8)


def test_only_whitespace_gives_no_chunks() -> None:
    assert _chunks_with(FAKE, " \n\n\t \u00a0 ", 8) == []


def test_chunk_ids_are_deterministic_and_change_with_text_or_model() -> None:
    text = "One sentence here. Another one there.\n\nA new paragraph."
    first = _chunks_with(FAKE, text, 8)
    assert [c.id for c in first] == [c.id for c in _chunks_with(FAKE, text, 8)]
    assert all(c.id.startswith("doc#") for c in first)
    edited = _chunks_with(FAKE, text.replace("there", "where"), 8)
    assert {c.id for c in first} != {c.id for c in edited}
    other_model = _chunks_with(FakeEmbedder(name="another-model"), text, 8)
    assert not {c.id for c in first} & {c.id for c in other_model}


def test_paragraphs_that_fit_are_not_split_across_chunks() -> None:
    para = "Short sentence number {}."
    text = "\n\n".join(" ".join(para.format(f"{p}{s}") for s in range(3)) for p in range(4))
    # Each paragraph is 3 x 4 = 12 fake tokens; two fit in a 30-token chunk, three do not.
    chunks = _chunks_with(FAKE, text, 30)
    assert [c.text.count("\n\n") for c in chunks] == [1, 1]
