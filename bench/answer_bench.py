"""Answer benchmark: main's composer, the learned one and the textbook pipeline, in one run.

    python -m bench.answer_bench [--sets squad,readers,sample,bbc] [--limit N] [--workdir DIR]
                                 [--bbc-index DIR] [--no-baseline] [--latency 300] [--out FILE]

Question sets (only splits the answer model was NOT fitted on; see ``bench.train_answerer``):
``squad``: the 12 dev articles of the shared SQuAD half (``bench.answer_data.squad_split``);
``readers``: the dev split of ``qa/samples/questions/kazakhstan-readers.jsonl``; ``sample``:
``qa/samples/questions/kazakhstan.jsonl`` (never trained on); ``bbc``: the dev split of
``bench/data/bbc-questions.jsonl`` over all 2,225 BBC articles. Retrieval runs once per question
(k=5, hybrid) and every composer answers from the same passages; answers are verified by
``finalize`` exactly as ``ask`` does. Textbook pipeline (SQuAD only):
RecursiveCharacterTextSplitter(1000, 200), the same MiniLM model, Chroma, top-5 by cosine; its
answer is the best-cosine sentence of its top chunk.

Metrics (``qa.eval.metrics`` normalisation): hit@k = a top-k passage contains a gold answer;
contains-gold = the answer contains a gold answer (answerable questions; an abstention is a miss);
abstained = share of answerable / unanswerable questions answered "not found"; EM/F1 = SQuAD exact
match and token F1 of the short answer when there is one, else of the whole answer;
short_of_factoid = share of answered factoid questions (``qa.answer.spans.wants_phrase``) given a
short answer; short_precision = share of shown short answers that are a gold answer (EM); citation
validity = quotes equal to the article text at their offsets. ``--latency N`` times whole
``ask`` calls on N SQuAD dev questions (819 chunks): sentence vectors computed at question time
(LRU cache, cold at start) vs all sentence vectors computed beforehand as ingest would.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.answer_data import (
    BBC,
    BBC_QUESTIONS,
    READERS,
    SAMPLE_ARTICLES,
    SAMPLE_SET,
    SQUAD,
    Asked,
    open_index,
    retrieve_all,
    set_questions,
    squad_questions,
)
from bench.legacy_composer import LegacyComposer
from index.loaders import load_file
from index.sentences import sentence_spans_in
from qa.answer.citations import finalize
from qa.answer.composer import Composer
from qa.answer.extractive import ExtractiveComposer
from qa.answer.model import AnswererModel
from qa.answer.spans import wants_phrase
from qa.assistant import Assistant
from qa.eval.metrics import contains_gold, exact_match, token_f1
from qa.settings import Settings

SHARED = SQUAD  # kept for bench.ablation


def sample(questions: list[dict[str, Any]], limit: int | None, seed: int = 13) -> list[dict[str, Any]]:
    if not limit or limit >= len(questions):
        return questions
    return random.Random(seed).sample(questions, limit)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def gold(text: str, answers: list[str]) -> bool:
    return contains_gold(text, answers) == 1.0


def run_composer(
    assistant: Assistant, asked: list[Asked], composer: Composer, texts: Callable[[str], str]
) -> dict[str, Any]:
    """Every question answered by ``composer`` from the same passages, verified, scored."""
    rows: dict[str, list[float]] = {k: [] for k in (
        "hit@1", "hit@5", "answer_contains_gold", "abstained_answerable", "abstained_unanswerable",
        "short_em", "short_f1", "valid", "short_given", "short_of_factoid", "short_precision")}
    latencies = []
    for a in asked:
        t0 = time.perf_counter()
        draft = composer.compose(a.request)
        wanted = {q.article_id for s in draft.segments for q in s.quotes}
        answer = finalize(a.request, draft, {i: texts(i) for i in wanted}, timings={})
        latencies.append(time.perf_counter() - t0)
        answers = a.answers
        for c in answer.citations:
            rows["valid"].append(float(texts(c.article_id)[c.start : c.end] == c.quote))
        if not answers:
            rows["abstained_unanswerable"].append(float(not answer.answered))
            continue
        passages = [p.text for p in answer.passages]
        rows["hit@1"].append(float(any(gold(p, answers) for p in passages[:1])))
        rows["hit@5"].append(float(any(gold(p, answers) for p in passages[:5])))
        body = " ".join(c.quote for c in answer.citations) if answer.answered else ""
        rows["answer_contains_gold"].append(float(gold(body, answers)))
        rows["abstained_answerable"].append(float(not answer.answered))
        short = answer.short.text if answer.short else (body if answer.answered else "")
        rows["short_em"].append(exact_match(short, answers) or 0.0)
        rows["short_f1"].append(token_f1(short, answers) or 0.0)
        rows["short_given"].append(float(answer.short is not None))
        if answer.answered and wants_phrase(a.request.question):
            # Of the answered factoid questions, how many lead with a phrase, and how often
            # the phrase shown is a gold answer (normalised exact match).
            rows["short_of_factoid"].append(float(answer.short is not None))
        if answer.short is not None:
            rows["short_precision"].append(exact_match(answer.short.text, answers) or 0.0)
    out: dict[str, Any] = {k: _mean(v) for k, v in rows.items() if k != "valid"}
    out["citation_validity"] = _mean(rows["valid"]) if rows["valid"] else 1.0
    out["compose_p50_ms"] = 1000 * percentile(latencies, 50)
    out["n"] = len(asked)
    out["unanswerable"] = len(rows["abstained_unanswerable"])
    return out


def calibration(composer: ExtractiveComposer, asked: list[Asked]) -> dict[str, Any]:
    """Is ``confidence`` a probability of being right? Each question's would-be answer (the
    chosen sentences, abstention off) is right when it contains a gold answer (never, for an
    unanswerable question). ECE over 10 equal-width bins, the reliability bins themselves, and
    the risk-coverage curve: accuracy of the most confident answers at each share answered."""
    conf, right = [], []
    for a in asked:
        table = composer.table(a.request)
        if not table.candidates:
            conf.append(0.0)
            right.append(0.0)
            continue
        probs = composer.score(table)
        conf.append(composer.confidence(table, probs))
        text = " ".join(c.text for c, _ in composer._choose(table, probs))
        right.append(float(bool(a.answers) and gold(text, a.answers)))
    p, y = np.asarray(conf), np.asarray(right)
    which = np.minimum((p * 10).astype(int), 9)
    used = [b for b in range(10) if (which == b).any()]
    ece = sum(abs(p[which == b].mean() - y[which == b].mean()) * (which == b).sum()
              for b in used) / max(len(p), 1)
    bins = [{"bin": f"{b / 10:.1f}-{(b + 1) / 10:.1f}", "n": int((which == b).sum()),
             "confidence": float(p[which == b].mean()), "accuracy": float(y[which == b].mean())}
            for b in used]
    order = np.argsort(-p, kind="stable")
    curve = {}
    for share in (0.2, 0.4, 0.6, 0.8, 1.0):
        top = order[: max(1, round(share * len(p)))]
        curve[f"{share:.1f}"] = float(y[top].mean())
    # Area under the risk-coverage curve (lower is better): mean risk over every coverage.
    aurc = float(np.mean(1.0 - np.cumsum(y[order]) / np.arange(1, len(y) + 1))) if len(y) else None
    return {"ece": float(ece), "reliability": bins, "accuracy_at_coverage": curve, "aurc": aurc,
            "mean_confidence": float(p.mean()), "accuracy": float(y.mean()), "n": len(p)}


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


def run_baseline(store: Any, embedder: Any, questions: list[dict[str, Any]], k: int = 5) -> dict[str, Any]:
    rows: dict[str, list[float]] = {k: [] for k in ("hit@1", "hit@5", "answer_contains_gold",
                                                     "short_em", "short_f1")}
    latencies: list[float] = []
    for q in questions:
        t0 = time.perf_counter()
        docs = store.similarity_search(q["question"], k=k)
        top = docs[0].page_content if docs else ""
        sentences = [top[a:b] for a, b in sentence_spans_in(top, 0, len(top))] or [top]
        vectors = embedder.embed_documents(sentences)
        best = sentences[int(np.argmax(vectors @ embedder.embed_query(q["question"])))]
        latencies.append(time.perf_counter() - t0)
        texts = [d.page_content for d in docs]
        rows["hit@1"].append(float(any(gold(t, q["answers"]) for t in texts[:1])))
        rows["hit@5"].append(float(any(gold(t, q["answers"]) for t in texts[:5])))
        rows["answer_contains_gold"].append(float(gold(best, q["answers"])))
        rows["short_em"].append(exact_match(best, q["answers"]) or 0.0)
        rows["short_f1"].append(token_f1(best, q["answers"]) or 0.0)
    out: dict[str, Any] = {k: _mean(v) for k, v in rows.items()}
    out.update({"abstained_answerable": 0.0, "citation_validity": None,
                "ask_p50_ms": 1000 * percentile(latencies, 50), "n": len(questions)})
    return out


def latency(embedder: Any, workdir: Path, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Whole-``ask`` p50 on the SQuAD index: sentence vectors at question time vs beforehand."""
    out: dict[str, Any] = {}
    for mode in ("question time (LRU cache, cold start)", "computed beforehand (as at ingest)"):
        assistant = Assistant(Settings(data_dir=workdir / "squad"), embedder=embedder)
        assistant.ask("warm up")
        composer = assistant.chain.composers["extractive"]
        vectors = getattr(composer, "_vectors", None)
        if mode.startswith("computed") and vectors is not None:
            t0 = time.perf_counter()
            chunks = assistant.chain.store.all_chunks()
            sentences = [h.chunk.text[a:b] for h in chunks
                         for a, b in sentence_spans_in(h.chunk.text, 0, len(h.chunk.text))]
            vectors.sentences(sentences)
            out["precompute_seconds"] = time.perf_counter() - t0
            out["precompute_sentences"] = len(set(sentences))
        times = []
        for q in questions:
            t0 = time.perf_counter()
            assistant.ask(q["question"])
            times.append(time.perf_counter() - t0)
        out[mode] = {"p50_ms": 1000 * percentile(times, 50), "p95_ms": 1000 * percentile(times, 95),
                     "n": len(times), "chunks": assistant.chain.store.count_chunks()}
    return out


