"""Ways of running the answer step, compared question by question in one process.

    python -m bench.ask_interleaved --data-dir WARMED [--questions 300] [--seed 7]
    python -m bench.ask_interleaved --data-dir WARMED --reader-only [--questions 150]

``WARMED`` is a data dir whose sentence vectors are all kept (``QA_DATA_DIR=WARMED qa warm``;
the SQuAD index of ``bench.answer_bench``). A copy of it is made under ``--workdir`` for each
way of running (``WAYS``: the reader on one onnxruntime thread, or on two as shipped), and one
assistant opens each. Every question is asked of all of them in a shuffled order, so a noisy
machine weighs on each alike; the report gives each one's ask p50/p95 and the process CPU time
of a question, and whether the answers are the same.

``--reader-only`` times the reader's read alone, on SQuAD dev evidence sentences (every question
new to the reader's cache), with one and two threads, alone and while the matcher embeds another
question on another thread (as it does during an answer).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.answer_data import squad_questions
from qa.answer.matcher import VectorMatcher
from qa.answer.reader import OnnxReader
from qa.answer.spans import candidates
from qa.assistant import Assistant
from qa.settings import Settings

WAYS: dict[str, int] = {  # name -> the reader's onnxruntime threads
    "reader 1 thread": 1,
    "reader 2 threads (shipped)": 2,
}


def _ms(values: list[float], q: float) -> float:
    return round(1000 * float(np.percentile(values, q)), 1)


def interleaved(data_dir: Path, workdir: Path, n: int, seed: int) -> None:
    assistants: dict[str, Assistant] = {}
    for i, (name, threads) in enumerate(WAYS.items()):
        copy = workdir / f"copy-{i}"
        if not copy.exists():
            shutil.copytree(data_dir, copy)
        assistant = Assistant(Settings(data_dir=copy))
        composer: Any = assistant.chain.composers["extractive"]
        embedder: Any = assistant.embedder
        composer._reader = OnnxReader(embedder.cache_dir, threads=threads)
        assistant.ask("warm up")
        composer.load()
        assistants[name] = assistant
    questions = [q["question"] for q in random.Random(seed).sample(squad_questions("dev"), n)]
    wall: dict[str, list[float]] = {k: [] for k in WAYS}
    cpu: dict[str, list[float]] = {k: [] for k in WAYS}
    texts: dict[str, list[str]] = {k: [] for k in WAYS}
    for i, question in enumerate(questions):
        order = list(WAYS)
        random.Random(i).shuffle(order)
        for name in order:
            c0, t0 = time.process_time(), time.perf_counter()
            answer = assistants[name].ask(question, k=5)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            texts[name].append(answer.text)
    first = next(iter(WAYS))
    for name in WAYS:
        same = sum(a == b for a, b in zip(texts[first], texts[name], strict=True))
        print(f"{name}: ask p50 {_ms(wall[name], 50)} ms, p95 {_ms(wall[name], 95)} ms; "
              f"CPU p50 {_ms(cpu[name], 50)} ms; answers as '{first}': {same}/{len(questions)}")
    print(f"load average {os.getloadavg()}")


def reader_only(data_dir: Path, n: int, seed: int) -> None:
    embedder: Any = Assistant(Settings(data_dir=data_dir)).embedder
    cache = embedder.cache_dir
    pool = [q for q in squad_questions("dev") if q.get("evidence")]
    pairs = [(q["question"], q["evidence"][0]) for q in random.Random(seed).sample(pool, n)]
    readers = {t: OnnxReader(cache, threads=t) for t in (1, 2)}
    for reader in readers.values():
        reader.load()
    matcher = VectorMatcher(cache, threads=1)
    matcher.load()
    for rep in range(2):
        for threads, reader in readers.items():
            for beside in (False, True):
                seconds = []
                for question, sentence in pairs:
                    question = f"{question} ({rep}{threads}{beside})"  # never in the reader's cache
                    spans = [(c.start, c.end) for c in candidates(sentence)] or [(0, len(sentence))]
                    other = threading.Thread(target=matcher.vectors.embed_query,
                                             args=(question + " m",)) if beside else None
                    if other is not None:
                        other.start()
                    t0 = time.perf_counter()
                    reader.scores(question, sentence, spans)
                    seconds.append(time.perf_counter() - t0)
                    if other is not None:
                        other.join()
                print(f"pass {rep + 1}, reader {threads} thread(s), beside the matcher: {beside}: "
                      f"p50 {_ms(seconds, 50)} ms, p90 {_ms(seconds, 90)} ms")
    print(f"load average {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ask-interleaved"))
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reader-only", action="store_true")
    args = parser.parse_args()
    if args.reader_only:
        reader_only(args.data_dir, args.questions, args.seed)
    else:
        args.workdir.mkdir(parents=True, exist_ok=True)
        interleaved(args.data_dir, args.workdir, args.questions, args.seed)


if __name__ == "__main__":
    main()
