# coverage-planner: every target makes .venv when missing and installs the project into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_BASE := $(VENV)/.installed-base
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test lint bench clean venv check-env chromium fonts

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

demo: $(STAMP_BASE) fonts
	$(BIN)/coverage-planner demo --out reports/demo

# coverage.py installs a top-level package named `coverage` too: in one environment the two
# overwrite each other's files. Refuse to test in such an environment.
check-env: $(STAMP_TEST)
	@if $(BIN)/python -c "import importlib.metadata as m; m.distribution('coverage')" 2>/dev/null \
	  || [ -n "$$(find $(VENV)/lib -path '*site-packages/coverage/cmdline.py' -print -quit)" ]; then \
	  echo "ERROR: coverage.py is installed in $(VENV); it uses the same import name 'coverage' as"; \
	  echo "coverage-planner and overwrites its files. Run: $(BIN)/python -m pip uninstall -y coverage"; \
	  echo "(or make clean, then make test). 错误：$(VENV) 中装有 coverage.py，与本项目同名冲突，请卸载。"; \
	  exit 1; \
	fi

lint: check-env
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# the browser tests drive Debian's Chromium through Playwright (no browser download);
# a CJK font so that screenshots show Chinese text
chromium:
	@command -v chromium >/dev/null 2>&1 || \
		(apt-get update -q && apt-get install -y -q chromium fonts-wqy-microhei)

# a CJK font for the report's charts (found by path, see coverage.charts.CJK_FONT_PATHS);
# without one the report still renders, with English chart labels and a note
fonts:
	@[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || \
		(apt-get update -q && apt-get install -y -q fonts-noto-cjk) || \
		echo "warning: fonts-noto-cjk is not installed: report charts will use English labels"

# the tests may not skip for want of what `chromium` and `fonts` install (tests/_machine.py)
TEST_REQUIRE := COVERAGE_PLANNER_TEST_REQUIRE=chromium,cjk-font

test: lint chromium fonts
	$(TEST_REQUIRE) $(BIN)/python -m pytest -q --durations=15

bench: $(STAMP_TEST) chromium fonts
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) data/processed/*/ reports/demo
