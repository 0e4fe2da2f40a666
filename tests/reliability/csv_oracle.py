"""An independent reading of a Kaggle CSV, for the malformed-CSV campaign.

Written from the rules in README/docs (not from ingestion/): Python's csv module splits
the records (strict quoting; blank lines are not records), the header is mapped to the
Kaggle columns, and every value is checked against its column's rule. It says what a
correct loader must do with a file: refuse it as a whole (`Expected.kind == "error"`),
or load exactly `good` and quarantine exactly `bad`, and then publish the load or reject
it (too few rows next to the current load; a row that breaks a dbt test of stg_tracks).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

# header → (raw column, rule); rule: text | bool | (whole, low, high)
# A quote left open can make one field of the rest of the file (the loader allows 16 MiB records).
csv.field_size_limit(1 << 30)

COUNT = (True, 0.0, None)
RATIO = (False, 0.0, 1.0)
COLUMNS: dict[str, tuple[str, object]] = {
    "": ("source_index", COUNT), "Artist": ("artist", "text"), "Url_spotify": ("url_spotify", "text"),
    "Track": ("track", "text"), "Album": ("album", "text"), "Album_type": ("album_type", "text"),
    "Uri": ("uri", "text"), "Danceability": ("danceability", RATIO), "Energy": ("energy", RATIO),
    "Key": ("key", (True, 0.0, 11.0)), "Loudness": ("loudness", (False, None, None)),
    "Speechiness": ("speechiness", RATIO), "Acousticness": ("acousticness", RATIO),
    "Instrumentalness": ("instrumentalness", RATIO), "Liveness": ("liveness", RATIO),
    "Valence": ("valence", RATIO), "Tempo": ("tempo", (False, 0.0, None)), "Duration_ms": ("duration_ms", COUNT),
    "Url_youtube": ("url_youtube", "text"), "Title": ("title", "text"), "Channel": ("channel", "text"),
    "Views": ("views", COUNT), "Likes": ("likes", COUNT), "Comments": ("comments", COUNT),
    "Description": ("description", "text"), "Licensed": ("licensed", "bool"),
    "official_video": ("official_video", "bool"), "Stream": ("stream", COUNT),
}
OPTIONAL = {"", "Description"}
INDEX_ALIASES = {"", "Unnamed: 0", "index"}
NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
#: The dbt tests of stg_tracks that a value can break without breaking a row rule.
ALBUM_TYPES = {"album", "single", "compilation"}


@dataclass
class Expected:
    kind: str  # "error": the file is refused as a whole; else "load"
    why: str = ""
    #: record number (1-based, header excluded) → {raw column: typed value}
    good: dict[int, dict[str, object]] = field(default_factory=dict)
    #: record number → start line
    bad: dict[int, int] = field(default_factory=dict)
    #: start line → fields a value rule blames (records with the right number of fields)
    bad_fields: dict[int, set[str]] = field(default_factory=dict)
    #: why dbt's tests would fail on the good rows (None: they pass)
    dbt_failure: str | None = None
    columns: list[str] = field(default_factory=list)


def value_problem(text: str, rule) -> str | None:
    """Why `text` is not a valid value for `rule`, else None ("" is null: always valid)."""
    if text == "" or rule == "text":
        return None
    if rule == "bool":
        return None if text.lower() in ("true", "false") else "not a boolean"
    whole, low, high = rule
    if not NUMBER.fullmatch(text):
        return "not a number"
    value = float(text)
    if math.isinf(value):
        return "overflows"
    if whole and value != math.trunc(value):
        return "not whole"
    if low is not None and value < low:
        return "below range"
    if high is not None and value > high:
        return "above range"
    if whole and abs(value) >= 2.0**63:
        return "does not fit BIGINT"
    return None


def typed(text: str, rule) -> object:
    if text == "":
        return None
    if rule == "text":
        return text
    if rule == "bool":
        return text.lower() == "true"
    return float(text)


def expect_path(path: Path) -> Expected | bytes:
    """The file's bytes, or an Expected error when the path is not a readable regular file."""
    try:
        info = os.stat(path)  # follows links; a loop raises ELOOP
    except OSError as exc:
        return Expected("error", f"cannot stat: {exc.strerror}")
    if not stat.S_ISREG(info.st_mode):
        return Expected("error", "not a regular file")
    return Path(path).read_bytes()


def expect(data: bytes) -> Expected:
    if not data:
        return Expected("error", "empty")
    if b"\x00" in data:
        return Expected("error", "NUL byte")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Expected("error", "not UTF-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    if text[:1] in ("\n", "\r") or not text:
        return Expected("error", "first line empty")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except (csv.Error, StopIteration):
        return Expected("error", "header is not CSV")
    if len(header) < 2:
        return Expected("error", "no header")
    mapped: list[str | None] = []
    for name in header:
        name = name.strip()
        name = "" if name in INDEX_ALIASES else name
        if name in COLUMNS:
            if name in mapped:
                return Expected("error", f"duplicate column {name!r}")
            mapped.append(name)
        else:
            mapped.append(None)
    if any(c not in mapped for c in COLUMNS if c not in OPTIONAL):
        return Expected("error", "missing required column")

    expected = Expected("load", columns=[COLUMNS[m][0] for m in mapped if m is not None])
    record, last_line = 0, reader.line_num
    while True:
        start = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:  # a bad quote, or the end of the file inside a quoted field
            record += 1
            expected.bad[record] = start
            last_line = reader.line_num
            continue
        last_line = reader.line_num
        if not row:
            continue  # a blank line
        record += 1
        if len(row) != len(header):
            expected.bad[record] = start
            continue
        values, blamed = {}, set()
        for name, text in zip(mapped, row, strict=True):
            if name is None:
                continue
            raw, rule = COLUMNS[name]
            if value_problem(text, rule) is not None:
                blamed.add(name)
            else:
                values[raw] = typed(text, rule)
        if blamed:
            expected.bad[record] = start
            expected.bad_fields[start] = blamed
        else:
            expected.good[record] = values
    if record == 0:
        return Expected("error", "no data rows")
    if not expected.good:
        return Expected("error", "no good row")
    for values in expected.good.values():
        if values.get("artist") is None:
            expected.dbt_failure = "not_null artist"
        elif values.get("album_type") is not None and str(values["album_type"]).lower() not in ALBUM_TYPES:
            expected.dbt_failure = "accepted_values album_type"
    return expected
