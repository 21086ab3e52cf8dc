"""Questions over an index whose sentence vectors are all kept (after ``qa warm``), in one process.

    python -m bench.warm_ask --data-dir DIR [--questions 100] [--out FILE]

Opens the index at ``--data-dir`` (for the SQuAD index of ``bench.answer_bench``, warmed with
``QA_DATA_DIR=DIR qa warm``), loads every model, then asks ``--questions`` SQuAD dev questions
(seed 13, as ``bench.cold_bench --squad``) once each and reports ask p50/p95 and each stage's
median. Every sentence the answer step reads comes from the store, so this times what is left of
a question once nothing needs embedding but the question itself. To compare two versions, run it
from each checkout in turn on the same index (``PYTHONPATH=<checkout>``), a few times each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from bench.answer_data import squad_questions
    from qa.assistant import Assistant
    from qa.settings import Settings

    assistant = Assistant(Settings(data_dir=args.data_dir))
    assistant.ask("warm up")
    assistant.chain.composers["extractive"].load()  # type: ignore[attr-defined]
    questions = [q["question"] for q in random.Random(13).sample(squad_questions("dev"), args.questions)]
    seconds: list[float] = []
    stages: dict[str, list[float]] = {}
    for question in questions:
        started = time.perf_counter()
        answer = assistant.ask(question, k=5)
        seconds.append(time.perf_counter() - started)
        for stage, value in answer.timings.items():
            stages.setdefault(stage, []).append(value)
    caches = assistant.chain.composers["extractive"].vector_caches()  # type: ignore[attr-defined]
    out = {
        "questions": len(questions), "threads": os.environ.get("OMP_NUM_THREADS", "all"),
        "load_average": os.getloadavg(),
        "p50_ms": round(1000 * float(np.percentile(seconds, 50)), 1),
        "p95_ms": round(1000 * float(np.percentile(seconds, 95)), 1),
        "sentences_embedded": sum(c.embedded for c in caches),
        **{f"{stage}_p50_ms": round(1000 * float(np.median(v)), 1) for stage, v in stages.items()},
    }
    print(json.dumps(out))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
