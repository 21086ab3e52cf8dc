"""Ingest benchmark on the shared SQuAD corpus: ours beside raw encode and textbook LangChain.

    python -m bench.ingest_bench [--articles PATH] [--limit N] [--backend onnx|onnx-int8|torch]
                                 [--out BENCHMARKS-ingest.json] [--repeats 2]

One process, one model, loaded and warmed before anything is timed (its load time is reported
on its own). Each repetition times, on fresh temp dirs:

- raw encode: the backend's ``encode`` (``SentenceTransformer.encode`` for torch, its onnxruntime
  twin for onnx) of exactly the chunks our ingest stores, with the same batch size, in one call;
- our embedder alone: ``SentenceTransformerEmbedder.embed_documents`` of the same chunks, the
  embedding step of our ingest (same model and batch size, batches sorted by word pieces);
- ours: ``Assistant(Settings(data_dir=tmp)).ingest([path])`` (load, chunk, embed, store), with
  the CPU seconds it spends outside ``embed_documents`` (chunking, writes, lexicon, grouping);
- textbook LangChain: JSONL -> ``RecursiveCharacterTextSplitter(1000, 200)`` ->
  ``Chroma.from_documents``, ``SentenceTransformer.encode`` on PyTorch (as
  ``HuggingFaceEmbeddings`` does, whatever ``--backend`` says) behind a ``langchain_core``
  ``Embeddings``;
- re-ingest unchanged: the same ``ingest`` again, model loaded (it should embed nothing).

Repetitions alternate the order (raw encode first, then last) so warm caches favour no side.
Memory: the peak resident set (VmHWM, reset before each side through /proc/self/clear_refs on
Linux) and the process's ``ru_maxrss``; both count native memory (torch, Chroma), unlike
tracemalloc. chars/s counts article characters, so pipelines with different chunks compare.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.squad import ROOT

DEFAULT_ARTICLES = ROOT.parent / "shared" / "benchmarks" / "squad-dev-half" / "articles.jsonl"
SIDES = ("raw encode", "our embedder alone", "ours", "textbook LangChain", "ours, re-ingest unchanged")


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def _maxrss_mb() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6


def timed(fn: Callable[[], int]) -> dict[str, Any]:
    """Wall and CPU seconds of ``fn`` (which returns its chunk count), and its peak RSS."""
    peaks = _reset_peak()
    start_kb = _status_kb("VmRSS")
    cpu, wall = time.process_time(), time.perf_counter()
    chunks = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_kb = _status_kb("VmHWM") if peaks else None
    return {
        "chunks": chunks, "seconds": wall, "cpu_seconds": cpu,
        "peak_rss_mb": peak_kb / 1e3 if peak_kb else None,
        "peak_rss_growth_mb": (peak_kb - start_kb) / 1e3 if peak_kb and start_kb else None,
    }


def textbook(path: Path, model: Any, batch_size: int, workdir: Path) -> int:
    """The LangChain tutorial pipeline, with the same model behind its Embeddings interface."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    class MiniLM(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
            return vectors.tolist()  # type: ignore[no-any-return]

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    docs = [Document(page_content=r["text"], metadata={"id": r["id"], "title": r.get("title", "")})
            for r in records]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    Chroma.from_documents(chunks, MiniLM(), persist_directory=str(workdir), collection_name="textbook")
    return len(chunks)


