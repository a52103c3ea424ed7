"""The one way CityShare writes a name or a value into SQL text it cannot parameterize (DuckDB DDL, view
definitions, identifiers from contracts); values from users always go as query parameters instead."""

from __future__ import annotations

from typing import Any


def q(identifier: str) -> str:
    """A quoted SQL identifier (``a"b`` → ``"a""b"``)."""
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: Any) -> str:
    """A SQL string literal (contract values and paths: trusted configuration, still escaped)."""
    return "'" + str(value).replace("'", "''") + "'"
