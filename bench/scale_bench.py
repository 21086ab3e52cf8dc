"""Question latency at corpus size: 1k to 100k chunks (issue 13).

One index:

    python -m bench.scale_bench --data-dir /tmp/scale/bbc [--questions 200] [--out FILE]

The sweep (builds the corpora of ``bench.scale_corpus`` in ``--sweep``, then measures each in a
fresh process, writes ``docs/scale-latency.png`` and prints the BENCHMARKS.md table):

    OMP_NUM_THREADS=1 nice -n 5 python -m bench.scale_bench --sweep /tmp/scale-work \
        --source /tmp/answers-work/bbc --sizes 1000 5000 10000 100000

Tiers: 1000 is a seeded sample of BBC articles with their real vectors; 5000 is the whole BBC
index of ``--source`` (about 5.6k chunks, built by the real model) as copied; each larger size
is the one below it plus synthetic articles (BBC sentence mixes with reused vectors,
``--per-article`` chunks each). A tier is built only when its folder is missing, or goes on
where an interrupted build stopped; results are kept in ``--sweep`` as ``results-SIZE.json``
(delete one to measure again).

Per index, in a process that starts without the model or the store loaded:

- model load: ``SentenceTransformerEmbedder`` loaded and one query embedded (reported alone);
- first question: ``Assistant(settings)`` opened and asked one question (store open, lexicon
  caught up, vectors loaded; the model already loaded);
- ask p50/p95, hybrid, k=5, cold: ``--questions`` article titles (seed 13), each asked for the
  first time (its query and its passages' sentences not yet embedded by this process);
- ask p50/p95, hybrid, k=5, warm: the same titles with a ``?`` appended: a new query string
  (embedded again), the same passages (their sentence vectors in the LRU cache of
  ``qa.answer.sentvec``); repeat: the titles again (the query vector cached as well: no model
  work, the store, lexicon and answer step alone); dense only: the titles lower-cased, warm
  the same way; the median of each stage the answers report beside each;
- add one article: ``Assistant.ingest`` of ``../shared/articles/kazakhstan-unrest.txt`` (a real
  article in no tier), its embedding alone, the first question after it, its delete, the first
  question after that (``--as-page``: first warmed up as the page does as it starts, models
  and ``Assistant.prepare_ingest``, timed apart);
- peak RSS of the process (``ru_maxrss``) and the index folder's size on disk.

Only the public ``Assistant`` API is used, so the same script measures an older checkout
(``PYTHONPATH=that/checkout``) on a copy of the same index.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from qa.assistant import Assistant
from qa.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = next(
    (base / "shared" for base in ROOT.parents if (base / "shared" / "benchmarks").is_dir()),
    ROOT.parent / "shared",
)
BBC = SHARED / "benchmarks" / "bbc-news" / "articles.jsonl"
EXTRA = SHARED / "articles" / "kazakhstan-unrest.txt"
EXTRA_QUESTION = "Which buildings did extremist forces try to assault?"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def _rss_mb() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def _latencies(assistant: Assistant, questions: list[str], **options: Any) -> dict[str, float]:
    """p50/p95 wall time of asking each question, and the median of each stage the answer
    reports (sync, embed, search, rank, compose, verify)."""
    seconds: list[float] = []
    stages: dict[str, list[float]] = {}
    for question in questions:
        answer, took = _timed(lambda q=question: assistant.ask(q, k=5, **options))
        seconds.append(took)
        for stage, value in answer.timings.items():
            stages.setdefault(stage, []).append(value)
    return {
        "p50_ms": 1000 * statistics.median(seconds), "p95_ms": 1000 * _percentile(seconds, 0.95),
        **{f"{stage}_p50_ms": 1000 * statistics.median(v) for stage, v in stages.items()},
    }


def measure(
    data_dir: Path, *, questions: int, profile: Path | None = None, as_page: bool = False
) -> dict[str, Any]:
    """Every number of one index (see the module docstring), in this process."""
    settings = Settings(data_dir=data_dir)
    from qa.wiring import build_embedder

    embedder = build_embedder(settings)
    _, model_load = _timed(lambda: embedder.embed_query("warm up"))
    assistant, open_s = _timed(lambda: Assistant(settings, embedder=embedder))
    records = [r for r in assistant.articles() if r.id.startswith("bbc-")]
    titles = [r.title for r in random.Random(13).sample(records, min(questions, len(records)))]
    _, first = _timed(lambda: assistant.ask(titles[0], k=5))
    results: dict[str, Any] = {
        "chunks": sum(r.chunks for r in assistant.articles()),
        "articles": len(assistant.articles()),
        "questions": len(titles),
        "model_load_s": model_load,
        "open_s": open_s,
        "first_question_s": first,
    }
    results["rss_after_first_question_mb"] = _rss_mb()
    cold = _latencies(assistant, titles[1:])
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    warm = _latencies(assistant, [f"{t}?" for t in titles[1:]])
    if profile is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    repeat = _latencies(assistant, titles[1:])
    dense = _latencies(assistant, [t.lower() for t in titles[1:]], hybrid=False)
    for name, values in (("cold", cold), ("warm", warm), ("repeat", repeat), ("dense_warm", dense)):
        results.update({f"ask_{name}_{key}": value for key, value in values.items()})

    results["rss_after_questions_mb"] = _rss_mb()
    if as_page:
        # What the page does as it starts, before any upload: load the models, then the grouping
        # library and the duplicate index (``prepare_ingest``; an older tree: the library only).
        def page_warm_up() -> None:
            if hasattr(assistant, "prepare_ingest"):
                assistant.warm_up()
                assistant.prepare_ingest()
            else:
                assistant.warm_up(ingest=True)

        _, results["page_warm_up_s"] = _timed(page_warm_up)
    report, add_s = _timed(lambda: assistant.ingest([EXTRA]))
    added = (report.added or report.updated)[0]
    texts = [h.chunk.text for h in assistant.store.chunks_by_ids(assistant.store.chunk_ids(added)).values()]
    _, embed_s = _timed(lambda: embedder.embed_documents(texts))
    _, after_add = _timed(lambda: assistant.ask(EXTRA_QUESTION, k=5))
    _, delete_s = _timed(lambda: assistant.delete(added))
    _, after_delete = _timed(lambda: assistant.ask(titles[-1] + " ...", k=5))
    results.update({
        "add_one_article_s": add_s,
        "add_one_article_chunks": report.chunks_added,
        "its_embedding_alone_s": embed_s,
        "first_question_after_add_s": after_add,
        "delete_one_article_s": delete_s,
        "first_question_after_delete_s": after_delete,
        "peak_rss_mb": _rss_mb(),
        "disk_mb": _disk_mb(data_dir),
    })
    return results


# -- the sweep ---------------------------------------------------------------------------------


def _build(work: Path, sizes: list[int], source: Path, per_article: int) -> dict[int, Path]:
    from bench.scale_corpus import (
        Prechunked,
        ReusedVectors,
        bbc_subset,
        load_pool,
        load_records,
        synthetic_articles,
    )
    from qa.wiring import build_deduper, build_embedder

    folders = {size: work / f"chunks-{size}" for size in sizes}
    if all((f / "scale-tier.json").exists() or (s <= 5000 and f.exists()) for s, f in folders.items()):
        return folders
    settings = Settings(data_dir=source)
    records = load_records(BBC)
    real = build_embedder(settings)
    pool = load_pool(source, records, real.name, work / "pool.pkl")
    vectors = ReusedVectors(real, pool)
    full = work / "chunks-5000"
    if not full.exists():
        shutil.copytree(source, full)  # the shared index is read-only: open a copy
        # Brings the lexicon and the near-duplicate signatures in step, as a real ingest leaves
        # them, so no measured step pays for building them.
        settled = Assistant(Settings(data_dir=full), embedder=vectors)
        settled.delete((settled.ingest([EXTRA]).added or ["?"])[0])
    previous = full
    for size in sorted(sizes):
        folder = folders[size]
        if size < 5000 and not folder.exists():
            stored = {r.id: r.chunks for r in Assistant(Settings(data_dir=full), embedder=vectors).articles()}
            articles = bbc_subset(records, size, stored)
            subset = Assistant(Settings(data_dir=folder), embedder=vectors)
            _run(subset.ingest_articles, articles, folder, articles)
        elif size > 5000:
            if not (folder / "scale-tier.json").exists():
                if not folder.exists():
                    shutil.copytree(previous, folder)
                    (folder / "scale-tier.json").unlink(missing_ok=True)
                assistant = Assistant(Settings(data_dir=folder), embedder=vectors)
                ingestor = Prechunked(
                    assistant.store, vectors, lexicon=assistant.lexicon,
                    dedup=build_deduper(assistant.settings),
                )
                # Numbered on from the last recorded one: an interrupted build goes on, and
                # the articles a killed run left half-written are written again (crash-safe).
                made = 1 + max((int(r.id[6:]) for r in assistant.articles() if r.id.startswith("synth-")),
                               default=-1)
                while (have := assistant.store.count_chunks()) < size:
                    batch = max(1, min(5000 // per_article, (size - have) // per_article))
                    items = synthetic_articles(pool, batch, vectors, start=made, per_article=per_article)
                    _run(ingestor.ingest_synthetic, [i.article for i in items], folder, items)
                    made += batch
                (folder / "scale-tier.json").write_text(json.dumps({"synthetic": made}))
            previous = folder
    print(f"vectors: {vectors.reused} real chunk vectors, {vectors.mixed} sentence mixes", flush=True)
    return folders


def _run(ingest: Any, articles: list[Any], folder: Path, items: list[Any]) -> None:
    report, seconds = _timed(lambda: ingest(items))
    chars = sum(len(a.text) for a in articles)
    print(f"{folder.name}: {report.summary()} [{seconds:.0f} s, {chars / seconds:,.0f} chars/s]", flush=True)


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.8), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    chunks = [r["chunks"] for r in rows]
    for key, label, style in (
        ("ask_cold_p50_ms", "hybrid, cold: p50", "o-"), ("ask_cold_p95_ms", "hybrid, cold: p95", "o--"),
        ("ask_warm_p50_ms", "hybrid, warm: p50", "s-"), ("ask_warm_p95_ms", "hybrid, warm: p95", "s--"),
        ("ask_repeat_p50_ms", "hybrid, repeat: p50", "d-"),
    ):
        ax.plot(chunks, [r[key] for r in rows], style, label=label)
    ax.plot(chunks, [1000 * (r["open_s"] + r["first_question_s"]) for r in rows], "^:",
            label="open + first question")
    ax.set(xscale="log", yscale="log", xlabel="chunks in the index", ylabel="ms",
           title="Ask latency by corpus size (k=5)")
    ax.axhline(60, color="grey", linewidth=0.8, label="issue 13 target: p50 60 ms")
    ax.axhline(150, color="grey", linewidth=0.8, linestyle="--", label="issue 13 target: p95 150 ms")
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| | " + " | ".join(f"{r['chunks']:,} chunks" for r in rows) + " |",
        "|---|" + "---|" * len(rows),
    ]
    spec = [
        ("articles", "articles", "{:,}"),
        ("ask p50 / p95, hybrid, cold", ("ask_cold_p50_ms", "ask_cold_p95_ms"), "{:.0f} / {:.0f} ms"),
        ("ask p50 / p95, hybrid, warm", ("ask_warm_p50_ms", "ask_warm_p95_ms"), "{:.0f} / {:.0f} ms"),
        ("ask p50 / p95, hybrid, repeat", ("ask_repeat_p50_ms", "ask_repeat_p95_ms"), "{:.0f} / {:.0f} ms"),
        ("ask p50 / p95, dense only, warm", ("ask_dense_warm_p50_ms", "ask_dense_warm_p95_ms"),
         "{:.0f} / {:.0f} ms"),
        ("first question after start: open + ask (model loaded)", ("open_s", "first_question_s"),
         "{:.2f} + {:.2f} s"),
        ("model load alone", "model_load_s", "{:.1f} s"),
        ("add one article (chunks; its embedding alone)",
         ("add_one_article_s", "add_one_article_chunks", "its_embedding_alone_s"), "{:.2f} s ({}; {:.2f} s)"),
        ("first question after adding it", "first_question_after_add_s", "{:.2f} s"),
        ("delete it / first question after", ("delete_one_article_s", "first_question_after_delete_s"),
         "{:.2f} s / {:.2f} s"),
        ("peak RSS of the asking process", "peak_rss_mb", "{:,.0f} MB"),
        ("index on disk", "disk_mb", "{:,.0f} MB"),
    ]
    for label, keys, fmt in spec:
        names = keys if isinstance(keys, tuple) else (keys,)
        lines.append(f"| {label} | " + " | ".join(fmt.format(*(r[k] for k in names)) for r in rows) + " |")
    return "\n".join(lines)


def sweep(
    work: Path, sizes: list[int], source: Path, questions: int, plot: Path, per_article: int
) -> None:
    folders = _build(work, sizes, source, per_article)
    rows = []
    for size in sizes:
        out = work / f"results-{size}.json"
        if not out.exists():
            # A fresh process per index: first question after start, and its own peak RSS.
            subprocess.run([
                sys.executable, "-m", "bench.scale_bench", "--data-dir", str(folders[size]),
                "--questions", str(questions), "--out", str(out),
            ], check=True, cwd=ROOT)
        rows.append(json.loads(out.read_text()))
    _plot(rows, plot)
    print(_table(rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, help="measure this index")
    parser.add_argument("--sweep", type=Path, help="build (when missing) and measure every size here")
    parser.add_argument("--source", type=Path, default=Path("/tmp/answers-work/bbc"),
                        help="a data dir of the whole BBC corpus built by the real model (copied)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000, 100000])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--per-article", type=int, default=20,
                        help="chunks per synthetic article (each article costs two store upserts)")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "scale-latency.png")
    parser.add_argument("--profile", type=Path, help="cProfile the warm pass into this file")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--as-page", action="store_true",
                        help="before adding an article, prepare for ingest as the page does once ready")
    args = parser.parse_args()
    if args.sweep:
        sweep(args.sweep, args.sizes, args.source, args.questions, args.plot, args.per_article)
        return
    if args.data_dir is None:
        parser.error("give --data-dir or --sweep")
    results = measure(args.data_dir, questions=args.questions, profile=args.profile, as_page=args.as_page)
    for key, value in results.items():
        print(f"{key:32} {value:.3f}" if isinstance(value, float) else f"{key:32} {value}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
