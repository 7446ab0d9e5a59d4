# Two commands: `make demo` runs the main job, `make test` installs what tests need and runs them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-test

.PHONY: demo test bench lint typecheck clean venv browser

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# `make demo DEMO_ARGS=--keep` leaves the control plane and the hub running.
demo: $(STAMP)
	$(PY) -m daskhub_lite.demo $(DEMO_ARGS)

# The real-browser tests drive Debian's chromium (Playwright comes with the test extras; its own
# browser downloads are never used). Installed here when missing: quiet, and a no-op after.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing chromium (apt-get) for the real-browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    chromium >/dev/null; }

lint: $(STAMP)
	$(VENV)/bin/lint-imports .importlinter

typecheck: $(STAMP)
	$(PY) -m mypy --strict orchestrator

test: $(STAMP) browser lint typecheck
	$(VENV)/bin/pytest -q -m "not bench" --durations=15 tests

bench: $(STAMP)
	$(VENV)/bin/pytest -q -s -m bench tests/benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis
