# CityShare — `make demo` and `make test` set everything up from a bare machine (Python 3.11 + pip).
SHELL := /bin/bash
PY ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PY) -m uv")
VENV := .venv
STAMP := $(VENV)/.synced-$(shell cat uv.lock pyproject.toml | sha1sum | cut -c1-12)

DEBIAN_PACKAGES := postgresql redis-server chromium chromium-driver fonts-noto-cjk docker-compose faketime
.PHONY: setup system-deps spark-deps demo airflow test test-fast test-slow test-faults test-distributed test-spark bench bench-spark lint clean

setup: $(STAMP) system-deps

# Services the tests start themselves on 127.0.0.1 (PostgreSQL for the SQL connector, Chromium for
# browser tests) and libfaketime (a worker with a slow clock in the fault tests), from Debian's packages;
# skipped when already installed.
system-deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(STAMP): uv.lock pyproject.toml
	@$(UV) --version >/dev/null 2>&1 || $(PY) -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --frozen --compile-bytecode
	@rm -f $(VENV)/.synced-* && touch $@

demo: setup
	$(VENV)/bin/cityshare demo

# The embedded Airflow 3 (scheduler, dag-processor, triggerer, api-server + UI) on 127.0.0.1 until Ctrl-C.
airflow: setup
	$(VENV)/bin/cityshare airflow up

# Two pytest workers (pytest-xdist), a test module each at a time (`--dist loadfile`: a module's fixtures are built
# once, and tests that share them stay in one process). Every test has its own data dir and free ports, so
# workers never meet; TEST_WORKERS=0 runs in one process (e.g. to read one test's output in order).
TEST_WORKERS ?= 2
test: setup lint
	$(VENV)/bin/pytest -q -m "not distributed and not slow and not spark" -n $(TEST_WORKERS) --dist loadfile --durations=15

# Slow tier (27 min on 2 cores, measured 2026-12-06): the 10k-example identifier property tests, the 300-contract catalogue,
# the pipeline e2e through Airflow on three full days, a backfill twice, three of the crash points, the bench
# harness smoke runs, the recovery fault tests, the docs' longer command sessions (test_docs_commands.py) and the
# README's quick start (`make demo` on a fresh clone).
test-slow: setup
	$(VENV)/bin/pytest -q -m "slow and not spark"

# Fault injection and recovery: crashes at every crash point, a full disk, a read-only volume, a held
# lock, SIGTERM, a lost warehouse, backup/restore, a moved data dir (≈ 15 min on 2 cores). The crash, receipt,
# clock and load-date tests also run in `make test`; the recovery ones (slow) in `make test-slow`.
test-faults: setup
	$(VENV)/bin/pytest -q -m faults

test-fast: setup
	$(VENV)/bin/pytest -q -m "not e2e and not spark"

# Airflow CeleryExecutor on PostgreSQL + Redis, two workers (≈ 12 min on 2 cores; binds 127.0.0.1:8765,
# never beside the e2e tier).
test-distributed: setup
	tests/distributed/run.sh

# The Spark tier (docs/spark.md): the optional `spark` extra (dbt-spark, pyspark) and Debian's Java 17, installed
# here only; the standard, base, theme and collaboration models built on a Spark standalone cluster the tests start
# on 127.0.0.1 (a master and two workers) must equal the DuckDB build, and
# the tables write-audit-publish publishes from it the DuckDB-published ones; then a next day built incrementally on
# Spark through Airflow must equal a full DuckDB rebuild (≈ 13 min: measured 13 m 18 s, 18 m 08 s loaded).
# The next `make setup` syncs the lean default environment again.
SPARK_DEBIAN_PACKAGES := openjdk-17-jre-headless
spark-deps: setup
	@missing=$$(for p in $(SPARK_DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	$(UV) sync --frozen --compile-bytecode --extra spark
	@rm -f $(VENV)/.synced-*

test-spark: spark-deps
	$(VENV)/bin/pytest -q -p no:cacheprovider -m spark tests/spark

# Every stage against a hand-written DuckDB baseline (BENCH_ARGS="--scales 1e6,3e6,10e6").
bench: setup
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

# The layers' full build on a Spark standalone cluster of 1 and of 2 workers beside DuckDB, 10 M source rows
# (bench/spark_bench.py; results in bench/results/spark_build.md; BENCH_ARGS="--rows 1e6" for a shorter run).
bench-spark: spark-deps
	$(VENV)/bin/python bench/spark_bench.py $(BENCH_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/cityshare contracts lint
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

clean:
	rm -rf data dbt_project/target dbt_project/models/_generated
