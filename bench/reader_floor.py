"""The short-answer floor fitted end to end: on the sentences the answer step cites, not the gold ones.

    OMP_NUM_THREADS=1 python -m bench.train_reader --workdir DIR ...   # keeps DIR/fold-{0..4}.npz
    python -m bench.reader_floor --folds DIR --trees DIR/spans-v3.json --out DIR/spans-v3-e2e.json \\
        --squad-index SQUAD_DATA_DIR --bbc-index BBC_DATA_DIR --readers-index SAMPLE_DATA_DIR

``bench.train_reader`` fits the floor below which no phrase is shown on gold sentences: given the
sentence that holds the answer, its shown phrases are right >= 75% of the time. But the answer
step cites a sentence without the answer for some questions, and a phrase shown there is always
wrong. Here every training question (``bench.train_spans.training_items``: the SQuAD shared
half's train articles, BBC and reader ``train`` questions) is asked of its index; for each
answered question that wants a phrase, the phrases of the first cited sentence are scored by the
fold reader that never saw the question (``fold-{f}.npz``, the folds of ``bench.train_spans``)
and by trees fitted on the other folds' out-of-fold reader scores (``reader-oof-*.pkl``, as
``bench.train_reader`` fits the shipped trees on all of them); right = normalised exact match
with a gold answer. The floor is the lowest on the same grid at which these shown phrases are
right >= ``PRECISION``; it is written into a copy of ``--trees`` (``min_probability``). The
answer step's own models were fitted on these questions, so it cites the right sentence more
often here than on new questions: this floor is still a lower bound. Follow-up questions are
asked without their history.
"""

from __future__ import annotations

import argparse
import json
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.train_reader import FOLDS, folds_of
from bench.train_spans import FLOORS, PRECISION, export, fit_trees, lowest_floor, training_items
from qa.answer.reader import OnnxReader, ReaderWeights
from qa.answer.spans import SpanModel, pick, wants_phrase, with_reader
from qa.assistant import Assistant
from qa.eval.metrics import normalize_answer
from qa.settings import Settings


def cited(items: list[Any], indexes: dict[str, Path], out: Path) -> list[str | None]:
    """The first cited sentence of each item's answer (None: abstained), cached in ``out``
    (with its question: a cache of other questions is asked again)."""
    if out.exists():
        kept = json.loads(out.read_text(encoding="utf-8"))
        if isinstance(kept, dict) and kept.get("questions") == [e.question for e in items]:
            return list(kept["sentences"])
    assistants = {name: Assistant(Settings(data_dir=path)) for name, path in indexes.items()}
    sentences: list[str | None] = []
    for n, e in enumerate(items):
        answer = assistants[e.group.split(":")[0]].ask(e.question)
        sentences.append(answer.citations[0].quote if answer.answered and answer.citations else None)
        if n % 200 == 0:
            print(f"asked {n}/{len(items)}", flush=True)
    out.write_text(json.dumps({"questions": [e.question for e in items], "sentences": sentences}),
                   encoding="utf-8")
    return sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=Path, required=True, help="bench.train_reader's --workdir")
    parser.add_argument("--trees", type=Path, required=True, help="the spans-v3 trees fitted with them")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--squad-index", type=Path, required=True)
    parser.add_argument("--bbc-index", type=Path, required=True)
    parser.add_argument("--readers-index", type=Path, required=True)
    parser.add_argument("--models", type=Path, default=None, help="model cache for the fold exports")
    args = parser.parse_args()
    items, _ = training_items()
    fold = folds_of(items)
    # Every input is read before the questions are asked.
    SpanModel.load(args.trees)
    models = args.models or args.folds / "models"
    readers = [OnnxReader(models, ReaderWeights.load(args.folds / f"fold-{f}.npz")) for f in range(FOLDS)]
    (oof_file,) = args.folds.glob(f"reader-oof-*-n{len(items)}.pkl")
    oof = pickle.loads(oof_file.read_bytes())
    # Trees that never saw the question either: fitted on the other folds, as tree_cv does.
    shaped = [replace(e, rows=with_reader(e.rows, s)) for e, s in zip(items, oof, strict=True)]
    trees = [replace(export(fit_trees([x for x, g in zip(shaped, fold, strict=True) if g != f]), 0.0, {}),
                     version="spans-v3") for f in range(FOLDS)]
    indexes = {"squad": args.squad_index, "bbc": args.bbc_index, "readers": args.readers_index}
    sentences = cited(items, indexes, args.folds / "cited.json")
    top, right, gold_cited = [], [], []
    for e, f, sentence in zip(items, fold, sentences, strict=True):
        if sentence is None or not wants_phrase(e.question):
            continue
        found = pick(e.question, sentence, trees[f], reader=readers[f], min_probability=0.0)
        golds = {normalize_answer(a) for a in e.answers} - {""}
        top.append(found.probability if found else -1.0)
        right.append(found is not None and normalize_answer(found.span.text) in golds)
        gold_cited.append(sentence == e.sentence)
    top_a, right_a = np.array(top), np.array(right)
    chosen = lowest_floor(top_a, right_a)
    by_floor = {str(floor): round(float(right_a[top_a >= floor].mean()), 3) for floor in FLOORS
                if (top_a >= floor).any()}
    print(json.dumps({"answered_factoid": len(top), "gold_sentence_cited": float(np.mean(gold_cited)),
                      "chosen": chosen, "precision_by_floor": by_floor}, indent=1))
    data = json.loads(args.trees.read_text(encoding="utf-8"))
    data["min_probability"] = chosen["floor"]
    data["meta"].setdefault("floors", {})["end to end"] = chosen["floor"]
    data["meta"]["min_probability"] = (
        f"lowest floor in {list(FLOORS)} at which the shown short answers are right (normalised EM) "
        f">= {PRECISION} on the sentences the answer step cites for the training questions, read "
        "by out-of-fold readers (python -m bench.reader_floor)")
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"floor {chosen['floor']} -> {args.out}")


if __name__ == "__main__":
    main()
