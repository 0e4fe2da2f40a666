"""CSV ingestion: exact loads, lineage, idempotency, atomic failures, quarantine."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.kaggle_csv import CsvFileError, ingest_csv
from ingestion.sample import HEADER, generate_rows

RAW_TABLES = ("raw.kaggle_loads", "raw.kaggle_tracks", "raw.kaggle_quarantine")


def _query(path: Path, sql: str, params=None):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _state(path: Path):
    """Everything ingestion can change: the list of tables and every row of the raw tables."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"
        ).fetchall()
        rows = {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall())) for t in RAW_TABLES}
    return tables, rows


def _write_csv(path: Path, header, rows) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _num(text: str):
    return None if text == "" else float(text)


def _bool(text: str):
    return None if text == "" else text == "True"


def test_sample_loads_every_field_exactly(sample_csv, warehouse_path):
    result = ingest_csv(sample_csv, warehouse_path)
    with sample_csv.open(encoding="utf-8", newline="") as fh:
        expected = list(csv.DictReader(fh))
    assert (result.rows_loaded, result.rows_quarantined, result.already_loaded) == (len(expected), 0, False)
    assert result.file_sha256 == hashlib.sha256(sample_csv.read_bytes()).hexdigest()
    got = _query(
        warehouse_path,
        "SELECT source_row_number, source_index, artist, track, album, uri, key, views, likes, "
        "comments, stream, licensed, official_video, description, url_youtube, source_file, file_sha256 "
        "FROM raw.kaggle_tracks ORDER BY source_row_number",
    )
    assert len(got) == len(expected)
    for number, (row, src) in enumerate(zip(got, expected, strict=True), start=1):
        assert row[0] == number and row[1] == int(src[""])
        assert row[2:6] == (src["Artist"], src["Track"], src["Album"], src["Uri"])
        assert row[6:11] == tuple(_num(src[c]) for c in ("Key", "Views", "Likes", "Comments", "Stream"))
        assert row[11:13] == (_bool(src["Licensed"]), _bool(src["official_video"]))
        assert row[13] == (src["Description"] or None)
        assert row[14] == (src["Url_youtube"] or None)
        assert row[15:] == (sample_csv.name, result.file_sha256)


@pytest.mark.real_data
def test_real_kaggle_file_reproduces_the_known_facts(real_csv, warehouse_path):
    result = ingest_csv(real_csv, warehouse_path)
    assert (result.rows_loaded, result.rows_quarantined) == (20718, 0)
    (facts,) = _query(
        warehouse_path,
        """
        SELECT count(*), count(DISTINCT artist), count(*) FILTER (official_video),
               count(*) - count(url_youtube), count(*) - count(title), count(*) - count(channel),
               count(*) - count(views), count(*) - count(licensed), count(*) - count(official_video),
               count(*) - count(likes), count(*) - count(comments), count(*) - count(stream),
               count(*) - count(danceability), count(*) - count(tempo),
               count(DISTINCT url_youtube), count(*) - count(DISTINCT uri),
               count(*) FILTER (artist = 'CoComelon'), min(source_index), max(source_index)
        FROM raw.kaggle_tracks
        """,
    )
    assert facts == (20718, 2079, 15723, 485, 470, 470, 470, 470, 470, 541, 569, 576, 2, 2, 18139, 1856, 10, 0, 20717)
    (per_artist,) = _query(
        warehouse_path, "SELECT min(n), max(n) FROM (SELECT count(*) n FROM raw.kaggle_tracks GROUP BY artist)"
    )
    assert per_artist == (1, 10)


def test_same_file_twice_is_one_load(sample_csv, warehouse_path):
    first = ingest_csv(sample_csv, warehouse_path)
    second = ingest_csv(sample_csv, warehouse_path)
    assert second.already_loaded and second.load_id == first.load_id
    assert _query(warehouse_path, "SELECT count(*) FROM raw.kaggle_tracks") == [(first.rows_loaded,)]
    assert _query(warehouse_path, "SELECT count(*) FROM raw.kaggle_loads") == [(1,)]


