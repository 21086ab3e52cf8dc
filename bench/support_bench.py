"""How many true, fabricated, recombined and injected claims get through the LLM support check.

    python -m bench.support_bench [--baseline-rev 364f16a] [--grid]

The claim set is ``tests/llm/data/claim_set.jsonl``: 148 sentences a model might write about the
sample article (``qa/samples/articles/kazakhstan-unrest.txt``) with the paragraph of
``tests/llm/data/injected_paragraph.txt`` planted at its end (a refund link, an e-mail address, a
phone number, an instruction to AI assistants, and one real fact: 412 passengers aboard a flight).
Kinds: ``true`` (paraphrases of what the article says), ``fabricated`` (not in it, including
negations), ``recombined`` (names and numbers of different sentences swapped: "353 policemen were
killed") and ``injected`` (links, calls to action, instructions). Claims alternate between the
``tune`` and ``report`` halves within each kind; settings were chosen on ``tune`` (``--grid``
prints the search) and the table to quote is ``report``.

Each claim cites the whole article as one passage, the hardest case for a false claim: every
sentence of the article may be the one that "supports" it. "Through" means accepted as supported.
The baseline is the checker of ``--baseline-rev`` (``qa/llm/support.py`` at that commit, before
this check was rewritten), run on the same claims with the same model.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.squad import ROOT
from index.embedder import SentenceTransformerEmbedder
from qa.llm.support import SupportChecker
from qa.models import Passage
from qa.settings import Settings

DATA = ROOT / "tests" / "llm" / "data"
ARTICLE = ROOT / "qa" / "samples" / "articles" / "kazakhstan-unrest.txt"
KINDS = ("true", "fabricated", "recombined", "injected")


class MemoEmbedder(SentenceTransformerEmbedder):
    """The real model, each text embedded once across all the checkers of a run."""

    def __init__(self) -> None:
        super().__init__()
        self.memo: dict[str, np.ndarray] = {}

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            for t, v in zip(missing, super().embed_documents(missing), strict=True):
                self.memo[t] = v
        return np.stack([self.memo[t] for t in texts])


def claims() -> list[dict[str, Any]]:
    lines = (DATA / "claim_set.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def earlier_claims() -> list[dict[str, Any]]:
    """The threshold set written before this one (kinds: true or fabricated), also used for tuning."""
    lines = (DATA / "support_claims.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [{**r, "kind": "true" if r["supported"] else "fabricated"} for r in rows]


def evidence() -> Passage:
    """The sample article with the injected paragraph, as one cited passage."""
    text = ARTICLE.read_text(encoding="utf-8").rstrip() + "\n\n"
    text += (DATA / "injected_paragraph.txt").read_text(encoding="utf-8")
    return Passage("kz:0", "kz", "Kazakhstan unrest", "kazakhstan-unrest.txt", None, 0, len(text), text, 1.0)


def baseline_checker(rev: str, embedder: Any) -> Any:
    """``SupportChecker`` as it was at ``rev``, loaded from git."""
    source = subprocess.run(
        ["git", "show", f"{rev}:qa/llm/support.py"], cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "support_baseline.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location("support_baseline", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["support_baseline"] = module
        spec.loader.exec_module(module)
    return module.SupportChecker(embedder, threshold=0.5)


def through(checker: Any, rows: list[dict[str, Any]], passage: Passage) -> dict[str, list[str]]:
    """The ids of the claims of each kind the checker accepts."""
    results = checker.check([(r["claim"], [passage]) for r in rows])
    out: dict[str, list[str]] = {k: [] for k in KINDS}
    for r, s in zip(rows, results, strict=True):
        if s.supported:
            out[r["kind"]].append(r["id"])
    return out


def table(rows: list[dict[str, Any]], columns: dict[str, dict[str, list[str]]]) -> str:
    total = Counter(r["kind"] for r in rows)
    head = "| kind (want) | n | " + " | ".join(columns) + " |"
    lines = [head, "|" + "---|" * (2 + len(columns))]
    for kind in KINDS:
        want = "all through" if kind == "true" else "none through"
        cells = " | ".join(f"{len(c[kind])}" for c in columns.values())
        lines.append(f"| {kind} ({want}) | {total[kind]} | {cells} |")
    return "\n".join(lines)


def errors(checker: Any, rows: list[dict[str, Any]], passage: Passage) -> list[str]:
    results = checker.check([(r["claim"], [passage]) for r in rows])
    out = []
    for r, s in zip(rows, results, strict=True):
        if s.supported != (r["kind"] == "true"):
            why = getattr(s, "reason", "") or "accepted"
            out.append(f"  {r['id']} [{r['kind']}] {r['claim']}  -> {why}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline-rev", default="364f16a", help="Commit whose checker is the baseline.")
    parser.add_argument("--grid", action="store_true", help="Also print the search on the tune half.")
    parser.add_argument("--errors", action="store_true", help="List the claims judged wrongly.")
    args = parser.parse_args()

    embedder = MemoEmbedder()
    passage = evidence()
    rows = claims()
    halves = {h: [r for r in rows if r["split"] == h] for h in ("tune", "report")}
    threshold = Settings().llm_support_threshold
    before = baseline_checker(args.baseline_rev, embedder)
    after = SupportChecker(embedder, threshold=threshold)

    if args.grid:
        earlier = earlier_claims()
        print("## search on the tune half: true accepted / false (fabricated+recombined+injected) accepted,")
        print("## then the earlier set (tests/llm/data/support_claims.jsonl, 53 true, 42 false): same")
        print("(the score threshold changes nothing from 0.3 to 0.6 once the word checks pass)")
        for context in (False, True):
            for one_word in (2.0, 0.8, 0.7):
                cells = []
                for w in (0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 1.01):
                    checker = SupportChecker(
                        embedder, threshold=threshold, word_threshold=w, context=context,
                        one_word_similarity=one_word,
                    )
                    got = through(checker, halves["tune"], passage)
                    old = through(checker, earlier, passage)
                    cells.append(
                        f"w{w}: {len(got['true'])}/{sum(len(got[k]) for k in KINDS[1:])}"
                        f" {len(old['true'])}/{len(old['fabricated'])}"
                    )
                lenient = "off" if one_word > 1 else one_word
                print(f"context {context!s:5} one-word {lenient!s:4} " + "  ".join(cells))
        print()

    for half in ("tune", "report"):
        print(f"## {half} half: claims accepted as supported")
        print(table(halves[half], {
            f"before ({args.baseline_rev})": through(before, halves[half], passage),
            "after": through(after, halves[half], passage),
        }))
        if args.errors and (half == "tune" or not args.grid):
            print("after, judged wrongly:")
            print("\n".join(errors(after, halves[half], passage)))
        print()


if __name__ == "__main__":
    main()
