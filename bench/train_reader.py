"""Fine-tune the short-answer reader and write ``qa/answer/reader-v1.npz`` (and ``spans-v3.json``).

    OMP_NUM_THREADS=1 python -m bench.train_reader [--epochs 2] [--frozen-layers 3] [--workdir /tmp/reader]
    python -m bench.train_reader --report-only          # dev numbers of the shipped files

The reader (``qa.answer.reader``) is the bundled all-MiniLM-L6-v2 reading (question, sentence) as
one pair, with LoRA factors (rank ``RANK`` on every attention and feed-forward projection of the
layers above the first ``FROZEN_LAYERS``, base weights frozen) and a linear head scoring each
sentence token as the answer's first and last token (a SQuAD-style span head). Loss: for the
start and for the end, softmax cross-entropy over the sentence's tokens with every gold position
counted (log of the summed probability of the gold starts, resp. ends).
AdamW, warm-up then linear decay, seed ``SEED``.

Data: exactly ``bench.train_spans``'s (``bench.train_spans.examples``): every answerable question
of the SQuAD shared half's 12 ``train`` articles, the ``split == "train"`` questions of
``bench/data/bbc-questions.jsonl`` and ``qa/samples/questions/kazakhstan-readers.jsonl``, each
with its gold evidence sentence. Gold positions: every candidate phrase equal to a gold answer
and every occurrence of a gold answer in the sentence. No dev question is used for anything.

Choice, by 5-fold cross-validation grouped by article on that training data (the folds of
``bench.train_spans``): five readers are trained on four folds each and score the fifth (out of
fold), then (a) the reader alone (the candidate phrase with the highest start + end logit) and
(b) the span trees with the reader's scores as three more features (``spans-v3``, fitted on the
out-of-fold scores; the trees' own CV with the same folds) are compared by how often their top
candidate is a gold answer. The floor below which no short answer is shown is the lowest at
which the shown short answers are right (normalised exact match with a gold answer) at least
``PRECISION`` of the time in that cross-validation. The shipped reader is then trained on all
the training data.

Measured (seed 0, 2 epochs; BENCHMARKS.md, "A learned reader, and a short answer only when it is
likely right"): top candidate a gold answer given the gold sentence, 5-fold CV on the training
data: spans-v2 trees 0.398, reader alone 0.348, spans-v3 trees 0.475 (shipped; floor 0.60 shows
33% of factoid answers at 0.750 precision). Dev, gold sentence, no floor (report only): EM SQuAD
0.421 -> 0.560, BBC 0.505 -> 0.634, kazakhstan.jsonl 0.488 -> 0.512; at the floor the shown
phrases are right 0.797 / 0.942 / 0.824 of the time. 34 minutes wall on 1 thread of a shared
2-core machine; one read at question time p50 ~25 ms there.

The five fold readers are kept in ``--workdir`` (``fold-{0..4}.npz``) for ``bench.reader_floor``,
which fits the floor end to end instead.

torch and transformers are used here only; at question time the reader runs on onnxruntime
(``index.embedder.onnx_file`` exports the base weights plus these deltas once).
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import random
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer

from bench.answer_data import BBC_QUESTIONS, SAMPLE_SET, set_questions, squad_questions
from bench.squad import ROOT
from bench.train_matcher import Steps, with_lora
from bench.train_spans import (
    FLOORS,
    PARAMS,
    PRECISION,
    Example,
    examples,
    export,
    fit_trees,
    lowest_floor,
    score,
    shown_right,
    training_items,
)
from index.embedder import DEFAULT_MODEL, local_model_folder
from qa.answer.matcher import MatcherWeights
from qa.answer.reader import READER_FILE, OnnxReader, ReaderWeights, candidate_scores, token_positions
from qa.answer.spans import READER_WEIGHTS_FILE, SpanModel, with_reader

RANK = 16
ALPHA = 32.0
LR = 5e-4
HEAD_LR = 2e-3
BATCH = 16
SEED = 0
MAX_LENGTH = 160
# The lowest layers stay as they are (no LoRA): the backward pass stops above them, which
# halves the cost of a step on the CPU.
FROZEN_LAYERS = 3
FOLDS = 5


def gold_spans(e: Example) -> list[tuple[int, int]]:
    """Character spans of the sentence that are a gold answer."""
    found = {(s.start, s.end) for s, y in zip(e.spans, e.labels, strict=True) if y}
    lowered = e.sentence.lower()
    for answer in e.answers:
        a = answer.strip().lower()
        if not a:
            continue
        at = lowered.find(a)
        while at >= 0:
            found.add((at, at + len(a)))
            at = lowered.find(a, at + 1)
    return sorted(found)


class ReaderNet(nn.Module):
    """The base encoder with LoRA layers and a start/end head over its token vectors."""

    def __init__(self, folder: Path, frozen_layers: int = FROZEN_LAYERS) -> None:
        super().__init__()
        self.encoder: Any = AutoModel.from_pretrained(str(folder))
        self.layers = with_lora(self.encoder, RANK, ALPHA, frozen_layers)
        self.head = nn.Linear(self.encoder.config.hidden_size, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.encoder(**batch).last_hidden_state)  # type: ignore[no-any-return]

    def weights(self, meta: dict[str, Any]) -> ReaderWeights:
        factors = {name: (layer.a.detach().numpy().copy(), layer.b.detach().numpy().copy())
                   for name, layer in self.layers.items()}
        lora = MatcherWeights(base=DEFAULT_MODEL, rank=RANK, alpha=ALPHA, factors=factors, digest="",
                              meta=meta)
        return ReaderWeights(lora, self.head.weight.detach().numpy().copy(),
                             self.head.bias.detach().numpy().copy())


def encode(tokenizer: Any, items: Sequence[Example]) -> list[dict[str, Any]]:
    """Token ids, sentence token offsets and gold start/end token positions per example."""
    out = []
    for e in items:
        enc = tokenizer(e.question, e.sentence, truncation="only_second", max_length=MAX_LENGTH,
                        return_offsets_mapping=True)
        seq = enc.sequence_ids()
        offsets = [(a, b) if s == 1 else (-1, -1) for (a, b), s in zip(enc["offset_mapping"], seq,
                                                                        strict=True)]
        starts, ends = set(), set()
        for a, b in gold_spans(e):
            i, j = token_positions(offsets, a, b)
            if i >= 0 and j >= i:
                starts.add(i)
                ends.add(j)
        out.append({"ids": enc["input_ids"], "types": enc["token_type_ids"], "offsets": offsets,
                    "starts": sorted(starts), "ends": sorted(ends)})
    return out


def batch_of(rows: Sequence[dict[str, Any]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    width = max(len(r["ids"]) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    allowed = torch.zeros((len(rows), width), dtype=torch.bool)
    for k, r in enumerate(rows):
        n = len(r["ids"])
        ids[k, :n] = torch.tensor(r["ids"])
        types[k, :n] = torch.tensor(r["types"])
        mask[k, :n] = 1
        allowed[k, :n] = torch.tensor([a >= 0 for a, _b in r["offsets"]])
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}, allowed


def gold_loss(logits: torch.Tensor, allowed: torch.Tensor, gold: list[list[int]]) -> torch.Tensor:
    masked = logits.masked_fill(~allowed, -1e4)
    total = torch.logsumexp(masked, dim=1)
    right = torch.stack([torch.logsumexp(masked[k, g], dim=0) for k, g in enumerate(gold)])
    return (total - right).mean()


def train(rows: list[dict[str, Any]], epochs: int, tag: str,
          frozen_layers: int = FROZEN_LAYERS) -> ReaderNet:
    torch.manual_seed(SEED)
    net = ReaderNet(local_model_folder(DEFAULT_MODEL), frozen_layers)
    rows = [r for r in rows if r["starts"]]
    lora = [p for n, p in net.named_parameters() if p.requires_grad and not n.startswith("head")]
    optimizer = torch.optim.AdamW([{"params": lora, "lr": LR},
                                   {"params": list(net.head.parameters()), "lr": HEAD_LR}],
                                  weight_decay=0.01)
    steps = Steps(optimizer, epochs * math.ceil(len(rows) / BATCH), tag, every=50)
    net.train()
    for epoch in range(epochs):
        # Batches of similar length (less padding), in a random order.
        rng = random.Random(SEED + epoch)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]["ids"]) + rng.random() * 8)
        batches = [order[lo : lo + BATCH] for lo in range(0, len(order), BATCH)]
        rng.shuffle(batches)
        for members in batches:
            chunk = [rows[i] for i in members]
            batch, allowed = batch_of(chunk)
            logits = net(batch)
            steps.take((gold_loss(logits[..., 0], allowed, [r["starts"] for r in chunk])
                        + gold_loss(logits[..., 1], allowed, [r["ends"] for r in chunk])) / 2)
    net.eval()
    return net


@torch.no_grad()
def read(net: ReaderNet, rows: list[dict[str, Any]], items: Sequence[Example]) -> list[np.ndarray]:
    """The reader's score (start + end logit) of every candidate phrase of each example."""
    out = []
    for lo in range(0, len(rows), 32):
        chunk = rows[lo : lo + 32]
        batch, _allowed = batch_of(chunk)
        logits = net(batch).numpy()
        for k, r in enumerate(chunk):
            e = items[lo + k]
            n = len(r["ids"])
            out.append(candidate_scores(logits[k, :n, 0], logits[k, :n, 1], r["offsets"],
                                        [(c.start, c.end) for c in e.spans]))
    return out


def folds_of(items: Sequence[Example]) -> list[int]:
    """The article folds of ``bench.train_spans.crossval`` (same seed, same shuffle)."""
    groups = sorted({e.group for e in items})
    random.Random(SEED).shuffle(groups)
    fold = {g: i % FOLDS for i, g in enumerate(groups)}
    return [fold[e.group] for e in items]


def softmax(scores: np.ndarray) -> np.ndarray:
    if not len(scores):
        return scores
    z = np.exp(scores - scores.max())
    return np.asarray(z / z.sum())


def judge(items: Sequence[Example], probs: Sequence[np.ndarray]) -> dict[str, Any]:
    """Top-is-gold, EM/F1 given the gold sentence at the precision floor, and at no floor."""
    top, right = shown_right(items, probs)
    chosen = lowest_floor(top, right)
    return {"top_is_gold": float(np.mean([bool(len(p)) and bool(e.labels[int(np.argmax(p))])
                                          for e, p in zip(items, probs, strict=True)])),
            **chosen, "at_floor": score(items, probs, chosen["floor"]),
            "no_floor": score(items, probs, 0.0)}


def tree_cv(items: list[Example], fold: list[int], reader: list[np.ndarray] | None) -> list[np.ndarray]:
    """Out-of-fold tree probabilities, with the reader's (out-of-fold) scores as features or
    without (the reader columns left at 0: the spans-v2 trees)."""
    rows = [with_reader(e.rows, r) for e, r in zip(items, reader, strict=True)] if reader \
        else [e.rows for e in items]
    shaped = [replace(e, rows=x) for e, x in zip(items, rows, strict=True)]
    out: list[np.ndarray] = [np.zeros(0)] * len(items)
    for f in range(FOLDS):
        clf = fit_trees([e for e, g in zip(shaped, fold, strict=True) if g != f])
        for i, g in enumerate(fold):
            if g == f and len(shaped[i].rows):
                out[i] = clf.predict_proba(shaped[i].rows)[:, 1]
    return out


