"""The short-answer reader: its weight file, token offsets, and the phrases it picks and hides."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from qa.answer.matcher import MatcherWeights
from qa.answer.reader import OnnxReader, ReaderWeights, candidate_scores, token_positions
from qa.answer.spans import (
    READER_FEATURES,
    SPAN_FEATURES,
    candidates,
    default_reader_model,
    pick,
    span_rows,
    with_reader,
)
from qa.errors import ConfigError
from tests.answer.conftest import merged_in_torch

MINISTRY = ("The Ministry of Health announced it on public TV: “About 400 have been hospitalized "
            "and 62 are in intensive care”.")
POLICE = ("Twelve policemen have been killed and 353 injured in the riots in Almaty, according to "
          "Kazakh public television.")
FORCE = ("A collective peacekeeping force from the Collective Security Treaty Organization (CSTO) has "
         "been sent to Kazakhstan for a limited period in order to stabilize and normalize the situation.")
AZIRBEK = ("“Last night extremist forces tried to assault administrative buildings, the Almaty City "
           "Police Department, district offices and police stations,” Azirbek told television.")


def test_the_weight_file_round_trips_with_its_head(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lora = MatcherWeights(base="x", rank=2, alpha=4.0, digest="", meta={"k": 1}, factors={
        "encoder.layer.3.output.dense": (rng.normal(size=(2, 4)), rng.normal(size=(4, 2)))})
    weights = ReaderWeights(lora, rng.normal(size=(2, 4)).astype(np.float32), np.array([0.5, -1.0]))
    path = tmp_path / "reader.npz"
    path.write_bytes(weights.to_bytes())
    again = ReaderWeights.load(path)
    np.testing.assert_allclose(again.head_w, weights.head_w, rtol=1e-6)
    np.testing.assert_allclose(again.head_b, [0.5, -1.0])
    assert again.lora.meta["k"] == 1 and len(again.digest) == 12
    assert set(again.lora.deltas()) == {"encoder.layer.3.output.dense.weight"}


def test_a_broken_reader_file_names_itself_and_the_refit_command(tmp_path: Path) -> None:
    bad = tmp_path / "reader.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match=r"reader\.npz.*python -m bench\.train_reader"):
        ReaderWeights.load(bad)


def test_the_shipped_reader_is_small_and_fits_the_bundled_model() -> None:
    weights = ReaderWeights.load()
    assert weights.lora.base == "sentence-transformers/all-MiniLM-L6-v2"
    assert weights.head_w.shape == (2, 384) and weights.head_b.shape == (2,)
    assert (Path(__file__).parents[2] / "qa" / "answer" / "reader-v1.npz").stat().st_size < 3_000_000
    # The trees that read its scores were fitted with them.
    assert set(READER_FEATURES) <= set(default_reader_model().features)


def test_a_phrase_maps_to_the_tokens_that_cover_it() -> None:
    # "[CLS] who ? [SEP] Twelve police ##men died [SEP]": sentence offsets of the sentence tokens.
    offsets = [(-1, -1), (-1, -1), (-1, -1), (-1, -1), (0, 6), (7, 13), (13, 16), (17, 21), (-1, -1)]
    assert token_positions(offsets, 0, 6) == (4, 4)
    assert token_positions(offsets, 7, 16) == (5, 6)  # "policemen": both word pieces
    assert token_positions(offsets, 0, 21) == (4, 7)
    assert token_positions(offsets, 30, 35) == (-1, -1)  # cut off by truncation: not seen
    start = np.array([0, 0, 0, 0, 3.0, 1.0, 0, 0, 0])
    end = np.array([0, 0, 0, 0, 2.0, 0, 1.0, 0.5, 0])

    scores = candidate_scores(start, end, offsets, [(0, 6), (7, 16), (30, 35)])
    assert scores.tolist() == [5.0, 2.0, -8.0]  # unseen: 10 below the lowest seen


def test_reader_scores_fill_their_own_columns_only() -> None:
    spans = candidates(MINISTRY)
    rows = span_rows("Which ministry gave the figures?", MINISTRY, spans)
    assert not rows[:, [SPAN_FEATURES.index(f) for f in READER_FEATURES]].any()
    scores = np.arange(len(spans), dtype=np.float64)
    filled = with_reader(rows, scores)
    col = SPAN_FEATURES.index
    assert filled[-1, col("reader_top")] == 1 and filled[:, col("reader_top")].sum() == 1
    assert filled[:, col("reader_prob")].sum() == pytest.approx(1.0)
    assert filled[-1, col("reader_gap")] == 0 and filled[0, col("reader_gap")] == -(len(spans) - 1)
    other = [k for k, f in enumerate(SPAN_FEATURES) if f not in READER_FEATURES]
    assert np.array_equal(filled[:, other], rows[:, other])


@pytest.fixture(scope="module")
def reader() -> OnnxReader:
    from index.embedder import default_cache_dir

    reader = OnnxReader(default_cache_dir())
    reader.load()
    return reader


def test_onnx_scores_match_the_merged_model_in_torch(reader: OnnxReader) -> None:
    """The exported graph is the base model plus the deltas, read as a pair: torch's logits."""
    import torch

    weights = ReaderWeights.load()
    model, tokenizer = merged_in_torch(weights.lora)
    question = "Which ministry gave the hospital figures?"
    batch = tokenizer(question, MINISTRY, return_tensors="pt", return_offsets_mapping=True)
    offsets = [(int(a), int(b)) if s == 1 else (-1, -1)
               for (a, b), s in zip(batch.pop("offset_mapping")[0].tolist(), batch.sequence_ids(0),
                                    strict=True)]
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state[0].numpy()
    logits = hidden @ weights.head_w.T + weights.head_b
    spans = [(c.start, c.end) for c in candidates(MINISTRY)]
    expected = candidate_scores(logits[:, 0], logits[:, 1], offsets, spans)
    np.testing.assert_allclose(reader.scores(question, MINISTRY, spans), expected, atol=1e-3)


