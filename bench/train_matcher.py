"""Fine-tune the answer step's matcher and write ``qa/answer/matcher-v1.npz``.

    python -m bench.train_matcher [--workdir /tmp/answerer] [--bbc-index DIR] [--epochs 2]
                                  [--out qa/answer/matcher-v1.npz]
    python -m bench.train_answerer --chooser --matcher-scores /tmp/answerer/matcher-oof.pkl  # then

The matcher (``qa.answer.matcher``) is the bundled all-MiniLM-L6-v2 with LoRA factors (rank
``RANK`` on every attention and feed-forward projection; the base weights stay frozen), trained
so that a question's vector lies near the sentences that answer it. Data: the training splits
of ``bench.train_answerer`` (SQuAD train articles, the reader-written sample and BBC ``train``
questions) and the candidate sentences the answer step sees for them (k=5 retrieval, its top
passages), labelled the same way (holds a gold answer, or is gold evidence). Each step takes
``QUESTIONS`` questions, each with one answer sentence and its ``NEGATIVES`` hardest other
candidates (by the current sentence model), and every other question's sentences of the batch
as further negatives; loss: softmax cross-entropy over cosine x ``SCALE`` (the multiple-negatives
ranking loss). AdamW, warm-up then linear decay, seeded. News questions count ``NEWS_REPEAT``
times, being few beside SQuAD's and being what the product is asked.

The answer model must learn how far to trust the matcher from scores on questions it was NOT
trained on: two matchers are trained on half the training articles each, and each scores the
other half (``matcher-oof.pkl``, by (question, sentence)) for ``train_answerer``. The shipped
matcher is the average of the two (their LoRA factors side by side, each half-weighted: the mean
of the two weight deltas, exactly), so no question is used a third time. No dev or test
question is used.

torch and transformers are used here, at training time only; at question time the matcher runs
on onnxruntime (``index.embedder.onnx_file`` exports the base weights plus these deltas once).
"""

from __future__ import annotations

import json
import math
import pickle
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer

from bench.train_answerer import gather, training_parser
from index.embedder import DEFAULT_MODEL, local_model_folder
from qa.answer.matcher import MATCHER_FILE, MatcherWeights

RANK = 8
ALPHA = 16.0
NEGATIVES = 3
QUESTIONS = 16
SCALE = 20.0
LR = 2e-4
SEED = 0
NEWS_REPEAT = 3
MAX_QUESTION, MAX_SENTENCE = 64, 128
# Every attention and feed-forward projection of a BERT layer (the pooler is not used).
Factors = dict[str, tuple[np.ndarray, np.ndarray]]
TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")


class LoRA(nn.Module):
    """``base(x) + alpha / r * x A^T B^T``, with ``base`` frozen; B starts at zero."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.a = nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.a.T @ self.b.T) * self.scale  # type: ignore[no-any-return]


def with_lora(encoder: nn.Module, rank: int, alpha: float, first_layer: int = 0) -> dict[str, LoRA]:
    """Freeze ``encoder`` and wrap its ``TARGETS`` projections (of layers ``first_layer`` and up) in
    LoRA layers, in place; the wrapped layers by name."""
    for p in encoder.parameters():
        p.requires_grad_(False)
    layers: dict[str, LoRA] = {}
    for name, module in list(encoder.named_modules()):
        for child, inner in list(module.named_children()):
            full = f"{name}.{child}" if name else child
            if isinstance(inner, nn.Linear) and full.endswith(TARGETS) and "pooler" not in full \
                    and int(full.split("layer.")[1].split(".")[0]) >= first_layer:
                wrapped = LoRA(inner, rank, alpha)
                setattr(module, child, wrapped)
                layers[full] = wrapped
    return layers


class MatcherNet(nn.Module):
    """The base encoder with LoRA layers, mean pooling and L2 normalization (as at question time)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.encoder: Any = AutoModel.from_pretrained(str(folder))
        self.layers = with_lora(self.encoder, RANK, ALPHA)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, dim=-1)

    def factors(self) -> Factors:
        return {name: (layer.a.detach().numpy().copy(), layer.b.detach().numpy().copy())
                for name, layer in self.layers.items()}


class Steps:
    """The optimizer's loop shared by the answer step's fine-tunes: a linear warm-up over the
    first tenth of ``total`` steps, then linear decay to zero; each ``take(loss)`` does one
    update and prints the loss every ``every`` steps."""

    def __init__(self, optimizer: torch.optim.Optimizer, total: int, tag: str, every: int) -> None:
        warm = max(1, int(0.1 * total))
        self.optimizer, self.total, self.tag, self.every = optimizer, total, tag, every
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / total))
        self.done, self.start = 0, time.time()

    def take(self, loss: torch.Tensor) -> None:
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad()
        self.done += 1
        if self.done % self.every == 0:
            print(f"{self.tag}: step {self.done}/{self.total}, loss {loss.item():.3f}, "
                  f"{time.time() - self.start:.0f} s", flush=True)


