# The two commands: `make run` (everything, from nothing) and `make test` (the full suite).
# Every target creates what it needs; nothing here downloads at test time except set-up.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DBT_PROFILES_DIR := $(CURDIR)
# The venv's commands first (dagster-dbt calls `dbt` by name).
export PATH := $(CURDIR)/$(BIN):$(PATH)
# dbt's anonymous usage tracking would try to reach the internet.
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: help run test test-all test-fast setup venv jars up down status logs build docs lint lint-sql lint-py \
        fmt mlflow-ui lock clean stream dagster explain bench vacuum architecture report \
        cluster-up cluster-down cluster-test

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

# Default data: ~1 M events over Oct-Nov 2019, a few malformed lines to show the quarantine.
ROWS ?= 1000000
BAD_RATE ?= 0.00002
# Day files dropped into the streaming folder per `make run` (the streaming models read them).
STREAM_FILES ?= 3
# dbt vars for `make run` / `make build`, for example VARS='{run_date: "2019-11-20"}' (the
# list with defaults is in dbt_project.yml and the README).
VARS ?= {}
# A production build, as the daily job's: models, seeds and data tests. The unit tests and the
# tests tagged sql_guarantee check SQL logic, not data; `make test` runs them (dbt's own advice
# for unit tests), so a build does not pay for them (lakehouse.orchestration.selection).
DBT_BUILD = $(BIN)/dbt $$($(BIN)/python -m lakehouse.orchestration.selection)

run: setup up  ## set up, start the server, generate data, build the whole DAG, say where to look
	$(BIN)/lakehouse generate --if-missing --rows $(ROWS) --bad-rate $(BAD_RATE)
	$(BIN)/lakehouse stream --files $(STREAM_FILES) --interval 0 --rows $(ROWS)
	$(DBT_BUILD) --vars '$(VARS)'
	$(BIN)/dbt docs generate
	@$(BIN)/lakehouse where

# Which tests `make test` runs: `core` (default; every test but the slow failure-and-recovery
# stories and the modules with a build of their own, under 12 min) or `all` (what CI runs).
TESTS ?= core
PYTEST_MARK_core := not slow
PYTEST_MARK_all := slow or not slow
test: setup lint  ## lint (sqlfluff, ruff), then pytest (starts and stops its own server)
	@test -n '$(PYTEST_MARK_$(TESTS))' || { echo "TESTS must be core or all"; exit 2; }
	$(BIN)/pytest -m '$(PYTEST_MARK_$(TESTS))'

test-all:  ## every test, the slow stories too (what CI runs: 26 to 40 min on 2 cores, 2026-12-01)
	$(MAKE) test TESTS=all

test-fast: setup lint-py  ## the tests that need no server (under a minute): ruff, then pytest
	$(BIN)/pytest -m "not server"

setup: $(STAMP) jars  ## create the virtualenv from the lock file and resolve the Delta jars

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	# bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (this machine), Python
	# would otherwise compile dbt, dagster, sklearn... from source in every process (each dbt
	# call 3 s longer; docs/operations.md, "Measured times")
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

jars: $(STAMP)  ## resolve the Delta jars into the cache (once; no-op afterwards)
	$(BIN)/lakehouse setup

up: setup  ## start the lakehouse server (Thrift, Spark Connect, Spark UI on 127.0.0.1)
	$(BIN)/lakehouse up

down:  ## stop the lakehouse server
	@if [ -x $(BIN)/lakehouse ]; then $(BIN)/lakehouse down; else echo "nothing to stop"; fi

status:  ## report each endpoint of the server
	$(BIN)/lakehouse status

logs:  ## tail of the server log
	$(BIN)/lakehouse logs

build: up  ## dbt build against the running server (VARS='{...}' passes dbt vars)
	$(DBT_BUILD) --vars '$(VARS)'

docs: up  ## generate the dbt docs catalog and serve it on 127.0.0.1:8080
	$(BIN)/dbt docs generate
	$(BIN)/dbt docs serve --host 127.0.0.1 --port 8080

