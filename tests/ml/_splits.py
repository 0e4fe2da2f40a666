"""The leak check of stored honest splits, in SQL on the warehouse's own staging rows."""

from __future__ import annotations

#: Every (key, value, split_key, fold) where an artist, a Spotify URI or a YouTube video has
#: tracks on both sides (train and test) of one fold of a stored honest split. Reads the
#: keys from staging.stg_tracks, not from the track groups the splits were made with.
OVERLAPS = """
WITH rows AS (
    SELECT s.split_key, s.fold, s.role, t.artist, t.spotify_uri, t.video_id
    FROM ml.splits s JOIN staging.stg_tracks t USING (track_id)
    WHERE s.protocol = 'honest'
)
SELECT 'artist' AS key, artist AS value, split_key, fold FROM rows WHERE artist IS NOT NULL
GROUP BY split_key, fold, artist HAVING count(DISTINCT role) > 1
UNION ALL
SELECT 'spotify_uri', spotify_uri, split_key, fold FROM rows WHERE spotify_uri IS NOT NULL
GROUP BY split_key, fold, spotify_uri HAVING count(DISTINCT role) > 1
UNION ALL
SELECT 'video_id', video_id, split_key, fold FROM rows WHERE video_id IS NOT NULL
GROUP BY split_key, fold, video_id HAVING count(DISTINCT role) > 1
"""

#: How many stored honest split folds have both roles (so the check above is not vacuous).
CHECKED_FOLDS = """
SELECT count(*) FROM (SELECT split_key, fold FROM ml.splits WHERE protocol = 'honest'
                      GROUP BY ALL HAVING count(DISTINCT role) = 2)
"""


def artist_grouped_overlaps(con) -> int:
    """How many Spotify URIs or videos an artist-grouped split of the same rows would put on
    both sides: what the check above would find without track groups (0 means the data has
    no collaboration duplicates to catch)."""
    import numpy as np
    from sklearn.model_selection import GroupKFold

    rows = con.execute("SELECT t.artist, t.spotify_uri, t.video_id FROM staging.stg_tracks t JOIN marts.track_features f "
                       "USING (track_id) WHERE f.is_official_video ORDER BY t.track_id").fetchall()
    artists = np.array([r[0] for r in rows], dtype=object)
    found = 0
    for train, test in GroupKFold(n_splits=5).split(artists, groups=artists):
        for column in (1, 2):
            seen = {rows[i][column] for i in train if rows[i][column] is not None}
            found += len({rows[i][column] for i in test if rows[i][column] is not None} & seen)
    return found