def dev_sets() -> dict[str, list[Example]]:
    from bench.answer_bench import sample

    return {"SQuAD dev (500, seed 13)": examples(sample(squad_questions("dev"), 500), "squad"),
            "BBC dev": examples(set_questions(BBC_QUESTIONS, "dev"), "bbc"),
            "kazakhstan.jsonl": examples(set_questions(SAMPLE_SET, None), "sample")}


def report(reader: OnnxReader, trees: SpanModel, plain: SpanModel) -> dict[str, Any]:
    """Dev numbers given the gold sentence (never used to choose anything): the shipped spans-v2
    trees, and the reader with the shipped spans-v3 trees; and the cost of one read."""
    out: dict[str, Any] = {}
    times = []
    for name, items in dev_sets().items():
        read_scores = []
        for e in items:
            t0 = time.perf_counter()
            read_scores.append(reader.scores(e.question, e.sentence, [(s.start, s.end) for s in e.spans]))
            times.append(1000 * (time.perf_counter() - t0))
        v2 = [plain.proba(e.rows) if len(e.rows) else np.zeros(0) for e in items]
        v3 = [trees.proba(with_reader(e.rows, r)) if len(e.rows) else np.zeros(0)
              for e, r in zip(items, read_scores, strict=True)]
        floors = trees.meta.get("floors", {})
        out[name] = {"spans-v2, floor 0 (before)": precision_at(items, v2, 0.0),
                     "spans-v2 at its precision floor": precision_at(items, v2, plain.min_probability),
                     "reader alone at its precision floor": precision_at(
                         items, [softmax(r) for r in read_scores], floors.get("reader alone", 0.0)),
                     "spans-v3, floor 0": precision_at(items, v3, 0.0),
                     "spans-v3 (shipped)": precision_at(items, v3, trees.min_probability)}
    out["read_ms_p50"] = float(np.percentile(times, 50))
    out["read_ms_p90"] = float(np.percentile(times, 90))
    return out


