# One target per habit. `make test` is what CI runs (see .ci/run).
PY ?= python
# The sample set's thresholds live in one file that the tests read too.
GATE = qa/samples/questions/kazakhstan.gate.json

.PHONY: help browser lint typecheck unit eval-ci test bench lock

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

browser:  ## install Debian's chromium for the browser tests (no browser download)
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

lint:  ## ruff (style and import order)
	ruff check .

typecheck:  ## mypy
	mypy

unit: browser  ## the whole pytest suite (real model, real Chroma, real Chromium)
	$(PY) -X faulthandler -m pytest -q

eval-ci:  ## the sample question set with thresholds the project meets today
	qa eval qa/samples/questions/kazakhstan.jsonl --articles qa/samples/articles --gate $(GATE)

test: lint typecheck unit eval-ci  ## everything CI checks

bench:  ## the benchmarks in BENCHMARKS.md (needs ../shared)
	$(PY) -m bench.ingest_bench
	$(PY) -m bench.answer_bench

lock:  ## re-resolve every dependency in a fresh venv (stock pip) and pin the result in constraints.txt
	rm -rf .lock-venv && python3 -m venv .lock-venv
	.lock-venv/bin/pip install -q -e ".[dev,llm]"
	{ sed -n '1,3p' constraints.txt; .lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e '; } > constraints.new
	mv constraints.new constraints.txt && rm -rf .lock-venv
