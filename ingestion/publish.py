"""Write-audit-publish of a Kaggle load: what makes a written load the current one.

`ingestion.kaggle_csv.ingest_csv` writes a load as `pending` (raw.kaggle_loads.status);
no model reads a pending load, because the current load is the latest *published* one
(`stg_kaggle_loads.is_latest`, which staging, marts, the crawl's targets and the
emulator's seed all follow). Then, here:

- **audit** (`audit`): the shrink check (a load that keeps fewer than `1 - max_shrink` of
  the current load's rows is probably truncated) and **dbt's tests on the new data**:
  every model built from the Kaggle load alone (`AUDIT_SELECT`: stg_kaggle_loads,
  stg_tracks, the intermediate models, dim_tracks, and the seed they need) is built for the
  candidate load into separate schemas (`audit_kaggle_staging`, …; the dbt variables
  `audit_schema_prefix` and `kaggle_audit_load_id`), its tests run, and the audit schemas
  are dropped again;
- **publish or reject** (`finish`), one transaction: `published` (and ingested now, so it
  becomes the current load), or `rejected` with the reason, kept for inspection.

One ingest at a time per warehouse (`ingest_lock`, a file lock beside the warehouse), so a
`pending` load found by the next ingest belongs to an ingest that was killed: it is
marked rejected (`recover_interrupted`) and its audit schemas are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from warehouse import WarehouseError, transaction, write_connection

log = logging.getLogger(__name__)

#: Default of `Settings.kaggle_max_shrink`: a new load may have 10 % fewer rows than the current one.
DEFAULT_MAX_SHRINK = 0.10
#: Schemas of an audit build: audit_kaggle_staging, audit_kaggle_intermediate, audit_kaggle_marts.
AUDIT_SCHEMA_PREFIX = "audit_kaggle_"
#: Every dbt node built from the Kaggle load alone (with the seeds and models it needs) and its
#: tests; the YouTube models are left out (they are not about the load, and some are incremental).
AUDIT_SELECT = [
    "--select", "@source:raw.kaggle_tracks @source:raw.kaggle_loads",
    "--exclude", "source:youtube+",
    "--exclude-resource-type", "unit_test",
]
INTERRUPTED = "interrupted: the ingest stopped before its audit finished"


@contextmanager
def ingest_lock(warehouse: Path | str, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the warehouse's ingest lock (`<warehouse>.ingest-lock`) for one whole load.

    An OS file lock: it goes with the process, so a killed ingest never leaves it held.
    """
    from filelock import FileLock, Timeout

    warehouse = Path(warehouse)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(warehouse) + ".ingest-lock", timeout=60.0 if timeout_s is None else timeout_s)
    try:
        lock.acquire()
    except Timeout:
        raise WarehouseError(
            f"warehouse {warehouse} is being loaded by another `tunehouse ingest` (waited {lock.timeout:.0f}s)"
        ) from None
    try:
        yield
    finally:
        lock.release()


def current_load(con: duckdb.DuckDBPyConnection) -> tuple[int, int] | None:
    """(load_id, row_count) of the current load: the rule of stg_kaggle_loads.is_latest, in Python
    (ingestion runs before any dbt model exists; tests keep the two equal)."""
    return con.execute(
        """
        SELECT load_id, row_count FROM raw.kaggle_loads WHERE status = 'published'
        ORDER BY last_ingested_at DESC, load_id DESC LIMIT 1
        """
    ).fetchone()


def audit_schemas(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        row[0]
        for row in con.execute(
            "SELECT schema_name FROM information_schema.schemata "
            "WHERE catalog_name = current_database() AND starts_with(schema_name, ?) ORDER BY 1",
            [AUDIT_SCHEMA_PREFIX],
        ).fetchall()
    ]


