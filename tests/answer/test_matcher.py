"""The answer step's matcher: its weight file, its ONNX export, and what it matches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.answer.matcher import MatcherWeights, VectorMatcher
from qa.errors import ConfigError
from tests.answer.conftest import merged_in_torch


def _tiny(seed: int = 0) -> MatcherWeights:
    rng = np.random.default_rng(seed)
    factors = {"encoder.layer.0.attention.self.query": (rng.normal(size=(2, 4)), rng.normal(size=(4, 2)))}
    return MatcherWeights(base="x", rank=2, alpha=4.0, factors=factors, digest="", meta={"k": 1})


def test_the_weight_file_round_trips_and_gives_low_rank_deltas() -> None:
    weights = _tiny()
    again = MatcherWeights.from_bytes(weights.to_bytes())
    assert (again.base, again.rank, again.alpha, again.meta["k"]) == ("x", 2, 4.0, 1)
    assert len(again.digest) == 12
    a, b = weights.factors["encoder.layer.0.attention.self.query"]
    delta = again.deltas()["encoder.layer.0.attention.self.query.weight"]
    # Stored in float16: the delta is alpha / rank * B @ A to that precision.
    np.testing.assert_allclose(delta, 2.0 * b @ a, atol=2e-2)
    assert np.linalg.matrix_rank(delta) == 2


def test_a_broken_weight_file_names_itself_and_the_refit_command(tmp_path: Path) -> None:
    bad = tmp_path / "matcher.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match=r"matcher\.npz.*python -m bench\.train_matcher"):
        MatcherWeights.load(bad)


def test_the_shipped_matcher_is_small_and_fits_the_bundled_model() -> None:
    weights = MatcherWeights.load()
    assert weights.base == "sentence-transformers/all-MiniLM-L6-v2"
    # 6 layers x 6 projections, every one low-rank: a delta file, not a model.
    assert len(weights.factors) == 36
    assert all(a.shape[0] == weights.rank == b.shape[1] for a, b in weights.factors.values())
    assert (Path(__file__).parents[2] / "qa" / "answer" / "matcher-v1.npz").stat().st_size < 2_000_000


@pytest.fixture(scope="module")
def matcher() -> VectorMatcher:
    from index.embedder import default_cache_dir

    matcher = VectorMatcher(default_cache_dir())
    matcher.load()
    return matcher


def test_onnx_vectors_match_the_merged_model_in_torch(matcher: VectorMatcher) -> None:
    """The exported graph is the base model plus the deltas: the same vectors as transformers."""
    import torch
    from transformers import AutoModel

    from index.embedder import local_model_folder

    weights = MatcherWeights.load()
    model, tokenizer = merged_in_torch(weights)
    texts = ["How many law enforcement officers died?", "Twelve policemen have been killed."]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    expected = float(pooled[1] @ pooled[0])
    assert matcher.score(texts[0], [texts[1]])[0] == pytest.approx(expected, abs=1e-4)
    # ... and not the base model's: the deltas were applied.
    base = AutoModel.from_pretrained(str(local_model_folder(weights.base))).eval()
    with torch.no_grad():
        plain = (base(**batch).last_hidden_state * mask).sum(1) / mask.sum(1)
    plain = torch.nn.functional.normalize(plain, dim=-1).numpy()
    assert abs(float(plain[1] @ plain[0]) - expected) > 1e-3


def test_it_puts_the_answer_above_sentences_on_the_same_topic(matcher: VectorMatcher) -> None:
    """The answer shares no content word with the question; the others share several."""
    question = "How many law enforcement officers died in the unrest?"
    sentences = [
        "Twelve policemen have been killed and 353 injured, the interior ministry said.",
        "The unrest began in the west of the country over fuel prices.",
        "Law enforcement agencies said the situation in the city was now under control.",
        "The president said officers would restore order after the unrest.",
    ]
    assert int(np.argmax(matcher.score(question, sentences))) == 0


def test_the_matcher_sits_beside_the_real_model_and_can_be_switched_off(  # type: ignore[no-untyped-def]
    tmp_path: Path, real_embedder, fake_embedder
) -> None:
    from qa.assistant import Assistant
    from qa.settings import Settings
    from tests.conftest import SAMPLE_ARTICLE

    def matcher_of(assistant: Assistant) -> object:
        return assistant.chain.composers["extractive"]._matcher  # type: ignore[attr-defined]

    assert isinstance(matcher_of(Assistant(Settings(data_dir=tmp_path / "a"), embedder=real_embedder)),
                      VectorMatcher)
    # A test's fake embedder gets no matcher (nothing real to match with).
    assert matcher_of(Assistant(Settings(data_dir=tmp_path / "b"), embedder=fake_embedder)) is None
    off = Assistant(Settings(data_dir=tmp_path / "c", matcher=False), embedder=real_embedder)
    assert matcher_of(off) is None
    off.ingest([SAMPLE_ARTICLE])
    answer = off.ask("How many policemen were killed in Almaty?")
    assert answer.answered and "Twelve policemen" in answer.text


def test_the_shipped_answer_model_was_fitted_on_the_shipped_matcher() -> None:
    """Refitting the matcher without refitting the chooser would skew which sentence is cited."""
    from qa.answer.model import AnswererModel

    model = AnswererModel.load()
    assert model.chooser is not None and "match" in model.chooser.features
    assert model.meta.get("matcher") == MatcherWeights.load().digest
    # The sentence and confidence models decide whether to answer, without the matcher.
    assert "match" not in model.sentence.features
    assert not any("match" in f for f in model.confidence.features)


def test_the_matcher_changes_what_is_cited_never_whether_to_answer(sample_assistant) -> None:  # type: ignore[no-untyped-def]
    """Same confidence, same abstentions with and without it (the sample set's questions)."""
    import json

    from qa.assistant import Assistant
    from tests.conftest import SAMPLE_QUESTIONS

    with_matcher: Assistant = sample_assistant
    without = Assistant(with_matcher.settings.model_copy(update={"matcher": False}),
                        store=with_matcher.store, embedder=with_matcher.embedder)
    questions = [json.loads(line)["question"] for line in SAMPLE_QUESTIONS.read_text().splitlines()
                 if line.strip()][:20]
    for question in questions:
        a, b = with_matcher.ask(question), without.ask(question)
        assert (a.answered, a.confidence) == (b.answered, b.confidence), question


def test_the_matcher_reads_only_the_sentence_models_best_few(sample_assistant) -> None:  # type: ignore[no-untyped-def]
    """It embeds every sentence it reads: the sample's top passages hold ~30 candidates, and
    only the ``match_top`` best by the sentence model are worth it."""
    composer = sample_assistant.chain.composers["extractive"]
    real, read = composer._matcher, []

    class Counting:
        def score(self, question: str, sentences: list[str]) -> np.ndarray:
            read.append(list(sentences))
            return np.asarray(real.score(question, sentences))

    composer._matcher = Counting()
    try:
        answer = sample_assistant.ask("Which buildings did the extremists try to storm in Almaty?")
    finally:
        composer._matcher = real
    assert answer.answered and len(read) == 1
    assert len(read[0]) == composer.config.match_top == 10
    assert answer.citations[0].quote in read[0]
