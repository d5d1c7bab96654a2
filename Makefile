# coverage-planner: every target makes .venv when missing and installs the project into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_BASE := $(VENV)/.installed-base
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test lint bench clean venv chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_BASE): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP_BASE) $@

venv: $(STAMP_BASE)

demo: $(STAMP_BASE)
	$(BIN)/coverage-planner demo --out reports/demo

lint: $(STAMP_TEST)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# the browser tests drive Debian's Chromium through Playwright (no browser download);
# a CJK font so that screenshots show Chinese text
chromium:
	@command -v chromium >/dev/null 2>&1 || \
		(apt-get update -q && apt-get install -y -q chromium fonts-wqy-microhei)

test: lint chromium
	$(BIN)/python -m pytest -q

bench: $(STAMP_TEST) chromium
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) data/processed/*/ reports/demo
