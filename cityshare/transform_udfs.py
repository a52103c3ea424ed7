"""dbt-duckdb plugin: the ``cs_*`` SQL functions the dbt models use for PII masking and tokens.

Enabled in ``dbt_project/profiles.yml``::

    plugins:
      - module: cityshare.transform_udfs

dbt-duckdb imports this module when it creates its DuckDB environment (``BasePlugin.create``: the
module must expose a ``Plugin`` class), calls :meth:`Plugin.configure_connection` once on every new
DuckDB connection it opens and :meth:`Plugin.configure_cursor` on every cursor it hands to dbt.

SQL functions (all ``VARCHAR -> VARCHAR``, ``NULL`` in → ``NULL`` out), each calling
:mod:`cityshare.privacy`:

- ``cs_mask_mobile(phone)``, ``cs_mask_id_number(id)``, ``cs_mask_person_name(name)``,
  ``cs_truncate_address(address)``
- ``cs_token(value)`` – HMAC-SHA256 with the city-held key read from the settings when the connection
  is opened, so the key never appears in compiled SQL, logs or the manifest.

Why the functions are SQL macros over uniquely named Python UDFs: DuckDB registers a Python UDF in
the catalog of the *database instance*, shared by every connection to the same file in the process,
and cannot drop or replace it; the Python callable however dies with the connection that registered
it. Registering fixed names would fail ("already exists") or call a dead function as soon as dbt
reopens a warehouse that another connection in the process keeps alive (a test, the publisher). So
each connection registers ``cs_<name>__<random>`` and every connection/cursor dbt uses gets
``TEMP`` macros ``cs_<name>(x)`` pointing at its own registration.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from cityshare.resources import duckdb_memory_limit, duckdb_threads
from cityshare.sqlquote import lit

FUNCTION_NAMES = (
    "cs_mask_mobile",
    "cs_mask_id_number",
    "cs_mask_person_name",
    "cs_truncate_address",
    "cs_token",
)


def udf_callables(key: str | bytes | None = None) -> dict[str, Callable[[str | None], str | None]]:
    """The Python implementation of each SQL function (``key`` defaults to the settings' token key)."""
    from cityshare import privacy

    return {
        "cs_mask_mobile": privacy.mask_mobile,
        "cs_mask_id_number": privacy.mask_id_number,
        "cs_mask_person_name": privacy.mask_person_name,
        "cs_truncate_address": privacy.truncate_address,
        "cs_token": privacy.tokenizer(privacy.token_key() if key is None else key),
    }


def register_udfs(conn: Any, key: str | bytes | None = None) -> dict[str, str]:
    """Register the ``cs_*`` functions on a DuckDB connection (also usable outside dbt).

    Returns ``{sql name: registered UDF name}``; the SQL names are TEMP macros on ``conn`` only, so
    call :func:`create_macros` for further cursors of the same connection.
    """
    suffix = uuid.uuid4().hex[:12]
    registered: dict[str, str] = {}
    for name, func in udf_callables(key).items():
        udf_name = f"{name}__{suffix}"
        # SPECIAL: the Python function sees NULLs (all are None-safe) and may return NULL itself
        # (cs_token(''), an address with nothing safe to keep); DEFAULT would raise on a NULL result.
        conn.create_function(
            udf_name, func, ["VARCHAR"], "VARCHAR", null_handling="special", side_effects=False
        )
        registered[name] = udf_name
    create_macros(conn, registered)
    return registered


def create_macros(conn: Any, registered: dict[str, str]) -> None:
    """(Re)create the ``cs_*`` TEMP macros on ``conn`` pointing at the registered UDFs.

    One statement for all of them: dbt opens a cursor per node and per bookkeeping step (~40 in a next-day build).
    """
    if registered:
        conn.execute(";\n".join(f"CREATE OR REPLACE TEMP MACRO {name}(value) AS {udf_name}(value)"
                                 for name, udf_name in registered.items()))


class Plugin(BasePlugin):
    """dbt-duckdb plugin registering the ``cs_*`` masking/token functions."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._registered: dict[str, str] = {}

    def configure_connection(self, conn: Any) -> None:
        from cityshare.settings import get_settings
        from cityshare.storage import register_lake

        settings = get_settings()
        # DuckDB's memory and threads for the build, from this machine unless set (cityshare.resources)
        conn.execute(f"SET memory_limit = {lit(duckdb_memory_limit(settings))}; "
                     f"SET threads = {duckdb_threads(settings):d}")
        register_lake(conn, settings)  # raw views may read an s3:// lake (no httpfs here)
        self._registered = register_udfs(conn)

    def configure_cursor(self, cursor: Any) -> None:
        if self._registered:
            create_macros(cursor, self._registered)
