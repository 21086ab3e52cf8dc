"""What int8 embedding costs in retrieval: hit@1 and hit@5 on the SQuAD dev questions, per backend.

    OMP_NUM_THREADS=1 python -m bench.embed_quality [--backends onnx,onnx-int8] [--limit 300]
        [--workdir DIR] [--out embed-quality.json]

Per backend, the 12 SQuAD dev articles (``bench.answer_data.squad_split``) are ingested into
their own data dir with that backend (documents and questions embedded alike), then a seeded
sample of the dev questions is retrieved at k=5, hybrid (the product's default) and dense-only
(the embedding alone). A question is a hit@k when one of its gold answers, normalised as SQuAD
does, occurs in one of the first k passages. fp32 ONNX stands for PyTorch here: its vectors are
PyTorch's to float32 rounding (``bench.embed_backends``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.answer_data import SQUAD, squad_questions, squad_split
from bench.squad import normalize


def dev_articles(workdir: Path) -> Path:
    which = squad_split()
    lines = [line for line in (SQUAD / "articles.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip() and which.get(json.loads(line)["id"]) == "dev"]
    path = workdir / "squad-dev-articles.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def hits(assistant: Any, questions: list[dict[str, Any]], *, hybrid: bool) -> dict[str, float]:
    from qa.answer.retrieval import SearchOptions

    found = {1: 0, 5: 0}
    for q in questions:
        passages, _ = assistant.chain.retriever.retrieve(q["question"], SearchOptions(k=5, hybrid=hybrid))
        golds = [normalize(a) for a in q.get("answers") or [] if normalize(a)]
        ranks = [i for i, p in enumerate(passages) if any(g in normalize(p.text) for g in golds)]
        for k in found:
            found[k] += bool(ranks and ranks[0] < k)
    return {f"hit@{k}": n / len(questions) for k, n in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="onnx,onnx-int8")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from qa.assistant import Assistant
    from qa.settings import Settings

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="embed-quality-"))
    workdir.mkdir(parents=True, exist_ok=True)
    articles = dev_articles(workdir)
    questions = [q for q in squad_questions("dev") if q.get("answers")]
    questions = random.Random(13).sample(questions, min(args.limit, len(questions)))
    rows: dict[str, Any] = {}
    for backend in args.backends.split(","):
        settings = Settings(data_dir=workdir / backend, embed_backend=backend, model_cache=workdir / "models")
        assistant = Assistant(settings)
        start = time.perf_counter()
        report = assistant.ingest([articles])
        ingest_s = time.perf_counter() - start
        rows[backend] = {"ingest_seconds": ingest_s, "chunks": report.chunks_added,
                         "hybrid": hits(assistant, questions, hybrid=True),
                         "dense": hits(assistant, questions, hybrid=False)}
        print(f"{backend}: {rows[backend]}", file=sys.stderr, flush=True)
    print(f"{len(questions)} SQuAD dev questions, 12 articles\n")
    print("| backend | hybrid hit@1 | hybrid hit@5 | dense hit@1 | dense hit@5 |\n|---|---:|---:|---:|---:|")
    for backend, r in rows.items():
        print(f"| {backend} | {r['hybrid']['hit@1']:.3f} | {r['hybrid']['hit@5']:.3f} | "
              f"{r['dense']['hit@1']:.3f} | {r['dense']['hit@5']:.3f} |")
    if args.out:
        result = {"questions": len(questions), "rows": rows,
                  "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
