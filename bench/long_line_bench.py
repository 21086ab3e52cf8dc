"""Ingest of one huge line without spaces: chunk count and sizes, wall time, peak memory.

    python -m bench.long_line_bench [--mb 9.9] [--kind letters|base64] [--jsonl] [--max-file-mb 10]

Writes one file of ``--mb`` megabytes holding a single line with no whitespace (``letters``:
"abcdefghij" repeated, which WordPiece reads as one [UNK] per word; ``base64``: random base64,
which it reads as ~6 pieces per 100 characters), or a JSONL file with one record whose text is
that line, then ingests it with the real model into a fresh temp index via
``Assistant(Settings(data_dir=tmp, max_file_mb=...)).ingest(path)``. The model is loaded and
warmed before the clock starts. Reports the wall and CPU time of the ingest (the CPU time
is what to compare on a shared machine), the report summary, the stored chunks' count, their
longest in characters, in word pieces of the real tokenizer and in the chunker's bounded count,
and whether every chunk is an exact slice of the article.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import string
import tempfile
import time
from pathlib import Path


def _line(chars: int, kind: str) -> str:
    if kind == "letters":
        return ("abcdefghij" * (chars // 10 + 1))[:chars]
    rng = random.Random(0)
    return "".join(rng.choices(string.ascii_letters + string.digits + "+/", k=chars))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=9.9)
    parser.add_argument("--kind", choices=["letters", "base64"], default="letters")
    parser.add_argument("--jsonl", action="store_true")
    parser.add_argument("--max-file-mb", type=float, default=10.0)
    args = parser.parse_args()

    from index.chunking import MAX_PIECE_CHARS
    from qa.assistant import Assistant
    from qa.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        text = _line(int(args.mb * 1_000_000), args.kind)
        path = Path(tmp) / ("line.jsonl" if args.jsonl else "line.txt")
        if args.jsonl:
            path.write_text(json.dumps({"id": "line", "text": text}) + "\n")
        else:
            path.write_text(text)
        assistant = Assistant(Settings(data_dir=Path(tmp) / "index", max_file_mb=args.max_file_mb))
        assistant.embedder.embed_documents(["warm up"])
        started, cpu = time.perf_counter(), time.process_time()
        report = assistant.ingest([path])
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(report.summary())
        print(f"file {path.stat().st_size / 1e6:.1f} MB, ingest {seconds:.1f} s wall, "
              f"{cpu:.1f} s CPU (all threads), load average {os.getloadavg()[0]:.1f}")
        chunks = [hit.chunk for hit in assistant.store.all_chunks()]
        if chunks:
            stored = assistant.article_text(chunks[0].article_id) or ""
            counts = assistant.embedder.token_counts([c.text for c in chunks])  # type: ignore[attr-defined]
            bounded = [sum(-(-(b - a) // MAX_PIECE_CHARS) for a, b in assistant.embedder.token_spans(c.text))
                       for c in chunks]
            print(f"{len(chunks)} chunks; longest {max(len(c.text) for c in chunks)} chars, "
                  f"{max(counts)} word pieces (real tokenizer), {max(bounded)} bounded pieces; "
                  f"exact slices: {all(stored[c.start:c.end] == c.text for c in chunks)}")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
