"""The Spark tier (``make test-spark``): the dbt project built by dbt-spark on a local Spark session.

Excluded from the default run: these tests run only with ``-m spark`` or ``CITYSHARE_SPARK=1``, and need the
optional ``spark`` extra (``uv sync --extra spark``) and a Java 17 runtime, which ``make test-spark`` installs.
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spark: dbt-spark on a local Spark session (make test-spark)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "spark" in (config.option.markexpr or "") or os.environ.get("CITYSHARE_SPARK") == "1":
        return
    skip = pytest.mark.skip(reason="Spark tier: run `make test-spark` (or -m spark)")
    for item in items:
        if "spark" in item.keywords:
            item.add_marker(skip)
