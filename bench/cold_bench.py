"""Questions asked for the first time, two ways side by side in one process (issues 12 and 13).

    OMP_NUM_THREADS=1 python -m bench.cold_bench --data-dir DIR [--questions 100] [--squad]
                                                 [--threads N] [--out FILE]
    python -m bench.cold_bench --data-dir DIR --squad --compare threads

Two assistants open the same index, each with its own embedder, matcher and vector caches, so
every question is cold for both: "one batch" embeds the sentences a question has not seen in one
padded batch (as before 2026-12-07), "grouped" in batches of similar length
(``qa.answer.sentvec.length_groups``). Each question goes to both, in alternating order, so
machine load falls on both alike. Questions: ``--questions`` article titles of the index's BBC
articles (seed 13, as ``bench.scale_bench``; the first is skipped as it is there), or with
``--squad`` SQuAD dev questions (for the SQuAD index of ``bench.answer_bench``). Reports ask
p50/p95 and every stage's median per side, and how many answers (text and confidence) agree.
``--threads`` sets the bundled model's intra-op threads (``OMP_NUM_THREADS``) before it loads.

``--compare store``: "no store" as above (grouped, nothing kept on disk), against "warmed store":
an assistant whose sentence store (``qa.answer.sentence_store``, a copy in a temporary folder)
was filled beforehand by another assistant's ``warm()`` (what ``qa warm`` and the page's
background warm-up do): its own caches start empty, so each question reads its sentences' vectors
from disk instead of embedding them. In the other comparisons neither side keeps vectors on disk.

``--compare threads`` (with ``OMP_NUM_THREADS`` unset): both sides group by length; one has the
matcher's and the reader's onnxruntime sessions on every core, the other on one thread, each
built here whatever ``qa.wiring`` chooses.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

SIDES = ("one batch", "grouped")
THREAD_SIDES = ("default threads", "one thread")
STORE_SIDES = ("no store", "warmed store")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--squad", action="store_true", help="SQuAD dev questions, not titles")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--compare", choices=("grouping", "threads", "store"), default="grouping",
                        help="grouping: one padded batch against length groups; threads: the "
                             "matcher and reader at onnxruntime's default threads against one; "
                             "store: sentence vectors embedded against read from a warmed store")
    args = parser.parse_args()
    sides = {"grouping": SIDES, "threads": THREAD_SIDES, "store": STORE_SIDES}[args.compare]
    if args.compare == "threads" and (args.threads or os.environ.get("OMP_NUM_THREADS")):
        parser.error("--compare threads needs OMP_NUM_THREADS unset (it decides every session's threads)")
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read when the model loads
    import shutil
    import tempfile

    from qa.answer.extractive import ExtractiveComposer
    from qa.answer.matcher import VectorMatcher
    from qa.answer.reader import OnnxReader
    from qa.assistant import Assistant
    from qa.settings import Settings

    warmed = Path(tempfile.mkdtemp(prefix="cold-bench-")) / "index" if args.compare == "store" else Path()
    if args.compare == "store":
        # A copy of the index whose store another assistant fills, as ``qa warm`` would.
        shutil.copytree(args.data_dir, warmed)
        (warmed / "sentence-vectors.sqlite").unlink(missing_ok=True)
        print("warmed:", Assistant(Settings(data_dir=warmed)).warm(), flush=True)
    assistants: dict[str, Any] = {}
    for side in sides:
        if side == "warmed store":
            assistant = Assistant(Settings(data_dir=warmed))
        else:
            assistant = Assistant(Settings(data_dir=args.data_dir, sentence_cache=False))
        composer = assistant.chain.composers["extractive"]
        assert isinstance(composer, ExtractiveComposer)
        if side in THREAD_SIDES:  # both built here: the wiring's choice is what is measured
            threads = 1 if side == "one thread" else None
            assert isinstance(composer._matcher, VectorMatcher)
            composer._matcher = VectorMatcher(composer._matcher._cache_dir, threads=threads)
            assert isinstance(composer._reader, OnnxReader)
            composer._reader = OnnxReader(composer._reader._cache_dir, threads=threads)
        assistant.ask("warm up")
        composer.load()
        matcher = composer._matcher
        assert composer._vectors is not None and isinstance(matcher, VectorMatcher)
        for vectors in (composer._vectors, matcher.vectors):
            vectors.grouped = side != "one batch"
        assistants[side] = assistant
    if args.squad:
        from bench.answer_data import squad_questions

        questions = [q["question"] for q in random.Random(13).sample(squad_questions("dev"), args.questions)]
    else:
        records = [r for r in assistants[sides[0]].articles() if r.id.startswith("bbc-")]
        picked = random.Random(13).sample(records, min(args.questions + 1, len(records)))
        questions = [r.title for r in picked][1:]
    seconds: dict[str, list[float]] = {side: [] for side in sides}
    cpu_seconds: dict[str, list[float]] = {side: [] for side in sides}  # every thread of the process
    stages: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
    agree = 0
    for i, question in enumerate(questions):
        said = {}
        for side in sides if i % 2 == 0 else sides[::-1]:
            started, cpu = time.perf_counter(), time.process_time()
            answer = assistants[side].ask(question, k=5)
            seconds[side].append(time.perf_counter() - started)
            cpu_seconds[side].append(time.process_time() - cpu)
            said[side] = (answer.text, answer.confidence)
            for stage, value in answer.timings.items():
                stages[side].setdefault(stage, []).append(value)
        agree += said[sides[0]] == said[sides[1]]

    def ms(values: list[float], q: float) -> float:
        return round(1000 * float(np.percentile(values, q)), 1)

    out: dict[str, Any] = {"questions": len(questions), "same_answers": agree,
                           "threads": os.environ.get("OMP_NUM_THREADS", "all"),
                           "load_average": os.getloadavg()}
    for side in sides:
        caches = assistants[side].chain.composers["extractive"].vector_caches()
        out[side] = {"p50_ms": ms(seconds[side], 50), "p95_ms": ms(seconds[side], 95),
                     "cpu_p50_ms": ms(cpu_seconds[side], 50),
                     "sentences_embedded": sum(c.embedded for c in caches),
                     "sentences_read": sum(c.read for c in caches),
                     **{f"{stage}_p50_ms": ms(v, 50) for stage, v in stages[side].items()}}
    if args.compare == "store":
        shutil.rmtree(warmed.parent, ignore_errors=True)
    print(json.dumps(out, indent=1))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
