"""Which videos a crawl covers: the distinct video ids of the latest Kaggle load.

The id parsing rule lives in one place, the dbt macro `youtube_video_id` behind
staging.stg_tracks; the crawler reads that view rather than parsing URLs again.
"""

from __future__ import annotations

import duckdb


class TargetsUnavailable(RuntimeError):
    """staging.stg_tracks is missing: the Kaggle CSV has not been ingested and built."""


def require_stg_tracks(con: duckdb.DuckDBPyConnection) -> None:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE schema_name = 'staging' AND view_name = 'stg_tracks'"
    ).fetchall()[0][0]
    exists += con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'staging' AND table_name = 'stg_tracks'"
    ).fetchall()[0][0]
    if not exists:
        raise TargetsUnavailable(
            "staging.stg_tracks does not exist: ingest the Kaggle CSV and build the dbt models first "
            "(`tunehouse ingest` then `tunehouse build`, or `make demo`)"
        )


def crawl_targets(con: duckdb.DuckDBPyConnection) -> tuple[int | None, list[str]]:
    """(load_id, sorted distinct video ids) of the latest Kaggle load."""
    require_stg_tracks(con)
    rows = con.execute(
        "SELECT DISTINCT load_id, video_id FROM staging.stg_tracks WHERE video_id IS NOT NULL ORDER BY video_id"
    ).fetchall()
    load_ids = {r[0] for r in rows}
    load_id = next(iter(load_ids)) if len(load_ids) == 1 else None
    return load_id, sorted({r[1] for r in rows})
