# Two commands: `make run` and `make test`. Everything else is set up by them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)

.PHONY: run test check deps clean

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

clean:
	rm -rf $(VENV) var
