# Two commands for a new user: `make report` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# CI also runs the core and fault tests on the other supported Pythons, one venv each:
# `make test-py3.12`, `make test-py3.13` (one pattern rule; PY_3.12=/path/to/python3.12 picks
# the interpreter, else pyenv's or the one on PATH).
OTHER_PYTHONS := 3.12 3.13
python_for = $(or $(PY_$(1)),$(firstword $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1)) $(shell command -v python$(1) 2>/dev/null)))
# REQUIRE_PY=1 (as .ci/run sets it) turns a missing Python into a failure, not a skip.
REQUIRE_PY ?=
CORE_TESTS := $(wildcard tests/test_split.py tests/test_share.py tests/test_map.py \
	tests/test_reduce.py tests/test_reducers.py tests/faults tests/test_bad_input.py \
	tests/test_security.py tests/test_stress.py tests/test_python_versions.py)

.PHONY: report test test-pythons lint clean

# Bytecode for the package's own modules, written here because a shell may set
# PYTHONDONTWRITEBYTECODE=1 (this project's machines do): Python then compiles every module from
# source on every import (0.16 s for the package, against 0.07 s from bytecode), in the caller,
# in the forkserver that starts each pool's workers, and in every test's subprocess. An installed
# (non-editable) package gets its bytecode from pip; compileall rewrites only what changed.
bytecode = $(1)/bin/python -m compileall -q parallel_analysis

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

report: $(STAMP)
	$(call bytecode,$(VENV))
	$(BIN)/parallel-analysis bench --out report

test: $(STAMP)
	$(BIN)/ruff check parallel_analysis tests benchmarks notebooks
	$(call bytecode,$(VENV))
	$(BIN)/python -m pytest

.venv-py%/.installed: pyproject.toml
	$(call python_for,$*) -m venv .venv-py$*
	.venv-py$*/bin/pip install --quiet -e '.[core-test]'
	touch $@

test-py%:
	@py="$(call python_for,$*)"; \
	if [ -z "$$py" ]; then \
	  echo "Python $* not found (pyenv install $*, or make test-py$* PY_$*=/path/to/python$*)"; \
	  test -z "$(REQUIRE_PY)"; \
	else $(MAKE) --no-print-directory .venv-py$*/.installed && \
	  $(call bytecode,.venv-py$*) && \
	  .venv-py$*/bin/python -m pytest $(CORE_TESTS); fi

# Every other supported Python, one after the other.
test-pythons: $(addprefix test-py,$(OTHER_PYTHONS))

lint: $(STAMP)
	$(BIN)/ruff check parallel_analysis tests benchmarks notebooks

clean:
	rm -rf $(VENV) .venv-py* report .pytest_cache
