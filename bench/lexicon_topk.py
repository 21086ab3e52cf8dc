"""Keyword search of two checkouts on one lexicon file: latency and identical rankings.

    python -m bench.lexicon_topk LEXICON.sqlite --base /path/to/other/checkout [--questions 200]

Asks ``--questions`` BBC article titles (seed 13) for the top 30 (the retriever's candidates)
through ``Lexicon.search`` of this checkout and of ``--base``, two rounds each, and counts the
questions whose ids, and ids with scores, are the same. Open a copy of a lexicon: opening it
may write its schema.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

from bench.scale_bench import BBC, ROOT


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("lexicon", type=Path)
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()
    titles = [json.loads(line)["title"] for line in BBC.open(encoding="utf-8") if line.strip()]
    questions = random.Random(13).sample(titles, args.questions)
    lexicons = {
        side: _module(f"lexicon_{side}", root / "index" / "lexicon.py").Lexicon(args.lexicon)
        for side, root in (("base", args.base), ("this", ROOT))
    }
    found: dict[str, list[list[tuple[str, float]]]] = {}
    for rnd in range(2):
        for side, lexicon in lexicons.items():
            seconds, found[side] = [], []
            for question in questions:
                started = time.perf_counter()
                found[side].append(lexicon.search(question, 30))
                seconds.append(time.perf_counter() - started)
            seconds.sort()
            p50, p95 = statistics.median(seconds), seconds[round(0.95 * (len(seconds) - 1))]
            print(f"round {rnd} {side}: p50 {1000 * p50:.1f} ms, p95 {1000 * p95:.1f} ms")
    pairs = list(zip(found["base"], found["this"], strict=True))
    ids = sum([c for c, _ in a] == [c for c, _ in b] for a, b in pairs)
    print(f"same ids {ids}/{len(pairs)}, same ids and scores {sum(a == b for a, b in pairs)}/{len(pairs)}")


if __name__ == "__main__":
    main()
