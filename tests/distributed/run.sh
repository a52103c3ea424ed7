#!/usr/bin/env bash
# The distributed tier (`make test-distributed`): PostgreSQL 15 + Redis 7 from Debian's packages on
# loopback, Airflow 3 CeleryExecutor as separate processes (api-server, scheduler, dag-processor, two
# Celery workers), compared with the embedded run. Binds 127.0.0.1:8765: never beside tests/e2e.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/pytest -q -s -m distributed tests/distributed "$@"
