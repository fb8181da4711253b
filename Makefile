# Two commands for a new user: `make report` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# CI also runs the core and fault tests on Python 3.13 (where SharedMemory has track=False).
PY313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null))
VENV313 := .venv313
CORE_TESTS := tests/test_split.py tests/test_share.py tests/test_map.py tests/test_reducers.py \
	$(wildcard tests/faults)

.PHONY: report test test-py313 lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/parallel-analysis bench --out report

test: $(STAMP)
	$(BIN)/ruff check parallel_analysis tests benchmarks
	$(BIN)/python -m pytest

test-py313:
	@if [ -z "$(PY313)" ]; then echo "Python 3.13 not found: the 3.13 run is skipped"; else \
	  set -e; $(PY313) -m venv $(VENV313); \
	  $(VENV313)/bin/pip install --quiet -e '.[core-test]'; \
	  $(VENV313)/bin/python -m pytest $(CORE_TESTS); fi

lint: $(STAMP)
	$(BIN)/ruff check parallel_analysis tests benchmarks

clean:
	rm -rf $(VENV) $(VENV313) report .pytest_cache
