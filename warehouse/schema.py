"""DDL of the tables that tunehouse itself writes (raw.*, ml.*); dbt owns the rest.

Each concern keeps its DDL in one file under warehouse/ddl/, applied in name order.
Every statement is idempotent (IF NOT EXISTS), so applying the DDL is always safe.
"""

from __future__ import annotations

from importlib import resources

import duckdb


def ddl_statements() -> list[tuple[str, str]]:
    """(file name, SQL text) of every DDL file, in the order they are applied."""
    files = sorted(
        (f for f in resources.files("warehouse.ddl").iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    return [(f.name, f.read_text(encoding="utf-8")) for f in files]


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for _name, sql in ddl_statements():
        con.execute(sql)