def drop_audit_schemas(con: duckdb.DuckDBPyConnection) -> None:
    for schema in audit_schemas(con):
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def recover_interrupted(con: duckdb.DuckDBPyConnection) -> None:
    """Mark loads left pending by a killed ingest as rejected; drop a killed audit's schemas.

    Only call it holding `ingest_lock`: then no other ingest is running.
    """
    stale = con.execute(
        "UPDATE raw.kaggle_loads SET status = 'rejected', status_reason = ? WHERE status = 'pending' "
        "RETURNING load_id",
        [INTERRUPTED],
    ).fetchall()
    if stale:
        log.warning("loads %s were left pending by an interrupted ingest: marked rejected", [r[0] for r in stale])
    drop_audit_schemas(con)


def shrink_problem(rows: int, current: tuple[int, int] | None, max_shrink: float) -> str | None:
    """Why a load of `rows` rows is probably truncated next to the `current` load, or None."""
    if current is None:
        return None
    current_id, current_rows = current
    if rows >= (1.0 - max_shrink) * current_rows:
        return None
    lost = 1.0 - rows / current_rows
    return (
        f"probably truncated: {rows:,} rows, {lost:.1%} fewer than the current load {current_id} "
        f"({current_rows:,} rows; at most {max_shrink:.0%} fewer is accepted); "
        "allow it with --allow-shrink (Dagster config allow_shrink)"
    )


def dbt_problem(warehouse: Path | str, load_id: int) -> str | None:
    """Build the Kaggle models for load `load_id` into the audit schemas and run their tests.

    Returns what failed (one line), or None. The audit schemas are dropped afterwards, and
    also before (a killed audit's). dbt that cannot run at all fails the audit too.
    """
    from orchestration.dbt import run_dbt

    try:
        run_dbt(["build", *AUDIT_SELECT], warehouse,
                dbt_vars={"audit_schema_prefix": AUDIT_SCHEMA_PREFIX, "kaggle_audit_load_id": load_id})
    except Exception as exc:  # noqa: BLE001 - any failure fails the audit (the gate stays closed)
        text = " ".join(str(exc).split()) or type(exc).__name__
        return f"dbt tests on the new load failed: {text}"
    finally:
        with write_connection(warehouse) as con:
            drop_audit_schemas(con)
    return None


def audit(
    warehouse: Path | str,
    load_id: int,
    *,
    max_shrink: float = DEFAULT_MAX_SHRINK,
    allow_shrink: bool = False,
    lock_timeout_s: float | None = None,
) -> str | None:
    """Audit pending load `load_id`: the shrink check, then dbt's tests. Returns the problem or None."""
    with write_connection(warehouse, timeout_s=lock_timeout_s) as con:
        (rows,) = con.execute("SELECT row_count FROM raw.kaggle_loads WHERE load_id = ?", [load_id]).fetchone()
        current = current_load(con)
    if not allow_shrink:
        problem = shrink_problem(rows, current, max_shrink)
        if problem is not None:
            return problem
    return dbt_problem(warehouse, load_id)


def finish(
    warehouse: Path | str, load_id: int, problem: str | None, *, lock_timeout_s: float | None = None
) -> int | None:
    """Publish pending load `load_id` (problem None) or reject it with `problem`; one transaction.

    Returns the current load afterwards.
    """
    with write_connection(warehouse, timeout_s=lock_timeout_s) as con, transaction(con):
        if problem is None:
            changed = con.execute(
                "UPDATE raw.kaggle_loads SET status = 'published', status_reason = NULL, published_at = now(), "
                "last_ingested_at = now() WHERE load_id = ? AND status = 'pending' RETURNING load_id",
                [load_id],
            ).fetchall()
        else:
            changed = con.execute(
                "UPDATE raw.kaggle_loads SET status = 'rejected', status_reason = ? "
                "WHERE load_id = ? AND status = 'pending' RETURNING load_id",
                [problem, load_id],
            ).fetchall()
        if not changed:  # only possible if something outside tunehouse changed the row
            raise WarehouseError(f"Kaggle load {load_id} is no longer pending; ingest the file again")
        current = current_load(con)
    return current[0] if current else None
