"""Opening the DuckDB warehouse: one writer at a time, short-lived connections.

DuckDB lets one process write a file; another process that tries to open it (even
read-only) gets a lock error while the writer holds it. Every opener here therefore
retries with exponential backoff and jitter, and callers keep connections short: load
data, close, compute, then open again to write.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)

log = logging.getLogger(__name__)


class WarehouseError(RuntimeError):
    """A problem with the warehouse file that the user must fix (missing, locked, ...)."""


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, (duckdb.IOException, duckdb.ConnectionException)) and (
        "lock" in text or "being used by another process" in text
    )


#: How long an opener keeps retrying a locked file unless told otherwise
#: (``Settings.lock_timeout_s`` is passed by the entry points).
DEFAULT_LOCK_TIMEOUT_S = 60.0


def resolve_path(path: Path | str | None) -> Path:
    if path is None:
        raise WarehouseError("no warehouse path given (the caller must pass Settings.warehouse)")
    return Path(path)


#: What a sandboxed connection (`tunehouse sql`) may not do, set when it opens: read or
#: write any file but the warehouse (COPY, EXPORT, read_csv/read_text/read_parquet/glob,
#: ATTACH; also Python replacement scans and the network), install or load extensions
#: (also automatically), create persistent secrets, or change any setting afterwards.
SANDBOX_CONFIG: dict[str, str | bool] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "lock_configuration": True,  # last: nothing above can be SET or RESET back
}


def _open(
    path: Path, read_only: bool, timeout_s: float | None, config: dict[str, str | bool] | None = None
) -> duckdb.DuckDBPyConnection:
    timeout_s = DEFAULT_LOCK_TIMEOUT_S if timeout_s is None else timeout_s
    retrying = Retrying(
        retry=retry_if_exception(_is_lock_error),
        wait=wait_random_exponential(multiplier=0.05, max=2.0),
        stop=stop_after_delay(timeout_s),
        before_sleep=before_sleep_log(log, logging.DEBUG),
        reraise=True,
    )
    try:
        return retrying(duckdb.connect, str(path), read_only=read_only, config=dict(config or {}))
    except (duckdb.IOException, duckdb.ConnectionException) as exc:
        if _is_lock_error(exc):
            raise WarehouseError(
                f"warehouse {path} is locked by another process (waited {timeout_s:.0f}s); "
                "stop the other writer or raise TUNEHOUSE_LOCK_TIMEOUT_S"
            ) from None
        raise WarehouseError(f"cannot open warehouse {path}: {exc}") from None


@contextmanager
def write_connection(
    path: Path | str, timeout_s: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection, closed on exit. Creates the file (and its folder) if needed."""
    path = resolve_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only=False, timeout_s=timeout_s)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def read_connection(
    path: Path | str, timeout_s: float | None = None, *, sandbox: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, closed on exit. The warehouse must exist.

    `sandbox=True` (`tunehouse sql`, `tunehouse analysis`): the connection can read the
    warehouse and nothing else (`SANDBOX_CONFIG`); an attempt fails with DuckDB's
    Permission or Invalid Input error.
    """
    path = resolve_path(path)
    if not path.exists():
        raise WarehouseError(
            f"warehouse {path} does not exist yet; run `tunehouse ingest` or `make demo` first"
        )
    con = _open(path, read_only=True, timeout_s=timeout_s, config=SANDBOX_CONFIG if sandbox else None)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK on any exception: the warehouse is left as it was."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
