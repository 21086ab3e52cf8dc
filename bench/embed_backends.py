"""Embedding backends on the same chunks: throughput against PyTorch, and how far the vectors move.

    OMP_NUM_THREADS=1 python -m bench.embed_backends [--chunks 1000] [--repeats 2]
        [--backends torch,onnx,onnx-int8] [--out embed-backends.json]

The chunks are what our ingest stores for the first BBC articles (``bench.bbc``'s corpus, cut by
our chunker with the real tokenizer) until ``--chunks`` are collected. Every backend is loaded and
warmed before anything is timed (an ONNX export happens then, into a temp folder, and its time is
reported apart). Each repetition times ``embed_documents`` of all chunks per backend, the order
reversed on every other repetition so no side always runs on a warmer machine; the median is
reported, of wall and of CPU seconds (on a machine shared with other work, CPU seconds are the
steadier measure of what each backend costs). Quality: per vector, the cosine distance
(1 - cos) to PyTorch's vector of the same chunk; the max and mean over the chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.bbc import DEFAULT_ARTICLES as BBC


def bbc_chunks(embedder: Any, n: int, path: Path = BBC) -> list[str]:
    """The first ``n`` chunks our chunker cuts from the BBC corpus, in corpus order."""
    from index.chunking import ChunkerConfig, chunk_text

    texts: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            texts += [c.text for c in chunk_text(
                record["id"], record["text"], config=ChunkerConfig(), count_tokens=embedder.token_counts,
                token_spans=embedder.token_spans, model_name=embedder.name)]
            if len(texts) >= n:
                break
    return texts[:n]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from index.embedder import SentenceTransformerEmbedder

    cache = Path(tempfile.mkdtemp(prefix="embed-bench-"))
    backends = args.backends.split(",")
    embedders, setup = {}, {}
    for name in backends:
        start = time.perf_counter()
        embedders[name] = SentenceTransformerEmbedder(backend=name, cache_dir=cache)
        embedders[name].load()
        setup[name] = time.perf_counter() - start
    texts = bbc_chunks(embedders[backends[0]], args.chunks)
    for e in embedders.values():
        e.embed_documents(texts[:64])  # warm the kernels
    print(f"{len(texts)} chunks; load (+ export) s: {setup}", file=sys.stderr, flush=True)
    seconds: dict[str, list[float]] = {name: [] for name in backends}
    cpu: dict[str, list[float]] = {name: [] for name in backends}
    vectors: dict[str, np.ndarray] = {}
    for rep in range(args.repeats):
        for name in backends if rep % 2 == 0 else backends[::-1]:
            start, start_cpu = time.perf_counter(), time.process_time()
            vectors[name] = embedders[name].embed_documents(texts)
            seconds[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            print(f"  rep {rep + 1} {name}: {seconds[name][-1]:.1f} s, CPU {cpu[name][-1]:.1f} s",
                  file=sys.stderr, flush=True)
    rows: dict[str, dict[str, Any]] = {}
    for name in backends:
        median = statistics.median(seconds[name])
        median_cpu = statistics.median(cpu[name])
        row: dict[str, Any] = {"seconds": seconds[name], "median_s": median, "cpu_seconds": cpu[name],
                               "median_cpu_s": median_cpu, "chunks_per_s": len(texts) / median,
                               "chunks_per_cpu_s": len(texts) / median_cpu}
        if "torch" in vectors:
            distance = 1.0 - np.sum(vectors[name] * vectors["torch"], axis=1)
            row |= {"max_cos_distance": float(distance.max()), "mean_cos_distance": float(distance.mean()),
                    "speedup_vs_torch": statistics.median(seconds["torch"]) / median,
                    "cpu_speedup_vs_torch": statistics.median(cpu["torch"]) / median_cpu}
        rows[name] = row
    print("| backend | chunks/s | x torch | chunks/CPU-s | x torch (CPU) | max 1-cos vs torch | mean 1-cos |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        nan = float("nan")
        print(f"| {name} | {r['chunks_per_s']:.2f} | {r.get('speedup_vs_torch', nan):.2f} | "
              f"{r['chunks_per_cpu_s']:.2f} | {r.get('cpu_speedup_vs_torch', nan):.2f} | "
              f"{r.get('max_cos_distance', nan):.2e} | {r.get('mean_cos_distance', nan):.2e} |")
    result = {"chunks": len(texts), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
              "load_average": os.getloadavg(), "load_seconds": setup, "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
