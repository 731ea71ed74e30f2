# Two commands: `make run` and `make test`. Everything else is set up by them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)

.PHONY: run test check deps clean load

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

deps: $(STAMP)
	@bash scripts/system-deps.sh

run: deps
	@source scripts/services.sh run && exec $(PY) run.py

test: deps check
	@source scripts/services.sh test && $(PY) -m pytest --durations=15 $(PYTEST_ARGS)

# Lint, layers (.importlinter) and types (mypy.ini): seconds, before the suite.
check: deps
	@$(PY) -m ruff check --quiet .
	@$(VENV)/bin/lint-imports --no-cache >/dev/null || $(VENV)/bin/lint-imports --no-cache
	@$(PY) -m mypy --no-error-summary

# The load testers' kit: Locust in a virtualenv of its own, against a local server (scripts/load.sh).
LOAD_VENV := .venv-load
LOAD_STAMP := $(LOAD_VENV)/.installed-$(shell sha1sum bench/requirements-load.txt | cut -c1-12)

$(LOAD_STAMP): bench/requirements-load.txt
	@test -x $(LOAD_VENV)/bin/python || $(PYTHON) -m venv $(LOAD_VENV)
	@$(LOAD_VENV)/bin/python -m pip install -q --disable-pip-version-check -r bench/requirements-load.txt
	@rm -f $(LOAD_VENV)/.installed-*; touch $(LOAD_STAMP)

load: deps $(LOAD_STAMP)
	@bash scripts/load.sh

clean:
	rm -rf $(VENV) $(LOAD_VENV) var
