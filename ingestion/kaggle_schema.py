"""The Kaggle "Spotify and Youtube" CSV: its columns, their raw names, types and value rules.

Every column is read as text and then checked against its rule (`ValueRule`); a record
with a value that breaks a rule goes to raw.kaggle_quarantine as a whole, with the line
and field. The ranges come from Spotify's documentation of the audio features (the
ratios are 0.0-1.0, Key a pitch class 0-11) and from what a count is (a whole number,
never negative, small enough for the BIGINT that staging casts it to); the real file's
values all lie inside them (docs/reliability.md, "CSV loads").
"""

from __future__ import annotations

from dataclasses import dataclass

#: Whole-number columns are cast to BIGINT downstream: a value must stay below 2**63.
BIGINT_LIMIT = 2**63


@dataclass(frozen=True)
class ValueRule:
    """What a field's text must be. `kind`: text (anything), number (a finite decimal),
    boolean (True/False, any case). Numbers may be restricted to whole values and to
    [low, high]; whole numbers must also fit a BIGINT."""

    kind: str = "text"
    whole: bool = False
    low: float | None = None
    high: float | None = None
    #: Why the range is what it is (said in the quarantine reason).
    meaning: str = ""


TEXT = ValueRule()
BOOLEAN = ValueRule("boolean")
NUMBER = ValueRule("number")
RATIO = ValueRule("number", low=0.0, high=1.0, meaning="a Spotify audio feature from 0 to 1")
COUNT = ValueRule("number", whole=True, low=0.0, meaning="a count")
PITCH_CLASS = ValueRule("number", whole=True, low=0.0, high=11.0, meaning="a pitch class from 0 to 11")
BPM = ValueRule("number", low=0.0, meaning="beats per minute")
INDEX = ValueRule("number", whole=True, low=0.0, meaning="a row index")


@dataclass(frozen=True)
class SourceColumn:
    source: str  # header as written in the Kaggle file
    raw: str  # column name in raw.kaggle_tracks
    duckdb_type: str  # type in raw.kaggle_tracks
    required: bool = True
    rule: ValueRule = TEXT


# Order of the original 28-column file. Key, Duration_ms, Views, Likes and Comments are
# written as floats ("6.0"), Stream as an integer: raw keeps DOUBLE, staging casts.
KAGGLE_COLUMNS: tuple[SourceColumn, ...] = (
    SourceColumn("", "source_index", "BIGINT", required=False, rule=INDEX),
    SourceColumn("Artist", "artist", "VARCHAR"),
    SourceColumn("Url_spotify", "url_spotify", "VARCHAR"),
    SourceColumn("Track", "track", "VARCHAR"),
    SourceColumn("Album", "album", "VARCHAR"),
    SourceColumn("Album_type", "album_type", "VARCHAR"),
    SourceColumn("Uri", "uri", "VARCHAR"),
    SourceColumn("Danceability", "danceability", "DOUBLE", rule=RATIO),
    SourceColumn("Energy", "energy", "DOUBLE", rule=RATIO),
    SourceColumn("Key", "key", "DOUBLE", rule=PITCH_CLASS),
    # Spotify: "typically between -60 and 0 dB", but the real file has values up to +0.92:
    # any finite number.
    SourceColumn("Loudness", "loudness", "DOUBLE", rule=NUMBER),
    SourceColumn("Speechiness", "speechiness", "DOUBLE", rule=RATIO),
    SourceColumn("Acousticness", "acousticness", "DOUBLE", rule=RATIO),
    SourceColumn("Instrumentalness", "instrumentalness", "DOUBLE", rule=RATIO),
    SourceColumn("Liveness", "liveness", "DOUBLE", rule=RATIO),
    SourceColumn("Valence", "valence", "DOUBLE", rule=RATIO),
    SourceColumn("Tempo", "tempo", "DOUBLE", rule=BPM),
    SourceColumn("Duration_ms", "duration_ms", "DOUBLE", rule=COUNT),
    SourceColumn("Url_youtube", "url_youtube", "VARCHAR"),
    SourceColumn("Title", "title", "VARCHAR"),
    SourceColumn("Channel", "channel", "VARCHAR"),
    SourceColumn("Views", "views", "DOUBLE", rule=COUNT),
    SourceColumn("Likes", "likes", "DOUBLE", rule=COUNT),
    SourceColumn("Comments", "comments", "DOUBLE", rule=COUNT),
    SourceColumn("Description", "description", "VARCHAR", required=False),
    SourceColumn("Licensed", "licensed", "BOOLEAN", rule=BOOLEAN),
    SourceColumn("official_video", "official_video", "BOOLEAN", rule=BOOLEAN),
    SourceColumn("Stream", "stream", "DOUBLE", rule=COUNT),
)

# Names that tools give the unnamed index column when they round-trip the file.
INDEX_HEADER_ALIASES = frozenset({"", "Unnamed: 0", "index"})

BY_SOURCE = {c.source: c for c in KAGGLE_COLUMNS}
REQUIRED_SOURCES = tuple(c.source for c in KAGGLE_COLUMNS if c.required)


def column_for_header(header: str) -> SourceColumn | None:
    if header.strip() in INDEX_HEADER_ALIASES:
        return BY_SOURCE[""]
    return BY_SOURCE.get(header.strip())
