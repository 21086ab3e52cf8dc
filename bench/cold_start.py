"""Where a cold ``qa ask`` spends its time: wall and CPU seconds per stage, in a fresh process.

    python -m bench.cold_start [--data-dir DIR] [QUESTION]

Run it as its own process (the point is the cold start); index something into ``--data-dir``
first (``qa ingest qa/samples/articles``). The stages are those of ``qa ask``: the CLI import,
the Assistant and its wiring, opening the store, loading the model, the first question.
"""

from __future__ import annotations

import time

_clock = [time.perf_counter(), time.process_time()]


def _mark(label: str) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    print(f"{label:40} wall {wall - _clock[0]:6.2f} s  cpu {cpu - _clock[1]:6.2f} s", flush=True)
    _clock[:] = [wall, cpu]


def main() -> None:
    import argparse

    import qa.cli  # noqa: F401 - timed: what `qa` imports before any command runs

    _mark("import qa.cli")
    from qa.assistant import Assistant
    from qa.settings import Settings
    from qa.wiring import build_embedder

    _mark("import the Assistant and wiring")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("question", nargs="?", default="Which buildings did extremist forces try to assault?")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    embedder = build_embedder(settings)
    assistant = Assistant(settings, embedder=embedder)
    _mark("open the store")
    embedder.load()
    _mark("load the model")
    assistant.ask(args.question)
    _mark("first question")


if __name__ == "__main__":
    main()