@pytest.mark.parametrize(
    ("question", "sentence", "answers"),
    [
        pytest.param("Which ministry gave the hospital figures?", MINISTRY,
                     ("The Ministry of Health", "Ministry of Health"),
                     marks=pytest.mark.xfail(strict=True, reason=(
                         "reader-v1 still reads 'hospital figures' as asking for the number: it "
                         "leads with 'About 400' (p 0.74, above the floor); see BENCHMARKS.md"))),
        ("How many have been hospitalized?", MINISTRY, ("About 400", "400")),
        ("How many policemen were killed?", POLICE, ("Twelve",)),
        ("How many were injured?", POLICE, ("353",)),
        ("Where was the force sent?", FORCE, ("Kazakhstan",)),
    ],
)
def test_the_reader_picks_the_answer(reader: OnnxReader, question: str, sentence: str,
                                     answers: tuple[str, ...]) -> None:
    found = pick(question, sentence, reader=reader)
    assert found is not None and found.span.text in answers
    assert sentence[found.span.start : found.span.end] == found.span.text


def test_the_floor_hides_an_unlikely_phrase(reader: OnnxReader) -> None:
    """The sentence does not name the channel: the old trees led with "Almaty City Police
    Department"; now no phrase is shown (the answer is the sentence)."""
    question = "Which television channel did Azirbek speak to?"
    assert pick(question, AZIRBEK, reader=reader) is None
    # The same best phrase is there below the floor: it is the floor that hides it.
    assert pick(question, AZIRBEK, reader=reader, min_probability=0.0) is not None


def test_the_reader_sits_beside_the_real_model_and_can_be_switched_off(  # type: ignore[no-untyped-def]
    tmp_path: Path, real_embedder, fake_embedder
) -> None:
    from qa.assistant import Assistant
    from qa.settings import Settings

    def reader_of(assistant: Assistant) -> object:
        return assistant.chain.composers["extractive"]._reader  # type: ignore[attr-defined]

    assert isinstance(reader_of(Assistant(Settings(data_dir=tmp_path / "a"), embedder=real_embedder)),
                      OnnxReader)
    assert reader_of(Assistant(Settings(data_dir=tmp_path / "b"), embedder=fake_embedder)) is None
    off = Assistant(Settings(data_dir=tmp_path / "c", reader=False), embedder=real_embedder)
    assert reader_of(off) is None


