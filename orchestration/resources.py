"""Dagster resources: every outside thing an asset touches comes through one of these."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource

from warehouse import read_connection, write_connection


class WarehouseResource(DuckDBResource):
    """The tunehouse DuckDB file.

    A DuckDBResource whose connections retry while another process holds the write
    lock. Assets open a connection only for as long as a read or a write takes.
    """

    @property
    def path(self) -> Path:
        return Path(self.database)

    @contextmanager
    def write_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with write_connection(self.path) as con:
            yield con

    @contextmanager
    def read_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with read_connection(self.path) as con:
            yield con

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:  # DuckDBResource's API
        with self.write_connection() as con:
            yield con
