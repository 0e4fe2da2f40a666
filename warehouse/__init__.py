"""The DuckDB side of tunehouse: where the file lives, how it is opened, the raw DDL."""

from warehouse.connection import (
    WarehouseError,
    read_connection,
    resolve_path,
    transaction,
    write_connection,
)
from warehouse.schema import ensure_schema

__all__ = [
    "WarehouseError",
    "ensure_schema",
    "read_connection",
    "resolve_path",
    "transaction",
    "write_connection",
]
