# Two commands for a new user: `make report` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# CI also runs the core and fault tests on Python 3.13 (where SharedMemory has track=False).
PY313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null))
VENV313 := .venv313
STAMP313 := $(VENV313)/.installed
# REQUIRE_PY313=1 (as .ci/run sets it) turns a missing Python 3.13 into a failure, not a skip.
REQUIRE_PY313 ?=
CORE_TESTS := $(wildcard tests/test_split.py tests/test_share.py tests/test_map.py \
	tests/test_reduce.py tests/test_reducers.py tests/faults tests/test_bad_input.py \
	tests/test_security.py tests/test_stress.py tests/test_python_versions.py)

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

$(STAMP313): pyproject.toml
	$(PY313) -m venv $(VENV313)
	$(VENV313)/bin/pip install --quiet -e '.[core-test]'
	touch $(STAMP313)

test-py313:
	@if [ -z "$(PY313)" ]; then \
	  echo "Python 3.13 not found (pyenv install 3.13, or PY313=/path/to/python3.13)"; \
	  test -z "$(REQUIRE_PY313)"; \
	else $(MAKE) --no-print-directory $(STAMP313) && \
	  $(VENV313)/bin/python -m pytest $(CORE_TESTS); fi

lint: $(STAMP)
	$(BIN)/ruff check parallel_analysis tests benchmarks

clean:
	rm -rf $(VENV) $(VENV313) report .pytest_cache