lint: lint-sql lint-py  ## sqlfluff and ruff

lint-sql: $(STAMP)
	$(BIN)/sqlfluff lint models macros tests/dbt

lint-py: $(STAMP)
	$(BIN)/ruff check src tests python_models
	$(BIN)/ruff format --check src tests python_models

stream: setup  ## drop the next day files into the streaming folder, one every 5 s (Ctrl-C stops)
	$(BIN)/lakehouse stream --rows $(ROWS)

STATE := $(or $(LAKEHOUSE_STATE_DIR),$(CURDIR)/.lakehouse)

dagster: up  ## the Dagster UI on 127.0.0.1:3000: the DAG as assets, the daily schedule, run history
	mkdir -p $(STATE)/dagster
	cp src/lakehouse/orchestration/dagster.yaml $(STATE)/dagster/dagster.yaml
	$(BIN)/dagster-dbt project prepare-and-package --file src/lakehouse/orchestration/project.py
	DAGSTER_HOME=$(STATE)/dagster $(BIN)/dagster dev -m lakehouse.orchestration.definitions \
	  --host 127.0.0.1 --port 3000

MODEL ?= ml_user_scoring_set
explain: up  ## print the physical plan of a model: make explain MODEL=ml_user_scoring_set
	$(BIN)/dbt run-operation explain --args '{model: $(MODEL)}'

report: up  ## an HTML report of runtimes, tables, test results and model quality (.lakehouse/report)
	$(BIN)/lakehouse report

architecture: setup  ## redraw docs/architecture.md's flow diagram from the dbt manifest
	$(BIN)/dbt parse --quiet
	$(BIN)/lakehouse architecture --manifest target/manifest.json

vacuum: up  ## remove table files older than var vacuum_retention_hours (168) that no version reads
	$(BIN)/dbt run-operation vacuum_tables

# Event counts to benchmark (comma-separated); October's scale on request: BENCH_SIZES=42400000
BENCH_SIZES ?= 1000000,10000000
bench: setup  ## benchmark: full build, daily run, plain PySpark, bare copy, DuckDB (not in make test)
	$(BIN)/python -m lakehouse.bench --sizes $(BENCH_SIZES)

# A local Spark standalone cluster: a master and 2 workers (separate JVMs, loopback only); the
# lakehouse server becomes its driver. Stop a local-mode server first (`make down`).
MASTER_PORT ?= 7077
cluster-up: setup  ## start a master + 2 workers and the server as their driver (then make build)
	LAKEHOUSE_MASTER_PORT=$(MASTER_PORT) $(BIN)/lakehouse cluster up
	LAKEHOUSE_MASTER=spark://127.0.0.1:$(MASTER_PORT) $(BIN)/lakehouse up

cluster-down:  ## stop the server and the local cluster
	$(BIN)/lakehouse down
	LAKEHOUSE_MASTER_PORT=$(MASTER_PORT) $(BIN)/lakehouse cluster down

# CLUSTER_ROWS=1000000 compares the two builds at the default size (about 30 min) instead of on
# the test session's 60,000 events.
CLUSTER_ROWS ?=
cluster-test: setup  ## the whole DAG on a 2-worker cluster against a local build (~15 min)
	LAKEHOUSE_CLUSTER_TEST=1 LAKEHOUSE_CLUSTER_TEST_ROWS=$(CLUSTER_ROWS) \
		$(BIN)/pytest -s tests/test_cluster.py

fmt: $(STAMP)  ## fix what the linters can fix
	$(BIN)/ruff format src tests python_models
	$(BIN)/ruff check --fix src tests python_models
	$(BIN)/sqlfluff fix models macros tests/dbt

mlflow-ui: setup  ## the MLflow UI on 127.0.0.1:5000 over the project's SQLite store
	mkdir -p .lakehouse/mlflow
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 \
	  --backend-store-uri sqlite:///$(STATE)/mlflow/mlflow.db

lock:  ## re-resolve requirements.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean: down  ## stop the server and delete the state folder (tables, metastore, runs)
	rm -rf .lakehouse target logs
