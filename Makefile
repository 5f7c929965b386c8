# make test        - set up what the tests need (scripts/test-setup.sh: tools, Docker engine and
#                    base images, npm packages), create/refresh .venv, run every test; exits 0
#                    only when every test ran and passed
# make test-quick  - the unit and functional tiers without installers, servers or docker (<30 s)
# make lint   - ruff and mypy --strict
# make bench  - the benchmarks under bench/ (ratios against a reference run side by side)
# make demo   - publish examples/hello to a local emulator (no Azure account) and call it
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: test test-setup test-quick lint bench demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

test-setup: $(STAMP)
	VENV_PYTHON=$(BIN)/python bash scripts/test-setup.sh

test: test-setup
	$(BIN)/python -m pytest --require-all --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

# Two workers (this machine has two cores); the tiers that start no server, container or installer.
# DOCKER_HOST names no daemon, so what would use one (the import check) takes its host path.
test-quick: $(STAMP)
	DOCKER_HOST=unix:///nonexistent/azpublish-test-quick.sock $(BIN)/python -m pytest --require-all --no-mirror -n 2 -m "not slow and not installs and not integration and not docker and not newest_git" \
		tests/unit tests/functional $(PYTEST_ARGS)

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