def test_question_time_models_use_their_own_thread_counts_unless_told(  # type: ignore[no-untyped-def]
    tmp_path: Path, real_embedder, monkeypatch
) -> None:
    """The matcher reads a few short inputs per question: one intra-op thread. The reader's read
    is the longest step of an answered question: two (BENCHMARKS.md, "Two threads for the
    reader"). OMP_NUM_THREADS, when set, decides for both, up or down."""
    from qa.answer.matcher import VectorMatcher
    from qa.assistant import Assistant
    from qa.settings import Settings

    def threads(data_dir: Path) -> list[int]:
        assistant = Assistant(Settings(data_dir=data_dir), embedder=real_embedder)
        composer = assistant.chain.composers["extractive"]
        matcher, reader = composer._matcher, composer._reader  # type: ignore[attr-defined]
        assert isinstance(matcher, VectorMatcher) and isinstance(reader, OnnxReader)
        composer.load()  # type: ignore[attr-defined]
        encoders = [matcher.vectors.embedder.encoder, reader._encoder]  # type: ignore[attr-defined]
        return [e._session.get_session_options().intra_op_num_threads for e in encoders]

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads(tmp_path / "a") == [1, min(2, os.cpu_count() or 1)]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads(tmp_path / "b") == [1, 1]
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads(tmp_path / "c") == [3, 3]


def _threads_of_short(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The names of the threads the composer's short-answer step runs in, from now on."""
    import threading

    from qa.answer.extractive import ExtractiveComposer

    threads: list[str] = []
    real_short = ExtractiveComposer.short

    def short(self, question, best):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real_short(self, question, best)

    monkeypatch.setattr(ExtractiveComposer, "short", short)
    return threads


def test_the_reader_reads_ahead_beside_the_matcher_and_the_answers_stay_the_same(  # type: ignore[no-untyped-def]
    sample_assistant, monkeypatch
) -> None:
    """While the matcher chooses what to cite, the reader already reads the sentence model's best
    sentence on another thread; its phrase is used only when that sentence is the one cited."""

    from qa.answer.extractive import ExtractiveComposer

    questions = ["How many policemen were killed in Almaty?", "How many people were injured?",
                 "Who did Tokayev address directly?", "Which airport was retaken?",
                 "When did the riots start?", "What is the CSTO made up of?"]
    threads = _threads_of_short(monkeypatch)
    ahead = [sample_assistant.ask(q) for q in questions]
    assert any(name.startswith("qa-read-ahead") for name in threads)
    monkeypatch.setattr(ExtractiveComposer, "_read_ahead", lambda self, *args: (None, None))
    threads.clear()
    inline = [sample_assistant.ask(q) for q in questions]
    assert not any(name.startswith("qa-read-ahead") for name in threads)
    said = [(a.text, a.confidence, a.short) for a in ahead]
    assert said == [(a.text, a.confidence, a.short) for a in inline]
    assert any(a.short is not None for a in ahead)


def test_a_reader_not_loaded_yet_is_not_read_ahead(sample_assistant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Its first read loads it (an export, a weight file parsed): that happens in the question's
    own thread, after the matcher, never beside the matcher's own loading."""


    composer = sample_assistant.chain.composers["extractive"]
    fresh = OnnxReader(composer._reader._cache_dir, threads=1)
    monkeypatch.setattr(composer, "_reader", fresh)
    threads = _threads_of_short(monkeypatch)
    assert not fresh.loaded
    sample_assistant.ask("How many people were injured?")
    assert fresh.loaded and threads and not any(n.startswith("qa-read-ahead") for n in threads)
