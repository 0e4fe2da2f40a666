"""Which videos a crawl covers: the distinct video ids of the latest Kaggle load.

The rules (which load is the latest, how a URL gives a video id, one row per distinct
video with its first track's Kaggle values) live in dbt, in the model
``intermediate.int_kaggle_videos``; the crawler (:func:`crawl_targets`) and the local API
emulator (``ingestion.youtube.emulator.seed``) both read that model and derive nothing.
"""

from __future__ import annotations

import duckdb

#: The dbt model the crawl targets and the emulator's seed videos come from.
TARGETS_SCHEMA = "intermediate"
TARGETS_MODEL = "int_kaggle_videos"
TARGETS_RELATION = f"{TARGETS_SCHEMA}.{TARGETS_MODEL}"


class TargetsUnavailable(RuntimeError):
    """intermediate.int_kaggle_videos is missing: the Kaggle CSV has not been ingested and built."""


def require_targets(con: duckdb.DuckDBPyConnection) -> None:
    """Raise :class:`TargetsUnavailable` (one line) unless the targets model exists."""
    (exists,) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [TARGETS_SCHEMA, TARGETS_MODEL],
    ).fetchone()
    if not exists:
        raise TargetsUnavailable(
            f"{TARGETS_RELATION} does not exist: ingest the Kaggle CSV and build the dbt models first "
            "(`tunehouse ingest` then `tunehouse build`, or `make demo`)"
        )


def crawl_targets(con: duckdb.DuckDBPyConnection) -> tuple[int | None, list[str]]:
    """(load_id, sorted distinct video ids) of the latest Kaggle load."""
    require_targets(con)
    rows = con.execute(f"SELECT load_id, video_id FROM {TARGETS_RELATION} ORDER BY video_id").fetchall()
    load_ids = {r[0] for r in rows}
    load_id = next(iter(load_ids)) if len(load_ids) == 1 else None
    return load_id, [r[1] for r in rows]
