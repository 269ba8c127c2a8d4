# Two commands for a newcomer: `make run` (set up, build and ingest the sample, summary)
# and `make test` (set up, run the whole suite). Everything installs into .venv with the
# tested-together pins of constraints.txt.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := data/sample
QUARTER ?= $(shell sed -n 's/^ *current_quarter: *"\{0,1\}\([0-9]\{4\}-Q[1-4]\).*/\1/p' parameters/workbench.yaml)
# Ports on 127.0.0.1: `make serve PORT=8870`, `make lab PORT=8890` (defaults 8866 and 8888).
PORT ?=

.PHONY: setup run sample ingest review serve test lint lab bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# The sample bureau's workbooks of the current quarter, one per unit, for officers to look at.
sample: setup
	$(BIN)/rbm sample --out $(SAMPLE)

# The same workbooks, and the sample's history ingested quarter by quarter into the default store
# (past quarters approved, the current one a draft or pending the bureau); a store that already holds it is left alone.
ingest: setup
	$(BIN)/rbm sample --out $(SAMPLE) --store
	$(BIN)/rbm status --quarter $(QUARTER)

# The quarterly batch: every unit's review, the joint reviews and the bureau overview. A quarter
# the store changed since it was published (an officer's submission or approval) is published
# again, only the reviews whose figures changed run again: `make run` never strands.
review: ingest
	$(BIN)/rbm review --all --update --quarter $(QUARTER)

# The managers' dashboards on http://127.0.0.1:8866/ (read-only Voila, sign-in; the local administrator
# added on the first run; Ctrl-C stops; PORT= to choose).
serve: setup
	$(BIN)/rbm user bootstrap $(if $(PORT),--port $(PORT))
	$(BIN)/rbm serve --quarter $(QUARTER) $(if $(PORT),--port $(PORT))

# Build, ingest and review the sample, add the local administrator on the first run (it prints how
# to sign in), then serve its dashboards (Ctrl-C stops; PORT= to choose).
run: review
	$(BIN)/rbm user bootstrap $(if $(PORT),--port $(PORT))
	$(BIN)/rbm serve --quarter $(QUARTER) $(if $(PORT),--port $(PORT))

# JupyterLab on the notebook templates, with the project's environment (officers explore and
# edit) on http://127.0.0.1:8888/ (PORT= to choose).
lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 --ServerApp.port=$(or $(PORT),8888)

# The house style, enforced: lint, format check and type check (CI runs them through make test).
lint: setup
	$(BIN)/ruff check rbm_utils tests bench scripts
	$(BIN)/ruff format --check rbm_utils tests bench scripts
	$(BIN)/mypy

# Lint and type check, then the whole suite with the docstrings' examples as doctests.
test: lint
	$(BIN)/python -m pytest

# Benchmarks side by side: one table and bench/results.json (~50 min on 2 cores with the 200-unit scale section; BENCH_ARGS=--quick)
bench: setup
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
