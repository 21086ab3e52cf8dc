"""Near-duplicate groups in the shared BBC corpus, and what grouping costs at ingest.

    python -m bench.dedup_bench [--articles PATH] [--threshold 0.7] [--sample 20] [--repeats 2]
                                [--out dedup.json]

1. Groups: every article goes through ``Deduper.assign`` in corpus order (as ingest does); groups
   of two or more are counted as exact (all texts byte-identical) or near. For a sample of groups
   (seeded) it prints the titles, the true word 5-gram Jaccard similarity to the group's first
   member, and the first differing words, for checking by eye.
2. Ingest time, de-duplication on vs. off: ``Ingestor.ingest_articles`` into a fresh embedded
   Chroma with a hashed bag-of-words embedder (the real model would take minutes per run on 2
   shared cores and its time does not change with grouping; this isolates what grouping adds).
   With grouping off, the ~130 byte-identical copies are refused, as before; with it on they are
   stored (and embedded), so "on" also stores more.
3. Side file: time to re-open (load the signatures) vs. to recompute them from the texts.
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.squad import ROOT
from index.dedup import Deduper, Stored, shingles, signature
from index.ingest import Ingestor
from index.models import Article
from index.store import ChromaStore

# The tests' hashed bag-of-words embedder: deterministic, microseconds per chunk, no model.
from tests.fakes import FakeEmbedder

DEFAULT_ARTICLES = ROOT.parent / "shared" / "benchmarks" / "bbc-news" / "articles.jsonl"
def load(path: Path) -> list[Article]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Article(r["id"], r["title"], r["text"], source=r.get("source", "")) for r in rows]


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def first_difference(a: str, b: str) -> str:
    wa, wb = a.split(), b.split()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=wa, b=wb, autojunk=False).get_opcodes():
        if tag != "equal":
            return f"{tag}: {' '.join(wa[i1:i2][:12])!r} -> {' '.join(wb[j1:j2][:12])!r}"
    return "identical"


def find_groups(articles: list[Article], threshold: float) -> tuple[dict[str, list[str]], float]:
    dedup = Deduper(None, threshold=threshold)
    dedup.sync([], lambda ids: {})
    started = time.perf_counter()
    groups: dict[str, list[str]] = {}
    for article in articles:
        groups.setdefault(dedup.assign(article.id, article.text, article.hash), []).append(article.id)
    return {g: m for g, m in groups.items() if len(m) > 1}, time.perf_counter() - started


def time_ingest(articles: list[Article], *, dedup: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = ChromaStore.persistent(Path(tmp) / "chroma", model_name=FakeEmbedder().name)
        deduper = Deduper(Path(tmp) / "dedup.npz") if dedup else None
        ingestor = Ingestor(store, FakeEmbedder(), dedup=deduper)
        started = time.perf_counter()
        report = ingestor.ingest_articles(articles)
        seconds = time.perf_counter() - started
        reopened = Deduper(Path(tmp) / "dedup.npz")
        stored = [Stored(r.id, r.hash, r.group) for r in store.articles()]
        t0 = time.perf_counter()
        recomputed = reopened.sync(stored, store.article_texts) if dedup else 0
        reopen = time.perf_counter() - t0
    return {"seconds": seconds, "added": len(report.added), "refused": len(report.failed),
            "reopen_seconds": reopen if dedup else None, "reopen_recomputed": recomputed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=Path, default=DEFAULT_ARTICLES)
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    articles = load(args.articles)
    by_id = {a.id: a for a in articles}

    groups, assign_seconds = find_groups(articles, args.threshold)
    exact = {g: m for g, m in groups.items() if len({by_id[i].text for i in m}) == 1}
    near = {g: m for g, m in groups.items() if g not in exact}
    print(f"{len(articles)} articles, threshold {args.threshold}: {len(groups)} groups of 2+ "
          f"({len(exact)} exact, {len(near)} near), {sum(len(m) for m in groups.values())} articles in them; "
          f"assigning all took {assign_seconds:.2f}s")
    sample = random.Random(args.seed).sample(sorted(groups), min(args.sample, len(groups)))
    # Every near group is worth a look; the sample is drawn from all groups.
    checked = sorted(set(sample) | set(near))
    for g in checked:
        first = by_id[g]
        print(f"\n[{'exact' if g in exact else 'near'}] {g}: {first.title!r}")
        for other in groups[g][1:]:
            o = by_id[other]
            print(f"  {other}: {o.title!r} jaccard={jaccard(first.text, o.text):.2f} "
                  f"{first_difference(first.text, o.text)}")

    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for _ in range(args.repeats):
        for side in ("off", "on"):
            runs[side].append(time_ingest(articles, dedup=side == "on"))
    summary = {side: {"seconds_median": statistics.median(r["seconds"] for r in rs), **rs[-1]}
               for side, rs in runs.items()}
    t0 = time.perf_counter()
    for a in articles:
        signature(a.text)
    signing = time.perf_counter() - t0
    print(f"\ningest with the hashed embedder, median of {args.repeats}: "
          f"off {summary['off']['seconds_median']:.1f}s ({summary['off']['added']} stored, "
          f"{summary['off']['refused']} refused), on {summary['on']['seconds_median']:.1f}s "
          f"({summary['on']['added']} stored)")
    print(f"signatures of all {len(articles)} texts: {signing:.2f}s; re-open from the side file: "
          f"{summary['on']['reopen_seconds']:.2f}s ({summary['on']['reopen_recomputed']} recomputed)")
    if args.out:
        args.out.write_text(json.dumps({
            "threshold": args.threshold, "groups": len(groups), "exact": len(exact), "near": len(near),
            "grouped_articles": sum(len(m) for m in groups.values()), "assign_seconds": assign_seconds,
            "signing_seconds": signing, "ingest": summary, "groups_found": groups, "checked": checked,
        }, indent=1))


if __name__ == "__main__":
    main()
