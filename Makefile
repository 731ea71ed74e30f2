# Two commands: `make run` and `make test`. Everything else is set up by them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)

.PHONY: run test deps clean

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

deps: $(STAMP)
	@bash scripts/system-deps.sh

run: deps
	@source scripts/services.sh run && exec $(PY) run.py

test: deps
	@source scripts/services.sh test && $(PY) -m pytest --durations=15 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var
