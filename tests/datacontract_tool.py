"""The one pinned datacontract-cli both datacontract tests run, isolated from CityShare's environment.

It runs through ``uv tool run`` in a virtual environment of its own, because it pins another DuckDB (1.5.x, through
ibis) than CityShare's. Pinned, so a new release cannot change what the tests compare; the extras are what
reading a local Parquet file needs (DuckDB through ibis, pyarrow).
"""

from __future__ import annotations

import shutil

import pytest

DATACONTRACT_CLI = "datacontract-cli[duckdb,parquet]==1.2.8"
TOOL = ["uv", "tool", "run", "--from", DATACONTRACT_CLI]

requires_uv = pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not installed: datacontract-cli runs through it")
