"""A GX SQL datasource for DuckDB whose execution engine queries on one connection it keeps open.

Why: ``SqlAlchemyExecutionEngine.execute_query`` runs each metric query in ``with get_connection()`` and
the caller fetches the rows afterwards. For most dialects ``get_connection`` is ``with engine.connect()``:
closing that SQLAlchemy connection rolls back the transaction it began (duckdb-engine's ``do_begin``
issues a real ``BEGIN``), and a DuckDB rollback discards the connection's pending result — GX then reads
no rows (GX issue #10738, ``IndexError`` in ``resolve_metric_bundle``). GX keeps one connection open only
for the dialects it lists as needing one (sqlite, SQL Server, BigQuery, Databricks), which DuckDB is not.

So, with public GX API only: ``DuckDBDatasource`` is an ``SQLDatasource`` (GX's fluent datasources
register subclasses by their ``type``) whose ``execution_engine_type`` is ``PersistentDuckDBEngine``, a
``SqlAlchemyExecutionEngine`` built on an engine with one pooled DuckDB connection (``StaticPool``), whose
``get_connection`` yields one SQLAlchemy connection for the engine's lifetime — what GX does for sqlite.
"""

from __future__ import annotations

import builtins
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any, Literal

import sqlalchemy as sa
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine


class PersistentDuckDBEngine(SqlAlchemyExecutionEngine):
    """GX's SQL execution engine on one DuckDB connection, held open until ``close()``."""

    def __init__(self, connection_string: str, **kwargs: Any) -> None:
        # every checkout is the same DBAPI connection: the in-memory database and its temp views live there
        engine = sa.create_engine(connection_string, poolclass=sa.StaticPool,
                                  **{k: v for k, v in kwargs.items() if k not in _ENGINE_ARGS})
        self.held_connection: sa.Connection | None = None
        own = {k: v for k, v in kwargs.items() if k in _ENGINE_ARGS}
        super().__init__(engine=engine, connection_string=connection_string, **own)

    @contextmanager
    def get_connection(self) -> Generator[sa.Connection, None, None]:
        """The engine's one SQLAlchemy connection, left open so a query's rows can be fetched after it."""
        if self.held_connection is None or self.held_connection.closed:
            self.held_connection = self.engine.connect()
        yield self.held_connection

    def close(self) -> None:
        if self.held_connection is not None:
            self.held_connection.close()
            self.held_connection = None
        super().close()


# SqlAlchemyExecutionEngine's own arguments; the datasource's other fields (its `kwargs`) go to create_engine
_ENGINE_ARGS = frozenset({"name", "credentials", "data_context", "url", "batch_data_dict", "create_temp_table"})


class DuckDBDatasource(SQLDatasource):
    """An ``SQLDatasource`` on DuckDB that validates through ``PersistentDuckDBEngine``."""

    type: Literal["cityshare_duckdb"] = "cityshare_duckdb"  # type: ignore[assignment]  # a GX datasource subtype

    @property
    def execution_engine_type(self) -> builtins.type[SqlAlchemyExecutionEngine]:  # `type` is a field here
        return PersistentDuckDBEngine
