# IGTwin — two set-up commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.igtwin-installed
export VTK_DEFAULT_OPENGL_WINDOW ?= vtkEGLRenderWindow
export MPLBACKEND ?= Agg

.PHONY: install demo test test-all lint bench clean

# torch is pinned first to the local CPU wheel so that nothing pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[test,rl]" "torch==2.13.0"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/igtwin demo --out out/demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: $(STAMP) lint
	$(VENV)/bin/pytest -n 2 --dist loadfile -q

test-all: $(STAMP) lint
	$(VENV)/bin/pytest -n 2 --dist loadfile -q -m "slow or not slow"

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf out .pytest_cache .ruff_cache
