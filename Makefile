# Two commands for a new user: `make report` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: report test lint clean

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

lint: $(STAMP)
	$(BIN)/ruff check parallel_analysis tests benchmarks

clean:
	rm -rf $(VENV) report .pytest_cache
