# One target per habit. `make test` is what CI runs (see .ci/run).
PY ?= python
EVAL_MIN = --min hit@5=0.9 --min mrr=0.8 --min answer_contains_gold=0.7 --min citation_validity=1.0 --min abstain_unanswerable=0.8 --max false_abstain=0.2

.PHONY: help browser lint typecheck unit eval-ci test bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

browser:  ## install Debian's chromium for the browser tests (no browser download)
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

lint:  ## ruff (style and import order)
	ruff check .

typecheck:  ## mypy
	mypy

unit: browser  ## the whole pytest suite (real model, real Chroma, real Chromium)
	$(PY) -m pytest -q

eval-ci:  ## the sample question set with thresholds the project meets today
	qa eval qa/samples/questions/kazakhstan.jsonl --articles qa/samples/articles $(EVAL_MIN)

test: lint typecheck unit eval-ci  ## everything CI checks

bench:  ## the benchmarks in BENCHMARKS.md (needs ../shared)
	$(PY) -m bench.ingest_bench
	$(PY) -m bench.answer_bench
