"""Which ideas of the extractive answer step earn their place: one row per variant, same passages.

    python -m bench.ablation [--limit 1000]

Retrieval runs once per question; every variant composes from the same passages, so the rows
differ only by the composer. Metric: answer-contains-gold (SQuAD-normalised) and the share of
questions answered (the SQuAD set is all answerable, so every abstention is a wrong one).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

from tqdm import tqdm

from bench.answer_bench import SHARED, contains_gold, sample
from bench.squad import load_questions
from qa.answer.composer import ComposeRequest
from qa.answer.extractive import ExtractiveComposer, ExtractiveConfig
from qa.answer.retrieval import SearchOptions
from qa.assistant import Assistant
from qa.settings import Settings

BASE = ExtractiveConfig()
VARIANTS: dict[str, ExtractiveConfig] = {
    "question overlap only, 1 sentence": dataclasses.replace(
        BASE, context=0.0, answer_type=0.0, passage_prior=0.0, max_sentences=1, abstain_below=0.0),
    "+ previous-sentence context": dataclasses.replace(
        BASE, answer_type=0.0, passage_prior=0.0, max_sentences=1, abstain_below=0.0),
    "+ answer type (number/date/name)": dataclasses.replace(
        BASE, passage_prior=0.0, max_sentences=1, abstain_below=0.0),
    "+ passage rank prior": dataclasses.replace(BASE, max_sentences=1, abstain_below=0.0),
    "+ second sentence when close, no prior": dataclasses.replace(
        BASE, passage_prior=0.0, abstain_below=0.0),
    "+ second sentence when close (default, no abstention)": dataclasses.replace(BASE, abstain_below=0.0),
    "always two sentences, no abstention": dataclasses.replace(BASE, second_ratio=0.0, abstain_below=0.0),
    "abstain on coverage only": dataclasses.replace(BASE, missing_name_factor=1.0, wrong_type_factor=1.0),
    "abstain on coverage + missing names": dataclasses.replace(BASE, wrong_type_factor=1.0),
    "abstain on coverage + wrong answer type": dataclasses.replace(BASE, missing_name_factor=1.0),
    "abstain, threshold 0.25": dataclasses.replace(BASE, abstain_below=0.25),
    "default (with abstention)": BASE,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=Path, default=SHARED / "articles.jsonl")
    parser.add_argument("--questions", type=Path, default=SHARED / "questions.jsonl")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ablation-"))
    assistant = Assistant(Settings(data_dir=workdir / "ours"))
    assistant.ingest([args.articles])
    retriever = assistant.chain.retriever
    composers = {
        name: ExtractiveComposer(retriever.lexicon.idf, config, known=retriever.lexicon.knows)
        for name, config in VARIANTS.items()
    }
    questions = sample(load_questions(args.questions), args.limit)
    contains = dict.fromkeys(VARIANTS, 0)
    answered = dict.fromkeys(VARIANTS, 0)
    for q in tqdm(questions, desc="ablation", unit="q", disable=None):
        passages, _ = retriever.retrieve(q["question"], SearchOptions(k=5))
        request = ComposeRequest(q["question"], q["question"], (), tuple(passages))
        for name, composer in composers.items():
            draft = composer.compose(request)
            answered[name] += draft.answered
            text = " ".join(s.text for s in draft.segments) if draft.answered else ""
            contains[name] += contains_gold(text, q["answers"])
    n = len(questions)
    print(f"| variant (n={n}) | answer-contains-gold | answered |\n|---|---|---|")
    for name in VARIANTS:
        print(f"| {name} | {contains[name] / n:.3f} | {answered[name] / n:.3f} |")


if __name__ == "__main__":
    main()
