"""What each signal of the learned answer step is worth: one row per variant, same passages.

    python -m bench.ablation [--limit 500] [--workdir DIR]

On the SQuAD dev split (articles the model was not fitted on). Retrieval runs once per question;
every variant composes from the same passages. A "without X" row sets feature X to its training
mean in the fitted model (the model is not refitted), so the row shows what the shipped model
loses without that signal. Metrics: answer-contains-gold with abstention (abstentions are misses),
the share answered, the best sentence alone containing gold with abstention off (the ranking's
own quality), and the short answer's exact match.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import tempfile
from pathlib import Path

from tqdm import tqdm

from bench.answer_bench import gold, sample
from bench.answer_data import SQUAD, open_index, retrieve_all, squad_questions
from bench.legacy_composer import LegacyComposer
from qa.answer.citations import finalize
from qa.answer.extractive import ExtractiveComposer, ExtractiveConfig
from qa.eval.metrics import exact_match

GROUPS: dict[str, tuple[str, ...]] = {
    "dense sentence similarity": ("dense", "dense_q", "dense_gap", "dense_q_gap"),
    "lexical coverage": ("own", "context", "own_q", "idf_sum", "own_gap", "context_gap"),
    "previous-sentence context": ("context", "context_gap"),
    "answer type": ("type_ok", "type_missing", "counted_near"),
    "why/how/how-long/list cues": ("why_cause", "how_manner", "long_duration", "list_items"),
    "passage rank and dense score": ("rank_prior", "passage_dense"),
    "position and length": ("first", "position", "log_len"),
    "question names missing": ("names_missing",),
}


def variants() -> dict[str, ExtractiveConfig]:
    base = ExtractiveConfig()
    out = {"learned composer (shipped)": base,
           "no dense features (lexical model refit)": dataclasses.replace(base, dense=False),
           "one sentence only": dataclasses.replace(base, max_sentences=1)}
    for name, features in GROUPS.items():
        out[f"without {name}"] = dataclasses.replace(base, drop=features)
    out["confidence without missing-name/type signals"] = dataclasses.replace(
        base, drop=("missing_specifics", "best_names_missing", "best_type_missing", "counted_absent"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ablation-"))
    workdir.mkdir(parents=True, exist_ok=True)
    assistant = open_index(workdir, "squad", SQUAD / "articles.jsonl")
    retriever = assistant.chain.retriever
    shipped = assistant.chain.composers["extractive"]
    assert isinstance(shipped, ExtractiveComposer)
    composers: dict[str, object] = {
        "main's composer (lexical, hand-set weights)": LegacyComposer(
            retriever.lexicon.idf, known=retriever.lexicon.knows),
    }
    for name, config in variants().items():
        composers[name] = ExtractiveComposer(
            retriever.lexicon.idf, config, known=retriever.lexicon.knows,
            vectors=shipped._vectors,
        )
    cached = workdir / "sentvec-squad.pkl"  # written by bench.answer_bench with the same workdir
    if shipped._vectors is not None and cached.exists():
        shipped._vectors.preload(pickle.loads(cached.read_bytes()))
    asked = retrieve_all(assistant, sample(squad_questions("dev"), args.limit), workdir, "squad")
    texts: dict[str, str] = {}
    stats = {name: [0, 0, 0, 0] for name in composers}
    for a in tqdm(asked, desc="ablation", unit="q", disable=None):
        for name, composer in composers.items():
            draft = composer.compose(a.request)  # type: ignore[attr-defined]
            for aid in {q.article_id for s in draft.segments for q in s.quotes} - set(texts):
                texts[aid] = assistant.article_text(aid) or ""
            answer = finalize(a.request, draft, texts, timings={})
            body = " ".join(c.quote for c in answer.citations) if answer.answered else ""
            s = stats[name]
            s[0] += gold(body, a.answers)
            s[1] += answer.answered
            if isinstance(composer, ExtractiveComposer):
                table = composer.table(a.request)
                if table.candidates:
                    probs = composer.score(table)
                    s[2] += gold(table.candidates[int(probs.argmax())].text, a.answers)
            short = answer.short.text if answer.short else body
            s[3] += bool(exact_match(short, a.answers))
    n = len(asked)
    print(f"| variant (SQuAD dev, n={n}) | answer-contains-gold | answered | best sentence "
          "has gold (no abstention) | short EM |\n|---|---|---|---|---|")
    for name, (hit, answered, top1, em) in stats.items():
        top = f"{top1 / n:.3f}" if isinstance(composers[name], ExtractiveComposer) else "-"
        print(f"| {name} | {hit / n:.3f} | {answered / n:.3f} | {top} | {em / n:.3f} |")


if __name__ == "__main__":
    main()
