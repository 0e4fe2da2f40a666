"""The DuckDB side of tunehouse: where the file lives, how it is opened, the raw DDL."""

from warehouse.connection import (
    WarehouseError,
    read_connection,
    resolve_path,
    transaction,
    write_connection,
)
from warehouse.schema import ensure_schema
from warehouse.settings import DBT_PROJECT_DIR, PROJECT_ROOT, Settings, get_settings

__all__ = [
    "DBT_PROJECT_DIR",
    "PROJECT_ROOT",
    "Settings",
    "WarehouseError",
    "ensure_schema",
    "get_settings",
    "read_connection",
    "resolve_path",
    "transaction",
    "write_connection",
]
