"""The videos to emulate: one per distinct video id of the warehouse's latest Kaggle load.

They come from the dbt model ``intermediate.int_kaggle_videos`` as they are (a video
shared by several tracks takes its first track's values there); nothing is derived here.
"""

from __future__ import annotations

from pathlib import Path

from ingestion.youtube.emulator.universe import SeedVideo
from ingestion.youtube.targets import TARGETS_RELATION, require_targets
from warehouse import read_connection


def load_seed_videos(warehouse: Path | str) -> list[SeedVideo]:
    """One SeedVideo per row of intermediate.int_kaggle_videos, ordered by video_id."""
    with read_connection(warehouse) as con:
        require_targets(con)
        rows = con.execute(
            f"""
            SELECT video_id, kaggle_video_title, kaggle_channel, kaggle_views, kaggle_likes, kaggle_comments
            FROM {TARGETS_RELATION}
            ORDER BY video_id
            """
        ).fetchall()
    return [SeedVideo(*row) for row in rows]