def repetition(
    path: Path, embedder: Any, textbook_model: Any, texts: list[str], tmp: Path, *, raw_first: bool
) -> dict[str, Any]:
    from qa.assistant import Assistant
    from qa.settings import Settings

    settings = Settings(data_dir=tmp / "ours")
    assistant = Assistant(settings, embedder=embedder)
    reports: list[Any] = []
    embedding_cpu: list[float] = []

    def raw() -> int:
        embedder.encoder.encode(texts, settings.embed_batch_size)
        return len(texts)

    def alone() -> int:
        return len(embedder.embed_documents(texts))

    def ours() -> int:
        # The CPU seconds of the embedding inside the ingest, so the rest (chunking, writes, the
        # lexicon, grouping) is measured in the same run rather than as a difference of two runs.
        inner = embedder.embed_documents

        def counted(texts: Any) -> Any:
            start = time.process_time()
            try:
                return inner(texts)
            finally:
                embedding_cpu.append(time.process_time() - start)

        embedding_cpu.clear()
        embedder.embed_documents = counted
        try:
            reports.append(assistant.ingest([path]))
        finally:
            del embedder.embed_documents
        return int(reports[-1].chunks_added)

    def langchain() -> int:
        return textbook(path, textbook_model, settings.embed_batch_size, tmp / "textbook")

    runs: list[tuple[str, Callable[[], int]]] = [
        ("raw encode", raw), ("our embedder alone", alone), ("ours", ours), ("textbook LangChain", langchain),
    ]
    if not raw_first:
        runs.reverse()
    runs.append(("ours, re-ingest unchanged", ours))
    rows = {}
    for name, fn in runs:
        rows[name] = timed(fn)
        if name == "ours":
            rows[name]["embedding_cpu_seconds"] = sum(embedding_cpu)
        print(f"  {name}: {rows[name]['seconds']:.2f} s", file=sys.stderr, flush=True)
    first, again = reports
    stored = sorted(h.chunk.text for h in assistant.store.all_chunks())
    if not first.ok or stored != sorted(texts) or again.chunks_added or again.unchanged != first.added:
        raise SystemExit(f"ingest stored other chunks than expected: {first.summary()} / {again.summary()}")
    return rows


def chunk_texts(path: Path, embedder: Any, tmp: Path) -> tuple[list[str], int, int]:
    """The chunks our ingest will store (by running its chunker), article count, characters."""
    from index.chunking import chunk_text
    from index.loaders import load_file
    from qa.assistant import Assistant
    from qa.settings import Settings

    config = Assistant(Settings(data_dir=tmp), embedder=embedder).ingestor.chunker
    articles = load_file(path, max_bytes=10**9).articles
    texts = [
        c.text for a in articles
        for c in chunk_text(a.id, a.text, config=config, count_tokens=embedder.token_counts,
                            token_spans=embedder.token_spans, model_name=embedder.name)
    ]
    return texts, len(articles), sum(len(a.text) for a in articles)


def summarize(rows: dict[str, Any], chars: int) -> None:
    for row in rows.values():
        row["chunks_per_s"] = row["chunks"] / row["seconds"]
        row["chars_per_s"] = chars / row["seconds"]


