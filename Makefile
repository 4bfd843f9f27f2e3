# Storefront: `make run` to shop, `make test` to check everything. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
# pytest-xdist processes for the integration suites (each has its own databases); 0 runs them in one.
TEST_PROCESSES ?= 2
export HOST PORT
export UV_COMPILE_BYTECODE := 1

.PHONY: run install install-test migrate demo serve test test-scaleout lint typecheck test-integration test-e2e \
	bench bench-quick bench-fanout housekeeping fuzz soak mutants clean

run: demo serve

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

$(VENV)/.installed-test: requirements-test.lock $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-test.lock
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test
	bash e2e/ensure_chromium.sh

migrate: install
	$(BIN)/python -m web migrate

demo: migrate
	$(BIN)/python -m web load-demo

serve: install
	$(BIN)/python -m web serve --workers $(WORKERS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check web tests e2e migrations bench
	$(BIN)/ruff format --check web tests e2e migrations bench
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

test-integration: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n $(TEST_PROCESSES) tests

test-e2e: install-test
	$(BIN)/python -m pytest -q e2e

test: install-test lint typecheck test-integration test-e2e

# The integration suite again on PostgreSQL and Redis, plus the multi-worker journey. It creates and
# drops its own database; Redis database 15 is flushed before each test.
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
test-scaleout: $(VENV)/.installed-test
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest -q -n $(TEST_PROCESSES) tests

# The hypothesis suites (state machine, API from its schema, every form) with far more examples than CI's.
fuzz: $(VENV)/.installed-test
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -n $(TEST_PROCESSES) tests/test_properties.py \
		tests/test_api_schema.py tests/test_form_fuzz.py

# Mutation testing of the invariant code (tests/mutants/run.py): writes docs/mutants.md and fails on
# an unexplained survivor. Hours on two cores: `make mutants MUTANTS="--only cart --budget 60"`.
MUTANT_CHILDREN ?= 2
MUTANTS ?=
$(VENV)/.installed-mutants: requirements-mutants.lock $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-mutants.lock
	touch $@

mutants: $(VENV)/.installed-mutants
	$(BIN)/python tests/mutants/run.py --max-children $(MUTANT_CHILDREN) $(MUTANTS)

# Mixed shopper journeys against one production-mode server for 5 minutes (bench/soak.py): no 5xx;
# memory, descriptors and database connections flat after warm-up; every cart and order as sent.
soak: install
	$(BIN)/python -m bench.soak --seconds 300

housekeeping: install
	$(BIN)/python -m web housekeeping

# The benchmark (bench/README.md): SQLite with one worker and PostgreSQL + Redis with one and two,
# every scenario, medians of interleaved rounds; the table and var/bench/latest.json. Needs
# PostgreSQL and Redis on 127.0.0.1 (BENCH_POSTGRES_URL, BENCH_REDIS_URL) and wrk.
bench: install
	$(BIN)/python -m bench --production --http httptools

bench-quick: install
	$(BIN)/python -m bench --quick --production

# 1,000 live order streams on one worker, a status change to each of 100 orders (bench/fanout.py).
bench-fanout: install
	$(BIN)/python -m bench.fanout

clean:
	rm -rf $(VENV) var/*.db var/*.db-*
