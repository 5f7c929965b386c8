# make test   - create/refresh .venv, install azpublish with its test extras, run every test
# make lint   - ruff and mypy --strict
# make bench  - the benchmarks under bench/ (ratios against a reference run side by side)
# make demo   - publish examples/hello to a local emulator (no Azure account) and call it
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: test lint bench demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check azpublish tests bench
	$(BIN)/mypy azpublish

bench: $(STAMP)
	$(BIN)/python bench/bench_filter.py
	$(BIN)/python bench/bench_package.py
	$(BIN)/python bench/bench_local_build.py

demo: $(STAMP)
	bash scripts/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage bench/.work
