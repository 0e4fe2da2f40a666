"""The Kaggle "Spotify and Youtube" CSV: its columns, their raw names and types."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceColumn:
    source: str  # header as written in the Kaggle file
    raw: str  # column name in raw.kaggle_tracks
    duckdb_type: str
    required: bool = True


# Order of the original 28-column file. Key, Duration_ms, Views, Likes and Comments are
# written as floats ("6.0"), Stream as an integer: raw keeps DOUBLE, staging casts.
KAGGLE_COLUMNS: tuple[SourceColumn, ...] = (
    SourceColumn("", "source_index", "BIGINT", required=False),
    SourceColumn("Artist", "artist", "VARCHAR"),
    SourceColumn("Url_spotify", "url_spotify", "VARCHAR"),
    SourceColumn("Track", "track", "VARCHAR"),
    SourceColumn("Album", "album", "VARCHAR"),
    SourceColumn("Album_type", "album_type", "VARCHAR"),
    SourceColumn("Uri", "uri", "VARCHAR"),
    SourceColumn("Danceability", "danceability", "DOUBLE"),
    SourceColumn("Energy", "energy", "DOUBLE"),
    SourceColumn("Key", "key", "DOUBLE"),
    SourceColumn("Loudness", "loudness", "DOUBLE"),
    SourceColumn("Speechiness", "speechiness", "DOUBLE"),
    SourceColumn("Acousticness", "acousticness", "DOUBLE"),
    SourceColumn("Instrumentalness", "instrumentalness", "DOUBLE"),
    SourceColumn("Liveness", "liveness", "DOUBLE"),
    SourceColumn("Valence", "valence", "DOUBLE"),
    SourceColumn("Tempo", "tempo", "DOUBLE"),
    SourceColumn("Duration_ms", "duration_ms", "DOUBLE"),
    SourceColumn("Url_youtube", "url_youtube", "VARCHAR"),
    SourceColumn("Title", "title", "VARCHAR"),
    SourceColumn("Channel", "channel", "VARCHAR"),
    SourceColumn("Views", "views", "DOUBLE"),
    SourceColumn("Likes", "likes", "DOUBLE"),
    SourceColumn("Comments", "comments", "DOUBLE"),
    SourceColumn("Description", "description", "VARCHAR", required=False),
    SourceColumn("Licensed", "licensed", "BOOLEAN"),
    SourceColumn("official_video", "official_video", "BOOLEAN"),
    SourceColumn("Stream", "stream", "DOUBLE"),
)

# Names that tools give the unnamed index column when they round-trip the file.
INDEX_HEADER_ALIASES = frozenset({"", "Unnamed: 0", "index"})

BY_SOURCE = {c.source: c for c in KAGGLE_COLUMNS}
REQUIRED_SOURCES = tuple(c.source for c in KAGGLE_COLUMNS if c.required)


def column_for_header(header: str) -> SourceColumn | None:
    if header.strip() in INDEX_HEADER_ALIASES:
        return BY_SOURCE[""]
    return BY_SOURCE.get(header.strip())