def table(rows: dict[str, Any]) -> str:
    lines = ["| pipeline | chunks | seconds | CPU s | chunks/s | chars/s | peak RSS MB (growth) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in SIDES:
        r = rows[name]
        speed = ("-", "-") if name.endswith("unchanged") else (
            f"{r['chunks_per_s']:.1f}", f"{r['chars_per_s']:,.0f}")
        mem = f"{r['peak_rss_mb']:,.0f} (+{r['peak_rss_growth_mb']:,.0f})" if r["peak_rss_mb"] else "-"
        lines.append(f"| {name} | {r['chunks']} | {r['seconds']:.2f} | {r['cpu_seconds']:.1f} | "
                     f"{speed[0]} | {speed[1]} | {mem} |")
    return "\n".join(lines)


def ratios(rows: dict[str, Any]) -> dict[str, float]:
    return {
        "ours_vs_raw_chunks_per_s": rows["ours"]["chunks_per_s"] / rows["raw encode"]["chunks_per_s"],
        "ours_vs_embedder_alone_chunks_per_s":
            rows["ours"]["chunks_per_s"] / rows["our embedder alone"]["chunks_per_s"],
        "ours_vs_textbook_chars_per_s":
            rows["ours"]["chars_per_s"] / rows["textbook LangChain"]["chars_per_s"],
        "reingest_share_of_first": rows["ours, re-ingest unchanged"]["seconds"] / rows["ours"]["seconds"],
        "ours_cpu_seconds_outside_embedding":
            rows["ours"]["cpu_seconds"] - rows["ours"].get("embedding_cpu_seconds", 0.0),
    }


def median_rows(reps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        name: {k: (statistics.median(r[name][k] for r in reps) if isinstance(v, float) else v)
               for k, v in reps[0][name].items()}
        for name in SIDES
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=Path, default=DEFAULT_ARTICLES)
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS-ingest.json"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="Only the first N articles.")
    parser.add_argument("--backend", default="onnx", help="QA_EMBED_BACKEND for ours and raw encode.")
    args = parser.parse_args()
    if not args.articles.is_file():
        raise SystemExit(
            f"no articles at {args.articles}: pass --articles PATH to a JSONL corpus "
            "(the shared SQuAD set lives in ../shared/benchmarks/squad-dev-half/ beside the repo)"
        )
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(key, "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    start_maxrss = _maxrss_mb()
    import langchain_chroma  # noqa: F401  (imports are not what is measured)
    import torch

    from index.embedder import load_sentence_transformer
    from qa.settings import Settings
    from qa.wiring import build_embedder

    workdir = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    if args.limit:
        lines = [line for line in args.articles.read_text(encoding="utf-8").splitlines() if line.strip()]
        subset = workdir / f"first-{args.limit}-{args.articles.name}"
        subset.write_text("\n".join(lines[: args.limit]) + "\n", encoding="utf-8")
        args.articles = subset
    embedder = build_embedder(Settings(embed_backend=args.backend, model_cache=workdir / "models"))
    embedder.load()  # an ONNX backend exports here (not timed: once per machine)
    loaded = time.perf_counter()
    embedder = build_embedder(Settings(embed_backend=args.backend, model_cache=workdir / "models"))
    embedder.load()
    load_seconds = time.perf_counter() - loaded
    textbook_model = load_sentence_transformer(embedder.name, "cpu")
    texts, n_articles, chars = chunk_texts(args.articles, embedder, workdir / "chunker")
    embedder.encoder.encode(texts[:64], 32)  # warm the kernels
    textbook_model.encode(texts[:64], batch_size=32, show_progress_bar=False)
    print(f"{n_articles} articles, {chars:,} chars, {len(texts)} chunks; model load {load_seconds:.1f} s",
          file=sys.stderr)

    reps = []
    for i in range(args.repeats):
        print(f"repetition {i + 1} ({'raw encode first' if i % 2 == 0 else 'reverse order'})",
              file=sys.stderr)
        reps.append(repetition(args.articles, embedder, textbook_model, texts, workdir / f"rep{i + 1}",
                               raw_first=i % 2 == 0))
        summarize(reps[-1], chars)
    median = median_rows(reps)
    summarize(median, chars)
    result: dict[str, Any] = {
        "corpus": {"path": str(args.articles), "articles": n_articles, "chars": chars, "chunks": len(texts)},
        "backend": args.backend, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": {
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average": os.getloadavg(),
            **{p: version(p) for p in ("torch", "sentence-transformers", "onnxruntime", "chromadb",
                                       "langchain-chroma")},
        },
        "model_load_seconds": load_seconds,
        "process_peak_rss_mb": max(start_maxrss, _maxrss_mb(), *(r["peak_rss_mb"] or 0 for rep in reps
                                                                 for r in rep.values())),
        "repetitions": [{"rows": rep, **ratios(rep)} for rep in reps],
        "median": {"rows": median, **ratios(median)},
    }
    for i, rep in enumerate(result["repetitions"], 1):
        print(f"\nRepetition {i}\n\n{table(rep['rows'])}")
    m = result["median"]
    print(f"\nMedian of {len(reps)}\n\n{table(median)}\n")
    print(f"ours/raw encode chunks/s: {m['ours_vs_raw_chunks_per_s']:.3f} (target >= 0.90); "
          f"ours/our embedder alone: {m['ours_vs_embedder_alone_chunks_per_s']:.3f}; "
          f"ours/textbook chars/s: {m['ours_vs_textbook_chars_per_s']:.2f}; "
          f"re-ingest unchanged: {100 * m['reingest_share_of_first']:.2f}% of the first (target < 2%); "
          f"ours outside the embedding: {m['ours_cpu_seconds_outside_embedding']:.2f} CPU s; "
          f"model load {load_seconds:.1f} s (not in any row); process peak RSS "
          f"{result['process_peak_rss_mb']:,.0f} MB")
    shutil.rmtree(workdir, ignore_errors=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
