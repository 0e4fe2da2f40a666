"""Warehouses for the Kaggle reliability tests: a CSV loaded, published and its models built."""

from __future__ import annotations

from pathlib import Path

import duckdb


def build_template(csv_path: Path, warehouse: Path) -> Path:
    """`csv_path` ingested (published) into `warehouse`, with every model built from the Kaggle load
    (the audit's selection, in the real schemas): staging, intermediate, dim_tracks."""
    from ingestion.kaggle_csv import ingest_csv
    from ingestion.publish import AUDIT_SELECT
    from orchestration.dbt import run_dbt

    ingest_csv(csv_path, warehouse)
    run_dbt(["build", *AUDIT_SELECT], warehouse)
    return warehouse


def downstream_load_ids(con: duckdb.DuckDBPyConnection) -> dict[str, set[int]]:
    """relation → the load_ids it shows, for every relation outside raw.* (and the audit schemas)
    with a load_id column, except staging.stg_kaggle_loads (the list of every load)."""
    relations = con.execute(
        """
        SELECT table_schema, table_name FROM information_schema.columns
        WHERE column_name IN ('load_id', 'kaggle_load_id') AND table_catalog = current_database()
          AND table_schema NOT IN ('raw') AND NOT starts_with(table_schema, 'audit_')
          AND NOT (table_schema = 'staging' AND table_name = 'stg_kaggle_loads')
        GROUP BY 1, 2
        """
    ).fetchall()
    out = {}
    for schema, name in relations:
        column = con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "AND column_name IN ('load_id', 'kaggle_load_id') ORDER BY column_name DESC LIMIT 1",
            [schema, name],
        ).fetchone()[0]
        out[f"{schema}.{name}"] = {
            r[0] for r in con.execute(f'SELECT DISTINCT {column} FROM "{schema}"."{name}"').fetchall()
            if r[0] is not None
        }
    return out