def precision_at(items: Sequence[Example], probs: Sequence[np.ndarray], floor: float) -> dict[str, float]:
    top, right = shown_right(items, probs)
    shown = top >= floor
    factoid = top >= 0
    return {**score(items, probs, floor), "short_of_factoid": float(shown.sum() / max(1, factoid.sum())),
            "precision": float(right[shown].mean()) if shown.any() else 0.0,
            "top_is_gold": float(right[factoid].mean()) if factoid.any() else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/reader"))
    parser.add_argument("--out", type=Path, default=ROOT / "qa" / "answer" / READER_FILE)
    parser.add_argument("--trees-out", type=Path, default=ROOT / "qa" / "answer" / READER_WEIGHTS_FILE)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--frozen-layers", type=int, default=FROZEN_LAYERS, choices=range(7),
                        help="lowest encoder layers left without LoRA (0: LoRA on all six)")
    parser.add_argument("--every", type=int, default=1, help="use every n-th example (smoke tests)")
    parser.add_argument("--report-only", action="store_true",
                        help="Only measure the shipped (or --out/--trees-out) files on the dev sets.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        reader = OnnxReader(args.workdir / "models", ReaderWeights.load(args.out))
        print(json.dumps(report(reader, SpanModel.load(args.trees_out), SpanModel.load()), indent=1))
        return
    t0 = time.time()
    items, sources = training_items()
    items = items[:: args.every]
    tokenizer = AutoTokenizer.from_pretrained(str(local_model_folder(DEFAULT_MODEL)))
    rows = encode(tokenizer, items)
    fold = folds_of(items)
    cache = args.workdir / f"reader-oof-e{args.epochs}-f{args.frozen_layers}-n{len(items)}.pkl"
    if cache.exists():  # the five fold readers' scores of a previous run with the same settings
        oof = pickle.loads(cache.read_bytes())
    else:
        oof = [np.zeros(0)] * len(items)
        for f in range(FOLDS):
            net = train([r for r, g in zip(rows, fold, strict=True) if g != f], args.epochs, f"fold {f}",
                        args.frozen_layers)
            # Kept for ``bench.reader_floor``: phrases of sentences other than the gold one,
            # read by a reader that never saw the question.
            (args.workdir / f"fold-{f}.npz").write_bytes(
                net.weights({"fold": f, "of": FOLDS, "epochs": args.epochs,
                             "frozen_layers": args.frozen_layers}).to_bytes())
            held = [i for i, g in enumerate(fold) if g == f]
            for i, s in zip(held, read(net, [rows[i] for i in held], [items[i] for i in held]),
                            strict=True):
                oof[i] = s
        cache.write_bytes(pickle.dumps(oof))
    print(f"out-of-fold reader scores: {time.time() - t0:.0f} s", flush=True)
    cv = {"spans-v2 trees": judge(items, tree_cv(items, fold, None)),
          "reader alone": judge(items, [softmax(s) for s in oof]),
          "spans-v3 trees (+ reader features)": judge(items, tree_cv(items, fold, oof))}
    print("cross-validated on the training data (5 folds by article):")
    print(json.dumps(cv, indent=1), flush=True)
    net = train(rows, args.epochs, "all", args.frozen_layers)
    meta = {"data": sources, "epochs": args.epochs, "seed": SEED, "lr": LR, "head_lr": HEAD_LR,
            "batch": BATCH, "rank": RANK, "frozen_layers": args.frozen_layers,
            "command": "python -m bench.train_reader", "crossval": cv}
    args.out.write_bytes(net.weights(meta).to_bytes())
    # The trees learn from out-of-fold reader scores: scores of questions the reader never saw.
    shaped = [replace(e, rows=with_reader(e.rows, s)) for e, s in zip(items, oof, strict=True)]
    clf = fit_trees(shaped)
    floor = cv["spans-v3 trees (+ reader features)"]["floor"]
    trees_meta = {"data": sources, "rows": int(sum(len(e.rows) for e in items)), "seed": SEED,
                  "params": PARAMS, "command": "python -m bench.train_reader",
                  "min_probability": f"lowest floor in {list(FLOORS)} at which the shown short "
                                     f"answers are right (normalised EM) >= {PRECISION} in 5-fold CV",
                  "reader": READER_FILE,
                  "floors": {name: c["floor"] for name, c in cv.items()}}
    trees = replace(export(clf, floor, trees_meta), version="spans-v3")
    args.trees_out.write_text(json.dumps(trees.to_dict(), separators=(",", ":")) + "\n")
    print(f"reader -> {args.out} ({args.out.stat().st_size / 1e6:.2f} MB), trees -> {args.trees_out}"
          f" (floor {floor}); {time.time() - t0:.0f} s")
    reader = OnnxReader(args.workdir / "models", ReaderWeights.load(args.out))
    print("report (dev splits, not used for any choice):")
    print(json.dumps(report(reader, SpanModel.load(args.trees_out), SpanModel.load()), indent=1))


if __name__ == "__main__":
    main()
