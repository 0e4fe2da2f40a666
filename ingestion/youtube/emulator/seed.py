"""The videos to emulate: the distinct video ids of the warehouse's latest Kaggle load."""

from __future__ import annotations

from pathlib import Path

from ingestion.youtube.emulator.universe import SeedVideo
from ingestion.youtube.targets import require_stg_tracks
from warehouse import read_connection


def load_seed_videos(warehouse: Path | str | None = None) -> list[SeedVideo]:
    """One SeedVideo per distinct video_id of staging.stg_tracks (first row of each wins)."""
    with read_connection(warehouse) as con:
        require_stg_tracks(con)
        rows = con.execute(
            """
            SELECT video_id,
                   first(video_title ORDER BY track_id), first(channel ORDER BY track_id),
                   first(views ORDER BY track_id), first(likes ORDER BY track_id),
                   first(comments ORDER BY track_id)
            FROM staging.stg_tracks
            WHERE video_id IS NOT NULL
            GROUP BY video_id
            ORDER BY video_id
            """
        ).fetchall()
    return [SeedVideo(*row) for row in rows]
