"""Repeated questions over one index in one process: ask p50 / mean / p90 and each stage's median.

    OMP_NUM_THREADS=1 python -m bench.repeat_ask --data-dir COPY [--model-cache DIR]

Asks the first 60 questions of ``bench/data/bbc-questions.jsonl`` once (warm-up: their sentence
vectors are computed and kept), then twice more, timing those 120 ``ask`` calls. To compare two
versions, run it from each checkout in turn on the same index (``PYTHONPATH=<checkout>``),
alternating.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from qa.assistant import Assistant
from qa.settings import Settings

QUESTIONS = Path(__file__).resolve().parent / "data" / "bbc-questions.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--model-cache", type=Path, default=None)
    args = parser.parse_args()
    cache = {"model_cache": args.model_cache} if args.model_cache else {}
    settings = Settings(data_dir=args.data_dir, **cache)
    assistant = Assistant(settings)
    questions = [json.loads(line)["question"] for line in QUESTIONS.open()][:60]
    assistant.warm_up()
    for question in questions:
        assistant.ask(question)
    stages: dict[str, list[float]] = {}
    took: list[float] = []
    for _ in range(2):
        for question in questions:
            started = time.perf_counter()
            answer = assistant.ask(question)
            took.append(time.perf_counter() - started)
            for stage, seconds in (answer.timings or {}).items():
                stages.setdefault(stage, []).append(seconds)
    took.sort()
    print(f"ask p50 {1000 * statistics.median(took):.1f} ms, mean {1000 * statistics.mean(took):.1f} ms, "
          f"p90 {1000 * took[int(0.9 * len(took))]:.1f} ms")
    for stage, values in stages.items():
        print(f"  {stage} p50 {1000 * statistics.median(values):.1f} ms")


if __name__ == "__main__":
    main()