def test_new_version_is_a_new_load_and_reingesting_the_old_one_makes_it_latest(tmp_path, warehouse_path):
    rows = generate_rows(60, seed=3)
    v1 = _write_csv(tmp_path / "v1.csv", HEADER, rows[:50])
    v2 = _write_csv(tmp_path / "v2.csv", HEADER, rows)
    a, b = ingest_csv(v1, warehouse_path), ingest_csv(v2, warehouse_path)
    assert (a.load_id, b.load_id, a.rows_loaded, b.rows_loaded) == (1, 2, 50, 60)
    latest = "SELECT load_id FROM raw.kaggle_loads ORDER BY last_ingested_at DESC, load_id DESC LIMIT 1"
    assert _query(warehouse_path, latest) == [(2,)]
    again = ingest_csv(v1, warehouse_path)
    assert again.already_loaded and _query(warehouse_path, latest) == [(1,)]
    assert _query(warehouse_path, "SELECT load_id, count(*) FROM raw.kaggle_tracks GROUP BY 1 ORDER BY 1") == [
        (1, 50), (2, 60)
    ]


def test_na_like_text_stays_text(tmp_path, warehouse_path):
    row = generate_rows(1, seed=5)[0]
    header_pos = {h: i for i, h in enumerate(HEADER)}
    for column, text in (("Artist", "NA"), ("Track", "None"), ("Album", "null"), ("Title", "N/A")):
        row[header_pos[column]] = text
    ingest_csv(_write_csv(tmp_path / "na.csv", HEADER, [row]), warehouse_path)
    assert _query(warehouse_path, "SELECT artist, track, album, title FROM raw.kaggle_tracks") == [
        ("NA", "None", "null", "N/A")
    ]


def test_description_column_is_optional_and_index_aliases_are_accepted(tmp_path, warehouse_path):
    rows = generate_rows(5, seed=9)
    drop = HEADER.index("Description")
    header = ["Unnamed: 0", *[h for i, h in enumerate(HEADER) if i not in (0, drop)]]
    body = [[r[0], *[v for i, v in enumerate(r) if i not in (0, drop)]] for r in rows]
    result = ingest_csv(_write_csv(tmp_path / "nodesc.csv", header, body), warehouse_path)
    assert result.rows_loaded == 5
    assert _query(warehouse_path, "SELECT count(description), max(source_index), bool_and(NOT has_description) "
                  "FROM raw.kaggle_tracks, raw.kaggle_loads") == [(0, 4, True)]


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    rows = generate_rows(5, seed=11)
    missing = HEADER.index("Views")
    bad = {
        "missing_column": (
            _write_csv(tmp_path / "missing.csv", [h for i, h in enumerate(HEADER) if i != missing],
                       [[v for i, v in enumerate(r) if i != missing] for r in rows]),
            "missing required column Views",
        ),
        "latin1": (tmp_path / "latin1.csv", "not UTF-8 text"),
        "binary": (tmp_path / "image.png", "not a CSV text file"),
        "json": (tmp_path / "data.json", "missing required columns"),
        "empty": (tmp_path / "empty.csv", "file is empty"),
        "header_only": (_write_csv(tmp_path / "header.csv", HEADER, []), "no data rows"),
        "no_file": (tmp_path / "nope.csv", "does not exist"),
        "all_rows_bad": (
            _write_csv(tmp_path / "allbad.csv", HEADER,
                       [[*r[:21], "lots", *r[22:]] for r in rows]),
            "no row could be loaded",
        ),
    }
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([HEADER, *rows])
    (tmp_path / "latin1.csv").write_bytes(text.getvalue().replace("Artist", "Artíst_é").encode("latin-1", "replace"))
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (tmp_path / "data.json").write_text(json.dumps([{"Artist": "x", "Track": "y"}]), encoding="utf-8")
    (tmp_path / "empty.csv").write_bytes(b"")
    return bad


@pytest.mark.parametrize(
    "case", ["missing_column", "latin1", "binary", "json", "empty", "header_only", "no_file", "all_rows_bad"]
)
def test_a_bad_file_fails_with_one_clear_line_and_changes_nothing(case, sample_csv, tmp_path, warehouse_path):
    ingest_csv(sample_csv, warehouse_path)
    before = _state(warehouse_path)
    path, problem = _bad_files(tmp_path)[case]
    with pytest.raises(CsvFileError) as info:
        ingest_csv(path, warehouse_path)
    message = str(info.value)
    assert str(path.resolve()) in message and problem in message and "\n" not in message
    assert _state(warehouse_path) == before