COLUMNS = ("hit@1", "hit@5", "answer_contains_gold", "abstained_answerable", "abstained_unanswerable",
           "short_em", "short_f1", "short_of_factoid", "short_precision", "citation_validity",
           "compose_p50_ms", "ask_p50_ms", "n")


def table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["| set / pipeline | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in rows.items():
        cells = []
        for c in COLUMNS:
            v = row.get(c)
            cells.append("-" if v is None else f"{v:.1f}" if c.endswith("_ms")
                         else f"{v:.3f}" if isinstance(v, float) else str(v))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def calibration_table(rows: dict[str, dict[str, Any]]) -> str:
    shares = ("0.2", "0.4", "0.6", "0.8", "1.0")
    lines = ["| set / composer | ECE | mean conf. | accuracy | AURC | "
             + " | ".join(f"acc@{s}" for s in shares) + " | n |", "|---" * (len(shares) + 6) + "|"]
    for name, r in rows.items():
        curve = " | ".join(f"{r['accuracy_at_coverage'][s]:.3f}" for s in shares)
        lines.append(f"| {name} | {r['ece']:.3f} | {r['mean_confidence']:.3f} | {r['accuracy']:.3f} | "
                     f"{r['aurc']:.3f} | {curve} | {r['n']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default="squad,readers,sample,bbc")
    parser.add_argument("--limit", type=int, default=None, help="Random sample of N questions per set.")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep indexes here (default: temp).")
    parser.add_argument("--bbc-index", type=Path, default=None, help="An existing BBC data dir.")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--latency", type=int, default=300, help="Questions for the ask p50 (0: skip).")
    parser.add_argument("--out", type=Path, default=None, help="Write the numbers as JSON.")
    parser.add_argument("--before-weights", type=Path, default=None,
                        help="Also run the learned composer with these weights and without the "
                             "money prior (a before/after row).")
    parser.add_argument("--every-short", action="store_true",
                        help="Also run the learned composer with every short answer shown (no "
                             "precision floor): what the floor costs on short EM/F1.")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="answer-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    plans = {
        "squad": (SQUAD / "articles.jsonl", squad_questions("dev")),
        "readers": (SAMPLE_ARTICLES, set_questions(READERS, "dev")),
        "sample": (SAMPLE_ARTICLES, set_questions(SAMPLE_SET, None)),
        "bbc": (BBC / "articles.jsonl", set_questions(BBC_QUESTIONS, "dev")),
    }
    results: dict[str, dict[str, Any]] = {}
    calibrations: dict[str, dict[str, Any]] = {}
    embedder = None
    for name in args.sets.split(","):
        articles, questions = plans[name]
        questions = sample(questions, args.limit)
        if not questions:
            continue
        if name == "bbc" and args.bbc_index:
            assistant = Assistant(Settings(data_dir=args.bbc_index), embedder=embedder)
        else:
            index = "readers" if name == "sample" else name
            assistant = open_index(workdir, index, articles) if embedder is None else Assistant(
                Settings(data_dir=workdir / index), embedder=embedder)
            assistant.ingest([articles])
        embedder = assistant.embedder
        asked = retrieve_all(assistant, questions, workdir, name)
        cache: dict[str, str] = {}

        def texts(article_id: str, assistant: Assistant = assistant, cache: dict[str, str] = cache) -> str:
            if article_id not in cache:
                cache[article_id] = assistant.article_text(article_id) or ""
            return cache[article_id]

        lexical = assistant.chain.retriever.lexicon  # this set's keyword index
        legacy = LegacyComposer(lexical.idf, known=lexical.knows)
        learned = assistant.chain.composers["extractive"]
        vectors = getattr(learned, "_vectors", None)
        cached = workdir / f"sentvec-{name}.pkl"
        if vectors is not None and cached.exists():
            # Sentence vectors of an earlier run of this script: only saves the machine time.
            vectors.preload(pickle.loads(cached.read_bytes()))
        results[f"{name}: main's composer"] = run_composer(assistant, asked, legacy, texts)
        composers: dict[str, Any] = {"learned composer": learned}
        if args.before_weights is not None:
            assert isinstance(learned, ExtractiveComposer)
            composers = {"learned, before (" + args.before_weights.name + ")": ExtractiveComposer(
                learned._idf, replace(learned.config, drop=("money_absent",)), known=learned._known,
                vectors=learned._vectors, model=AnswererModel.load(args.before_weights)), **composers}
        if args.every_short:
            assert isinstance(learned, ExtractiveComposer)
            composers["learned, every short shown"] = ExtractiveComposer(
                learned._idf, replace(learned.config, min_span=0.0), known=learned._known,
                vectors=learned._vectors, model=learned._model, matcher=learned._matcher,
                reader=learned._reader)
        for label, composer in composers.items():
            results[f"{name}: {label}"] = run_composer(assistant, asked, composer, texts)
            calibrations[f"{name}: {label}"] = calibration(composer, asked)
        meta = learned.model.meta if isinstance(learned, ExtractiveComposer) else {}
        strict = meta.get("strict_threshold")
        if strict is not None and isinstance(learned, ExtractiveComposer):
            # The stricter operating point the training script also reports (chosen on train).
            stricter = ExtractiveComposer(
                learned._idf, replace(learned.config, abstain_below=float(strict)), known=learned._known,
                vectors=learned._vectors, model=learned.model)
            results[f"{name}: learned, strict threshold {strict:.3f}"] = run_composer(
                assistant, asked, stricter, texts)
        if vectors is not None:
            cached.write_bytes(pickle.dumps(vectors.export()))
        if name == "squad" and not args.no_baseline:
            store = build_baseline(articles, embedder, workdir)
            results[f"{name}: textbook LangChain"] = run_baseline(store, embedder, questions)
        print(table({k: v for k, v in results.items() if k.startswith(name + ":")}), flush=True)
    print(table(results))
    print(calibration_table(calibrations))
    out: dict[str, Any] = {"rows": results, "calibration": calibrations}
    if args.latency and "squad" in args.sets:
        out["latency"] = latency(embedder, workdir, sample(squad_questions("dev"), args.latency))
        print(json.dumps(out["latency"], indent=1))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
