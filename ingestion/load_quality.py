"""What the Kaggle load's asset check measures: the quarantined share of the latest load.

The latest load here is the one ingested last (``last_ingested_at``, ties to the higher
``load_id``): the load an ingest just wrote or touched, whether or not it became the one
downstream models read.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class LoadQuarantine:
    load_id: int
    source_file: str
    rows_loaded: int
    rows_quarantined: int

    @property
    def records(self) -> int:
        return self.rows_loaded + self.rows_quarantined

    @property
    def share(self) -> float:
        """Quarantined records over all records of the file (0.0 for an empty file)."""
        return self.rows_quarantined / self.records if self.records else 0.0


def latest_load_quarantine(con: duckdb.DuckDBPyConnection) -> LoadQuarantine | None:
    """The latest load's counts, from raw.kaggle_loads (None: nothing ingested yet)."""
    (exists,) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = 'kaggle_loads'"
    ).fetchone()
    if not exists:
        return None
    row = con.execute(
        "SELECT load_id, source_file, row_count, quarantined_count FROM raw.kaggle_loads "
        "ORDER BY last_ingested_at DESC, load_id DESC LIMIT 1"
    ).fetchone()
    return LoadQuarantine(int(row[0]), row[1], int(row[2]), int(row[3])) if row else None