def test_bad_file_on_a_fresh_warehouse_creates_no_tables(tmp_path, warehouse_path):
    path, _ = _bad_files(tmp_path)["missing_column"]
    with pytest.raises(CsvFileError):
        ingest_csv(path, warehouse_path)
    if warehouse_path.exists():
        assert _query(warehouse_path, "SELECT count(*) FROM information_schema.tables") == [(0,)]


def test_cli_reports_a_bad_file_in_one_line_with_exit_1(tmp_path, warehouse_path):
    path, _ = _bad_files(tmp_path)["latin1"]
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "ingest", str(path), "--warehouse", str(warehouse_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "latin1.csv" in lines[0] and "not UTF-8" in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr


# --- quarantine, over generated malformed files -------------------------------------------

NUMERIC = [i for i, h in enumerate(HEADER) if h in {"Danceability", "Key", "Views", "Likes", "Tempo", "Stream"}]
BOOLEAN = [HEADER.index("Licensed"), HEADER.index("official_video")]
CORRUPTIONS = ("bad_number", "bad_bool", "broken_quote", "missing_field", "extra_field")
BASE_ROWS = generate_rows(40, seed=21)


def _render(row: list[str], corruption: str | None, pick: int) -> tuple[str, str | None]:
    """One CSV record as text, corrupted as asked; returns (text, blamed source field)."""
    row = list(row)
    field = None
    if corruption == "bad_number":
        i = NUMERIC[pick % len(NUMERIC)]
        row[i], field = ("12x", "abc", "1.2.3", "--5")[pick % 4], HEADER[i]
    elif corruption == "bad_bool":
        i = BOOLEAN[pick % 2]
        row[i], field = "maybe", HEADER[i]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    text = buf.getvalue()
    if corruption == "broken_quote":
        artist = row[1]
        # A closing quote followed by more text: an invalid quoted field.
        text = text.replace(artist, f'"{artist}"x', 1) if f'"{artist}"' not in text else text.replace(
            f'"{artist}"', f'"{artist}"x', 1)
    elif corruption == "missing_field":
        text = text.rstrip("\n").rsplit(",", 1)[0] + "\n"
    elif corruption == "extra_field":
        text = text.rstrip("\n") + ",surplus\n"
    return text, field


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=st.lists(
        st.tuples(st.sampled_from((None, None, None, *CORRUPTIONS)), st.integers(0, 39), st.integers(0, 100)),
        min_size=1, max_size=25,
    )
)
def test_bad_rows_are_quarantined_with_their_line_and_good_rows_load(plan, tmp_path_factory):
    directory = tmp_path_factory.mktemp("quarantine")
    path, warehouse = directory / "mixed.csv", directory / "w.duckdb"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(HEADER)
    parts, line = [buf.getvalue()], 2
    good: list[tuple[int, int]] = []  # (record number, source index)
    bad: dict[int, str | None] = {}  # physical line -> blamed field
    for record, (corruption, base, pick) in enumerate(plan, start=1):
        row = list(BASE_ROWS[base])
        row[0] = str(record - 1)
        text, field = _render(row, corruption, pick)
        if corruption is None:
            good.append((record, record - 1))
        else:
            bad[line] = field
        parts.append(text)
        line += text.count("\n")
    path.write_text("".join(parts), encoding="utf-8")

    if not good:
        with pytest.raises(CsvFileError, match="no row could be loaded"):
            ingest_csv(path, warehouse)
        return
    result = ingest_csv(path, warehouse)
    assert (result.rows_loaded, result.rows_quarantined) == (len(good), len(bad))
    assert _query(warehouse, "SELECT source_row_number, source_index FROM raw.kaggle_tracks ORDER BY 1") == good
    quarantined = _query(warehouse, "SELECT DISTINCT line FROM raw.kaggle_quarantine ORDER BY 1")
    assert [q[0] for q in quarantined] == sorted(bad)
    for physical_line, field in bad.items():
        reasons = _query(warehouse, "SELECT field, reason, raw_record FROM raw.kaggle_quarantine WHERE line = ?",
                         [physical_line])
        assert all(r[1] and r[2] for r in reasons)
        if field is not None:
            assert field in [r[0] for r in reasons]
