# The two commands of the README: `make demo` and `make test`. Both install into a
# virtualenv (.venv, or VENV=...), never into the system's Python.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test test-unit lint bench

setup:
	VENV=$(VENV) bash scripts/setup.sh

## Set everything up, then run the default test (raft, 3 nodes, register, partition, 60 s).
demo: setup
	$(PY) -m splitbrain test

## Set everything up, then run the whole test suite.
test: setup
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-unit:
	$(PY) -m pytest -q tests/unit

lint:
	$(VENV)/bin/ruff check src tests benchmarks

bench:
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
