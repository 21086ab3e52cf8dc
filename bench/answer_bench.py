"""Answer benchmark on the shared SQuAD set: ours vs the textbook LangChain pipeline, same run.

    python -m bench.answer_bench [--limit 1000] [--articles PATH] [--questions PATH]

Textbook pipeline: RecursiveCharacterTextSplitter(1000, 200), the same MiniLM model, Chroma,
top-k by cosine; its answer is the best-cosine sentence of its top chunk. Metrics (SQuAD
normalisation): hit@k = a top-k passage contains a gold answer; answer-contains-gold = the
answer text (at most two sentences) contains a gold answer; citation validity = every quote
equals the article text at its offsets; latency = wall-clock seconds of one question.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.squad import ROOT, load_questions, normalize
from index.loaders import load_file
from qa.assistant import Assistant
from qa.settings import Settings

SHARED = ROOT.parent / "shared" / "benchmarks" / "squad-dev-half"


def contains_gold(text: str, answers: list[str]) -> bool:
    norm = normalize(text)
    return any(normalize(a) and normalize(a) in norm for a in answers)


def sample(questions: list[dict[str, Any]], limit: int | None, seed: int = 13) -> list[dict[str, Any]]:
    if not limit or limit >= len(questions):
        return questions
    return random.Random(seed).sample(questions, limit)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def run_ours(assistant: Assistant, questions: list[dict[str, Any]], k: int, **options: Any) -> dict[str, Any]:
    hits1 = hits5 = contains = valid = cited = 0
    latencies: list[float] = []
    texts: dict[str, str] = {}
    for q in tqdm(questions, desc="ours", unit="q", disable=None):
        t0 = time.perf_counter()
        answer = assistant.ask(q["question"], k=k, **options)
        latencies.append(time.perf_counter() - t0)
        passages = [p.text for p in answer.passages]
        hits1 += any(contains_gold(p, q["answers"]) for p in passages[:1])
        hits5 += any(contains_gold(p, q["answers"]) for p in passages[:5])
        body = " ".join(c.quote for c in answer.citations) if answer.answered else ""
        contains += contains_gold(body, q["answers"])
        for c in answer.citations:
            if c.article_id not in texts:
                texts[c.article_id] = assistant.article_text(c.article_id) or ""
            cited += 1
            valid += texts[c.article_id][c.start : c.end] == c.quote
    n = len(questions)
    return {
        "hit@1": hits1 / n, "hit@5": hits5 / n, "answer_contains_gold": contains / n,
        "citation_validity": valid / cited if cited else 1.0, "citations": cited,
        "p50_ms": 1000 * percentile(latencies, 50), "p95_ms": 1000 * percentile(latencies, 95), "n": n,
    }


def build_baseline(articles_path: Path, embedder: Any, workdir: Path) -> Any:
    """RecursiveCharacterTextSplitter(1000, 200) + Chroma.from_documents, same model."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    class MiniLM(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed_documents(texts).tolist()  # type: ignore[no-any-return]

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_query(text).tolist()  # type: ignore[no-any-return]

    articles = load_file(articles_path, max_bytes=100_000_000).articles
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    docs = splitter.split_documents(
        [Document(page_content=a.text, metadata={"article_id": a.id}) for a in articles]
    )
    import chromadb

    client = chromadb.PersistentClient(
        path=str(workdir / "baseline"), settings=chromadb.config.Settings(anonymized_telemetry=False)
    )
    return Chroma.from_documents(
        docs, MiniLM(), client=client, collection_name="baseline",
        collection_metadata={"hnsw:space": "cosine"},
    )


def run_baseline(store: Any, embedder: Any, questions: list[dict[str, Any]], k: int) -> dict[str, Any]:
    from index.sentences import sentence_spans_in

    hits1 = hits5 = contains = 0
    latencies: list[float] = []
    for q in tqdm(questions, desc="textbook", unit="q", disable=None):
        t0 = time.perf_counter()
        docs = store.similarity_search(q["question"], k=k)
        top = docs[0].page_content if docs else ""
        sentences = [top[a:b] for a, b in sentence_spans_in(top, 0, len(top))] or [top]
        vectors = embedder.embed_documents(sentences)
        best = sentences[int(np.argmax(vectors @ embedder.embed_query(q["question"])))]
        latencies.append(time.perf_counter() - t0)
        texts = [d.page_content for d in docs]
        hits1 += any(contains_gold(t, q["answers"]) for t in texts[:1])
        hits5 += any(contains_gold(t, q["answers"]) for t in texts[:5])
        contains += contains_gold(best, q["answers"])
    n = len(questions)
    return {
        "hit@1": hits1 / n, "hit@5": hits5 / n, "answer_contains_gold": contains / n,
        "citation_validity": None, "citations": 0,
        "p50_ms": 1000 * percentile(latencies, 50), "p95_ms": 1000 * percentile(latencies, 95), "n": n,
    }


def table(rows: dict[str, dict[str, Any]]) -> str:
    cols = ["hit@1", "hit@5", "answer_contains_gold", "citation_validity", "p50_ms", "p95_ms", "n"]
    lines = ["| pipeline | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in rows.items():
        cells = []
        for c in cols:
            v = row.get(c)
            cells.append("-" if v is None else f"{v:.3f}" if isinstance(v, float) and c[0] != "p"
                         else f"{v:.1f}" if isinstance(v, float) else str(v))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=Path, default=SHARED / "articles.jsonl")
    parser.add_argument("--questions", type=Path, default=SHARED / "questions.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="Random sample of N questions (seed 13).")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None, help="Keep indexes here (default: temp).")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="Write the numbers as JSON.")
    args = parser.parse_args()
    if not args.articles.exists():
        raise SystemExit(f"no articles at {args.articles}: pass --articles (the shared SQuAD set)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="answer-bench-"))
    questions = sample(load_questions(args.questions), args.limit)
    assistant = Assistant(Settings(data_dir=workdir / "ours"))
    print(assistant.ingest([args.articles]).summary())
    assistant.ask("warm up", k=args.k)
    rows = {
        "ours (hybrid)": run_ours(assistant, questions, args.k),
        "ours (dense only)": run_ours(assistant, questions, args.k, hybrid=False),
    }
    if not args.no_baseline:
        embedder = assistant.embedder
        store = build_baseline(args.articles, embedder, workdir)
        rows["textbook LangChain"] = run_baseline(store, embedder, questions, args.k)
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
