"""Question latency at corpus size: ask p50/p95, first question after start, adding one article.

    python -m bench.scale_bench --data-dir /tmp/scale/bbc \
        [--articles ../shared/benchmarks/bbc-news/articles.jsonl] [--questions 200] [--out FILE]

Indexes ``--articles`` into ``--data-dir`` first when it is empty (the real model, an hour on 2
busy cores; or ``--fake-vectors``: hashed bag-of-words vectors of the model's size), then,
in this process, which starts without the model or the store loaded:

- model load: ``SentenceTransformerEmbedder`` loaded and one query embedded (reported alone);
- first question: ``Assistant(settings)`` opened and asked one question (store open, keyword
  index brought in step, vectors loaded; the model already loaded);
- ask p50/p95: ``--questions`` questions (article titles, seed 13), hybrid and dense-only, k=5;
- add one article: ``ingest_articles`` of a new article (BBC sentences of two articles joined,
  so it is no copy), then the first question after it, then its delete;
- peak RSS of the process (``ru_maxrss``).

Only the public ``Assistant`` API is used, so the same script measures an older checkout
(``PYTHONPATH=that/checkout``) on a copy of the same index.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from index.models import Article
from qa.assistant import Assistant
from qa.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "bbc-news"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def _index(settings: Settings, articles: Path, *, fake_vectors: bool) -> Any:
    if not fake_vectors:
        return Assistant(settings).ingest([articles], progress=True)
    from index.embedder import DEFAULT_MODEL
    from tests.fakes import FakeEmbedder

    # Labelled with the real model's name and size, so the real model can ask over it.
    fake = FakeEmbedder(dim=384, name=DEFAULT_MODEL, max_tokens=254)
    return Assistant(settings, embedder=fake).ingest([articles], progress=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--articles", type=Path, default=SHARED / "articles.jsonl")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--fake-vectors", action="store_true",
        help="Index with hashed bag-of-words vectors of the model's size (minutes -> seconds); "
        "questions still use the real model, so latency is real, retrieval quality is not.",
    )
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir)
    records = _load(args.articles)
    if not (args.data_dir / "chroma").exists():
        print(_index(settings, args.articles, fake_vectors=args.fake_vectors).summary())

    from qa.wiring import build_embedder

    embedder = build_embedder(settings)
    _, model_load = _timed(lambda: embedder.embed_query("warm up"))
    assistant, open_s = _timed(lambda: Assistant(settings, embedder=embedder))
    rng = random.Random(13)
    questions = [r["title"] for r in rng.sample(records, min(args.questions, len(records)))]
    _, first = _timed(lambda: assistant.ask(questions[0]))
    latencies: dict[str, list[float]] = {"hybrid": [], "dense": []}
    for question in questions:
        for mode in latencies:
            _, seconds = _timed(lambda q=question, m=mode: assistant.ask(q, k=5, hybrid=m == "hybrid"))
            latencies[mode].append(seconds)

    a, b = rng.sample(records, 2)
    text = " ".join(a["text"].split(". ")[:6]) + "\n\n" + " ".join(b["text"].split(". ")[-6:])
    new = Article(id="scale-bench-new", title=f"{a['title']} / {b['title']}", text=text)
    report, add_s = _timed(lambda: assistant.ingest_articles([new]))
    _, embed_s = _timed(lambda: embedder.embed_documents([text]))
    _, first_after_add = _timed(lambda: assistant.ask(a["title"]))
    _, delete_s = _timed(lambda: assistant.delete(new.id))
    _, first_after_delete = _timed(lambda: assistant.ask(b["title"]))

    results = {
        "articles": len(assistant.articles()),
        "chunks": sum(r.chunks for r in assistant.articles()),
        "model_load_s": model_load,
        "open_s": open_s,
        "first_question_s": first,
        **{f"ask_{mode}_p50_ms": 1000 * statistics.median(v) for mode, v in latencies.items()},
        **{f"ask_{mode}_p95_ms": 1000 * _percentile(v, 0.95) for mode, v in latencies.items()},
        "questions": len(questions),
        "add_one_article_s": add_s,
        "add_one_article_chunks": report.chunks_added,
        "its_embedding_alone_s": embed_s,
        "first_question_after_add_s": first_after_add,
        "delete_one_article_s": delete_s,
        "first_question_after_delete_s": first_after_delete,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    for key, value in results.items():
        print(f"{key:32} {value:.3f}" if isinstance(value, float) else f"{key:32} {value}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