def groups(items: list[dict[str, Any]], rng: random.Random) -> list[tuple[str, str, list[str]]]:
    """(question, one answer sentence, hard negatives) per answerable question, news repeated."""
    out = []
    for it in items:
        labels, scores = it["labels"], it["table"].scores
        positives = [i for i in range(len(labels)) if labels[i]]
        if not positives:
            continue
        sentences = [c.text for c in it["table"].candidates]
        order = [int(i) for i in np.argsort(-scores, kind="stable")]
        negatives = [sentences[i] for i in order if not labels[i]][:NEGATIVES]
        for _ in range(1 if it["group"].startswith("squad") else NEWS_REPEAT):
            out.append((it["asked"].request.standalone, sentences[rng.choice(positives)], negatives))
    return out


def train(items: list[dict[str, Any]], epochs: int, tag: str) -> tuple[MatcherNet, Any]:
    torch.manual_seed(SEED)
    folder = local_model_folder(DEFAULT_MODEL)
    net, tokenizer = MatcherNet(folder), AutoTokenizer.from_pretrained(str(folder))
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=LR,
                                  weight_decay=0.01)
    steps = Steps(optimizer, epochs * math.ceil(len(groups(items, random.Random(SEED))) / QUESTIONS),
                  tag, every=25)
    net.train()
    for epoch in range(epochs):
        rng = random.Random(SEED + epoch)
        data = groups(items, rng)
        rng.shuffle(data)
        for lo in range(0, len(data), QUESTIONS):
            chunk = data[lo : lo + QUESTIONS]
            sentences: list[str] = []
            targets = []
            for _, positive, negatives in chunk:
                targets.append(len(sentences))
                sentences += [positive, *negatives]
            q = net(dict(tokenizer([c[0] for c in chunk], return_tensors="pt", padding=True,
                                   truncation=True, max_length=MAX_QUESTION)))
            s = net(dict(tokenizer(sentences, return_tensors="pt", padding=True, truncation=True,
                                   max_length=MAX_SENTENCE)))
            steps.take(nn.functional.cross_entropy(SCALE * q @ s.T, torch.tensor(targets)))
    net.eval()
    return net, tokenizer


@torch.no_grad()
def score(net: MatcherNet, tokenizer: Any, items: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """The matcher's cosine for every candidate of ``items``, by (question, sentence)."""
    def vectors(texts: list[str], limit: int) -> dict[str, np.ndarray]:
        texts = sorted(set(texts), key=len)  # batches of similar length pad less
        out: dict[str, np.ndarray] = {}
        for lo in range(0, len(texts), 64):
            chunk = texts[lo : lo + 64]
            batch = tokenizer(chunk, return_tensors="pt", padding=True, truncation=True, max_length=limit)
            out.update(zip(chunk, net(dict(batch)).numpy(), strict=True))
        return out

    questions = vectors([it["asked"].request.standalone for it in items], MAX_QUESTION)
    sentences = vectors([c.text for it in items for c in it["table"].candidates], MAX_SENTENCE)
    return {(q, c.text): float(sentences[c.text] @ questions[q]) for it in items
            for q in [it["asked"].request.standalone] for c in it["table"].candidates}


def average(parts: list[Factors]) -> Factors:
    """LoRA factors whose delta is the mean of the parts' deltas: A stacked, B side by side / n."""
    return {name: (np.concatenate([p[name][0] for p in parts]),
                   np.concatenate([p[name][1] for p in parts], axis=1) / len(parts))
            for name in parts[0]}


def main() -> None:
    parser = training_parser(__doc__, MATCHER_FILE)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: its default).")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.limit, args.synthetic, args.matcher_scores = 0, False, None
    # The candidate tables without any matcher: it must not score its own training questions.
    items, sources, composer = gather(args, matcher=False)
    items = [it for it in items if not it["synthetic"]]
    for it in items:
        composer.score(it["table"])  # the current sentence model's scores pick hard negatives
    names = sorted({it["group"] for it in items})
    random.Random(SEED).shuffle(names)
    fold = {g: i % 2 for i, g in enumerate(names)}
    oof: dict[tuple[str, str], float] = {}
    parts = []
    for f in (0, 1):
        net, tokenizer = train([it for it in items if fold[it["group"]] != f], args.epochs, f"fold {f}")
        oof.update(score(net, tokenizer, [it for it in items if fold[it["group"]] == f]))
        parts.append(net.factors())
    (args.workdir / "matcher-oof.pkl").write_bytes(pickle.dumps(oof))
    meta = {"data": sources, "epochs": args.epochs, "seed": SEED, "lr": LR, "negatives": NEGATIVES,
            "questions_per_step": QUESTIONS, "scale": SCALE, "news_repeat": NEWS_REPEAT,
            "command": "python -m bench.train_matcher", "combined": "mean of the two fold models"}
    weights = MatcherWeights(base=DEFAULT_MODEL, rank=RANK * len(parts), alpha=ALPHA * len(parts),
                             factors=average(parts), digest="", meta=meta)
    args.out.write_bytes(weights.to_bytes())
    print(json.dumps(meta, indent=1))
    print(f"matcher -> {args.out} ({args.out.stat().st_size / 1e6:.2f} MB); out-of-fold scores -> "
          f"{args.workdir / 'matcher-oof.pkl'}")


if __name__ == "__main__":
    main()
