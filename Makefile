# Two commands: `make demo` runs the main job, `make test` installs what tests need and runs them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-test

.PHONY: demo test bench lint typecheck clean venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m daskhub_lite.demo

lint: $(STAMP)
	$(VENV)/bin/lint-imports .importlinter

typecheck: $(STAMP)
	$(PY) -m mypy --strict orchestrator

test: $(STAMP) lint typecheck
	$(VENV)/bin/pytest -q -m "not bench" tests

bench: $(STAMP)
	$(VENV)/bin/pytest -q -s -m bench tests/benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis
