"""CSV ingestion: exact loads, lineage, idempotency, atomic failures, quarantine, write-audit-publish.

Tests named `test_finding<N>_…` cover the findings of issue #9 (each failed before the fix):
1 bad numbers got in and broke the build; 2 records were lost without a word; 3 crashes
instead of one-line errors. The campaign over hundreds of malformed files is in
tests/reliability/test_csv_campaign.py.
"""

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

from ingestion.kaggle_csv import CsvFileError, LoadRejected, check_file, ingest_csv, scan_records, write_pending
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


def _write(path: Path, warehouse: Path):
    """The write stage alone (a pending load): what the parser and the quarantine do."""
    return write_pending(check_file(path), warehouse)


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
    latest = ("SELECT load_id FROM raw.kaggle_loads WHERE status = 'published' "
              "ORDER BY last_ingested_at DESC, load_id DESC LIMIT 1")
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
    _write(_write_csv(tmp_path / "na.csv", HEADER, [row]), warehouse_path)
    assert _query(warehouse_path, "SELECT artist, track, album, title FROM raw.kaggle_tracks") == [
        ("NA", "None", "null", "N/A")
    ]


def test_description_column_is_optional_and_index_aliases_are_accepted(tmp_path, warehouse_path):
    rows = generate_rows(5, seed=9)
    drop = HEADER.index("Description")
    header = ["Unnamed: 0", *[h for i, h in enumerate(HEADER) if i not in (0, drop)]]
    body = [[r[0], *[v for i, v in enumerate(r) if i not in (0, drop)]] for r in rows]
    result = _write(_write_csv(tmp_path / "nodesc.csv", header, body), warehouse_path)
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
        "json": (tmp_path / "data.json", "not the Kaggle 'Spotify and Youtube' header"),
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
    _write(sample_csv, warehouse_path)
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
        # A broken record ends with its physical line (as Python's csv reads it): keep it on one.
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([v.replace("\n", " ") for v in row])
        text = buf.getvalue()
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
            _write(path, warehouse)
        return
    result = _write(path, warehouse)
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


# --- issue #9: write-audit-publish, bad numbers, lost records, file-level problems -----------

COLUMN = {h: i for i, h in enumerate(HEADER)}
BASE = generate_rows(30, seed=31)


def _record_lines(path: Path) -> list[int]:
    """Physical start line of every data record, read independently (csv module; header = line 1)."""
    lines, last = [], 1
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        last = reader.line_num
        for row in reader:
            if row:
                lines.append(last + 1)
            last = reader.line_num
    return lines


BAD_VALUES = [  # (column, text, error type)
    ("Views", "nan", "NOT FINITE"), ("Likes", "NaN", "NOT FINITE"), ("Comments", "inf", "NOT FINITE"),
    ("Stream", "-inf", "NOT FINITE"), ("Views", "Infinity", "NOT FINITE"),
    ("Views", "1e40", "OUT OF RANGE"), ("Stream", "9223372036854775808", "OUT OF RANGE"),
    ("Likes", "1e400", "OUT OF RANGE"), ("Duration_ms", "1e19", "OUT OF RANGE"),
    ("Views", "-5", "NEGATIVE"), ("Comments", "-1.0", "NEGATIVE"), ("Duration_ms", "-300000.0", "NEGATIVE"),
    ("Likes", "12.5", "NOT WHOLE"), ("Key", "6.5", "NOT WHOLE"), ("Key", "12", "OUT OF RANGE"),
    ("Key", "-1", "NEGATIVE"), ("Danceability", "1.5", "OUT OF RANGE"), ("Valence", "-0.01", "OUT OF RANGE"),
    ("Tempo", "-120", "OUT OF RANGE"), ("Loudness", "-inf", "NOT FINITE"), ("", "-1", "NEGATIVE"),
    ("Energy", "0.5x", "CAST"), ("official_video", "yes", "CAST"),
]


@pytest.mark.parametrize(("column", "text", "error_type"), BAD_VALUES, ids=[f"{c or 'index'}={t}" for c, t, _ in BAD_VALUES])
def test_finding1_a_non_finite_out_of_range_or_negative_value_is_quarantined_with_line_and_field(
    column, text, error_type, tmp_path, warehouse_path
):
    rows = [list(r) for r in BASE]
    rows[12][COLUMN[column]] = text
    path = _write_csv(tmp_path / "bad_number.csv", HEADER, rows)
    result = _write(path, warehouse_path)
    assert (result.rows_loaded, result.rows_quarantined) == (29, 1)
    (quarantined,) = _query(warehouse_path, "SELECT line, field, error_type, reason FROM raw.kaggle_quarantine")
    assert quarantined[:3] == (_record_lines(path)[12], column, error_type)
    named = f"field {column!r}" if column else "the row index (the header's unnamed column)"
    assert repr(text) in quarantined[3] and named in quarantined[3]
    assert 13 not in [r[0] for r in _query(warehouse_path, "SELECT source_row_number FROM raw.kaggle_tracks")]


def test_values_on_the_edge_of_a_rule_load(tmp_path, warehouse_path):
    rows = [list(r) for r in BASE[:6]]
    edges = [("Views", "0"), ("Stream", "9223372036854774784"), ("Key", "11.0"), ("Danceability", "1"),
             ("Valence", "0.0"), ("Tempo", "0"), ("Comments", "-0"), ("Loudness", "3.5"), ("Likes", "1e3"),
             ("official_video", "TRUE"), ("Licensed", "false")]
    for n, (column, text) in enumerate(edges):
        rows[n % 6][COLUMN[column]] = text
    result = _write(_write_csv(tmp_path / "edges.csv", HEADER, rows), warehouse_path)
    assert (result.rows_loaded, result.rows_quarantined) == (6, 0)
    assert _query(warehouse_path, "SELECT max(stream), max(likes) FROM raw.kaggle_tracks") == [
        (9223372036854774784.0, max(1000.0, *(_num(r[COLUMN["Likes"]]) or 0 for r in rows)))
    ]


@pytest.mark.slow
def test_finding1_a_file_with_bad_numbers_no_longer_breaks_the_next_build(built_warehouse, tmp_path):
    from orchestration.dbt import run_dbt

    rows = generate_rows(1000, seed=7)
    for n, (column, text) in enumerate([("Views", "nan"), ("Likes", "inf"), ("Comments", "1e40"),
                                        ("Stream", "-5"), ("Views", "-inf"), ("Duration_ms", "1e400")]):
        rows[100 + n][COLUMN[column]] = text
    path = _write_csv(tmp_path / "bad_numbers.csv", HEADER, rows)
    result = ingest_csv(path, built_warehouse)
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("published", 994, 6)
    run_dbt(["build"], built_warehouse)  # failed with "Conversion Error … nan … INT64" before the fix
    assert _query(built_warehouse, "SELECT DISTINCT load_id FROM marts.dim_tracks") == [(result.load_id,)]
    assert _query(built_warehouse, "SELECT count(*) FROM marts.dim_tracks") == [(994,)]


def _state_outside(path: Path, load_id: int) -> dict:
    """Every relation's rows (the raw load tables and the list of loads without load `load_id`)."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                            "WHERE table_catalog = current_database() ORDER BY 1, 2").fetchall()
        out = {}
        for schema, name in names:
            where = (f" WHERE load_id <> {load_id}" if f"{schema}.{name}" in
                     (*RAW_TABLES, "staging.stg_kaggle_loads") else "")
            out[(schema, name)] = con.execute(
                f'SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM "{schema}"."{name}" t{where}'
            ).fetchone()
        return out


@pytest.mark.slow
def test_finding1_a_load_that_fails_dbt_tests_is_rejected_and_the_previous_load_stays_current_everywhere(
    built_warehouse, tmp_path
):
    from ingestion.publish import current_load
    from ingestion.youtube.emulator.seed import load_seed_videos
    from ingestion.youtube.targets import crawl_targets

    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        before_targets = crawl_targets(con)
    before_seed = load_seed_videos(built_warehouse)
    rows = generate_rows(1000, seed=7)
    rows[40][COLUMN["Album_type"]] = "podcast"  # a valid value for the loader, not for stg_tracks' test
    path = _write_csv(tmp_path / "podcast.csv", HEADER, rows)
    (old,) = _query(built_warehouse, "SELECT load_id FROM raw.kaggle_loads")
    with pytest.raises(LoadRejected) as info:
        ingest_csv(path, built_warehouse)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "accepted_values_stg_tracks_album_type" in message
    assert f"load {old[0]} stays current" in message
    new = info.value.load_id
    (status, reason), = _query(built_warehouse, "SELECT status, status_reason FROM raw.kaggle_loads WHERE load_id = ?",
                               [new])
    assert status == "rejected" and "accepted_values_stg_tracks_album_type" in reason
    # The rejected load is kept (queryable), and nothing downstream moved.
    assert _query(built_warehouse, "SELECT count(*) FROM raw.kaggle_tracks WHERE load_id = ?", [new]) == [(1000,)]
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        assert crawl_targets(con) == before_targets and before_targets[0] == old[0]
        assert current_load(con)[0] == old[0]
        assert con.execute("SELECT load_id FROM staging.stg_kaggle_loads WHERE is_latest").fetchall() == [old]
        assert con.execute("SELECT count(*) FROM information_schema.schemata "
                           "WHERE starts_with(schema_name, 'audit_')").fetchone() == (0,)
    assert load_seed_videos(built_warehouse) == before_seed


@pytest.mark.slow
def test_finding1_no_relation_downstream_shows_a_pending_or_rejected_load(built_warehouse, tmp_path):
    from tests.reliability.kaggle_warehouses import downstream_load_ids

    (old,) = _query(built_warehouse, "SELECT load_id FROM raw.kaggle_loads")
    before = _state_outside(built_warehouse, -1)
    pending = _write(_write_csv(tmp_path / "pending.csv", HEADER, generate_rows(1000, seed=12)), built_warehouse)
    assert pending.status == "pending"
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        shown = downstream_load_ids(con)
    assert all(ids <= {old[0]} for ids in shown.values()), shown  # (a table without rows shows none)
    for relation in ("staging.stg_tracks", "intermediate.int_kaggle_videos", "marts.dim_tracks"):
        assert shown[relation] == {old[0]}
    assert _state_outside(built_warehouse, pending.load_id) == before


def test_the_write_stage_and_dbt_agree_on_the_current_load(tmp_path, warehouse_path):
    """ingestion.publish.current_load is stg_kaggle_loads.is_latest's rule in Python: same answer."""
    from ingestion.publish import current_load

    with duckdb.connect(str(warehouse_path)) as con:
        from warehouse import ensure_schema

        ensure_schema(con)
        con.execute("""
            INSERT INTO raw.kaggle_loads (load_id, source_file, source_path, file_sha256, file_bytes,
                has_description, row_count, quarantined_count, loaded_at, last_ingested_at, status) VALUES
            (1, 'a', 'a', 'a', 1, true, 1, 0, '2024-01-01', '2024-01-09', 'published'),
            (2, 'b', 'b', 'b', 1, true, 1, 0, '2024-01-02', '2024-01-02', 'published'),
            (3, 'c', 'c', 'c', 1, true, 1, 0, '2024-01-10', '2024-01-10', 'rejected'),
            (4, 'd', 'd', 'd', 1, true, 1, 0, '2024-01-11', '2024-01-11', 'pending')
        """)
        assert current_load(con) == (1, 1)
    from orchestration.dbt import run_dbt

    run_dbt(["run", "--select", "stg_kaggle_loads"], warehouse_path)
    assert _query(warehouse_path, "SELECT load_id FROM staging.stg_kaggle_loads WHERE is_latest") == [(1,)]


def test_a_warehouse_from_before_write_audit_publish_counts_its_loads_as_published(tmp_path, warehouse_path):
    from warehouse import ensure_schema

    with duckdb.connect(str(warehouse_path)) as con:  # raw.kaggle_loads as the DDL created it before
        con.execute("""
            CREATE SCHEMA raw;
            CREATE TABLE raw.kaggle_loads (load_id INTEGER PRIMARY KEY, source_file VARCHAR NOT NULL,
                source_path VARCHAR NOT NULL, file_sha256 VARCHAR NOT NULL UNIQUE, file_bytes BIGINT NOT NULL,
                has_description BOOLEAN NOT NULL, row_count BIGINT NOT NULL, quarantined_count BIGINT NOT NULL,
                loaded_at TIMESTAMPTZ NOT NULL, last_ingested_at TIMESTAMPTZ NOT NULL);
            INSERT INTO raw.kaggle_loads VALUES (1, 'old.csv', '/x/old.csv', 'abc', 10, true, 5, 0,
                '2024-03-01 10:00:00+00', '2024-03-02 10:00:00+00');
        """)
        ensure_schema(con)
        ensure_schema(con)  # idempotent
        assert con.execute("SELECT status, status_reason, published_at = loaded_at FROM raw.kaggle_loads"
                           ).fetchall() == [("published", None, True)]


def _last_record_cut(tmp_path: Path, tail: str) -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([HEADER, *BASE])
    path = tmp_path / "cut.csv"
    path.write_text(buf.getvalue() + tail, encoding="utf-8")
    return path


@pytest.mark.parametrize("tail", ['30,"Open quote,never closed', '30,"Artist, with ""quotes"" and\nmore lines,x,y'])
def test_finding2_a_record_cut_by_an_open_quote_at_the_end_of_the_file_is_quarantined(tail, tmp_path, warehouse_path):
    path = _last_record_cut(tmp_path, tail)
    result = _write(path, warehouse_path)
    assert (result.rows_loaded, result.rows_quarantined) == (30, 1)  # before: 30 rows, 0 quarantined
    (row,) = _query(warehouse_path, "SELECT line, error_type, raw_record FROM raw.kaggle_quarantine")
    start = path.read_text(encoding="utf-8")[: path.read_text(encoding="utf-8").index(tail)].count("\n") + 1
    assert row == (start, "CUT BY END OF FILE", tail)


@pytest.mark.parametrize("newline", [True, False])
def test_finding2_a_last_line_with_too_few_fields_is_quarantined(newline, tmp_path, warehouse_path):
    rows = [list(r) for r in BASE]
    rows[-1] = rows[-1][:9]
    path = _write_csv(tmp_path / "short.csv", HEADER, rows)
    if not newline:
        path.write_bytes(path.read_bytes().rstrip(b"\n"))
    result = _write(path, warehouse_path)
    assert (result.rows_loaded, result.rows_quarantined) == (29, 1)
    assert _query(warehouse_path, "SELECT DISTINCT line FROM raw.kaggle_quarantine") == [(_record_lines(path)[-1],)]


@pytest.mark.slow
def test_finding2_a_truncated_file_is_rejected_and_allow_shrink_publishes_it(built_warehouse, sample_csv, tmp_path):
    data = sample_csv.read_bytes()
    truncated = tmp_path / "truncated.csv"
    truncated.write_bytes(data[: len(data) // 6])  # before: loaded with exit 0 and became the latest load
    (old,) = _query(built_warehouse, "SELECT load_id FROM raw.kaggle_loads")
    with pytest.raises(LoadRejected, match=r"probably truncated: \d+ rows, \d+\.\d% fewer than the current load"):
        ingest_csv(truncated, built_warehouse)
    assert _query(built_warehouse, "SELECT load_id FROM staging.stg_kaggle_loads WHERE is_latest") == [old]
    (status, cut), = _query(built_warehouse, "SELECT l.status, count(q.line) FROM raw.kaggle_loads l "
                            "JOIN raw.kaggle_quarantine q USING (load_id) GROUP BY 1")
    assert (status, cut) == ("rejected", 1)  # the record cut in the middle is in the quarantine
    accepted = ingest_csv(truncated, built_warehouse, allow_shrink=True)  # the rejected file, tried again
    assert accepted.status == "published"
    assert _query(built_warehouse, "SELECT load_id FROM staging.stg_kaggle_loads WHERE is_latest") == [
        (accepted.load_id,)]
    assert _query(built_warehouse, "SELECT count(*) FROM raw.kaggle_loads") == [(2,)]


@pytest.mark.slow
def test_finding2_the_shrink_limit_is_a_setting_and_a_cli_flag(built_warehouse, sample_csv, tmp_path):
    from orchestration.definitions import build_resources
    from tunehouse.settings import load_settings

    assert build_resources(load_settings(kaggle_max_shrink=0.5))["kaggle"].max_shrink == 0.5
    assert load_settings().kaggle_max_shrink == 0.10
    data = sample_csv.read_bytes()
    truncated = tmp_path / "truncated.csv"
    truncated.write_bytes(data[: len(data) // 2])
    cli = [sys.executable, "-m", "orchestration.cli", "ingest", str(truncated), "--warehouse", str(built_warehouse)]
    refused = subprocess.run(cli, capture_output=True, text=True, timeout=600)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert refused.returncode == 1 and len(errors) == 1 and "probably truncated" in errors[0]
    assert "Traceback" not in refused.stderr
    accepted = subprocess.run([*cli, "--allow-shrink"], capture_output=True, text=True, timeout=600)
    assert accepted.returncode == 0, accepted.stderr
    assert _query(built_warehouse, "SELECT status FROM raw.kaggle_loads ORDER BY load_id") == [
        ("published",), ("published",)]


@pytest.mark.parametrize("endings", ["lf_crlf", "crlf_lf", "cr_lf", "every_third_crlf"])
def test_finding3_mixed_line_endings_load_like_the_same_file_with_lf(endings, sample_csv, tmp_path, warehouse_path):
    lines = sample_csv.read_bytes().split(b"\n")
    lf = b"\n".join(lines)
    records = csv.reader(io.StringIO(lf.decode("utf-8"), newline=""))
    # Record ends (outside quotes) become CRLF/CR; line breaks inside quoted descriptions stay LF.
    buf = io.StringIO()
    for n, row in enumerate(records):
        terminator = {"lf_crlf": "\r\n" if n % 2 else "\n", "crlf_lf": "\n" if n % 2 else "\r\n",
                      "cr_lf": "\r" if n % 2 else "\n", "every_third_crlf": "\r\n" if n % 3 == 0 else "\n"}[endings]
        one = io.StringIO()  # (written with "\n" so that a field with a line break is quoted)
        csv.writer(one, lineterminator="\n").writerow(row)
        buf.write(one.getvalue()[:-1] + terminator)
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(buf.getvalue(), encoding="utf-8", newline="")
    assert len(scan_records(mixed.read_bytes()).terminators) == 2
    result = _write(mixed, warehouse_path)  # before: an uncaught DuckDB parser error naming no file
    assert (result.rows_loaded, result.rows_quarantined) == (1000, 0)
    reference = _write(sample_csv, tmp_path / "reference.duckdb")
    columns = ", ".join(c for c in ("source_row_number", "artist", "views", "description", "stream"))
    assert _query(warehouse_path, f"SELECT {columns} FROM raw.kaggle_tracks ORDER BY 1") == _query(
        tmp_path / "reference.duckdb", f"SELECT {columns} FROM raw.kaggle_tracks WHERE load_id = ? ORDER BY 1",
        [reference.load_id])


def _file_problems(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    import gzip
    import os

    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([HEADER, *BASE])
    good = text.getvalue()
    cases: dict[str, tuple[Path, str]] = {}

    def put(name: str, data: bytes, problem: str) -> None:
        (tmp_path / name).write_bytes(data)
        cases[name] = (tmp_path / name, problem)

    (tmp_path / "folder.csv").mkdir()
    cases["directory"] = (tmp_path / "folder.csv", "is a directory")
    os.symlink(tmp_path / "loop_b.csv", tmp_path / "loop_a.csv")
    os.symlink(tmp_path / "loop_a.csv", tmp_path / "loop_b.csv")
    cases["symlink_loop"] = (tmp_path / "loop_a.csv", "symbolic link loop")
    os.symlink(tmp_path / "self.csv", tmp_path / "self.csv")
    cases["self_link"] = (tmp_path / "self.csv", "symbolic link loop")
    os.symlink(tmp_path / "gone.csv", tmp_path / "dangling.csv")
    cases["dangling_link"] = (tmp_path / "dangling.csv", "broken symbolic link")
    os.mkfifo(tmp_path / "fifo.csv")
    cases["fifo"] = (tmp_path / "fifo.csv", "not a regular file")
    put("gzip.csv", gzip.compress(good.encode(), mtime=0), "gzip-compressed")
    put("utf16.csv", good.encode("utf-16"), "UTF-16")
    put("utf16le.csv", good.encode("utf-16-le"), "looks like UTF-16")
    put("nul.csv", good.encode()[:500] + b"\x00" + good.encode()[500:], "NUL byte at offset 500")
    put("latin1.csv", good.replace("Track", "Tr\u00e4ck", 1).encode("latin-1", "replace"), "not UTF-8")
    put("dup_header.csv", good.replace("Likes", "Views", 1).encode(), "column 'Views' appears twice")
    put("renamed.csv", good.replace("Views", "Veiws", 1).encode(), "missing required column Views")
    put("no_header.csv", good.split("\n", 1)[1].encode(), "not the Kaggle 'Spotify and Youtube' header")
    put("blank_first.csv", b"\n" + good.encode(), "first line is empty")
    put("header_only.csv", good.split("\n", 1)[0].encode() + b"\n\n", "no data rows")
    put("open_header.csv", b'"Artist,Track\n', "never closed")
    return cases


FILE_PROBLEMS = ["directory", "symlink_loop", "self_link", "dangling_link", "fifo", "gzip.csv", "utf16.csv",
                 "utf16le.csv", "nul.csv", "latin1.csv", "dup_header.csv", "renamed.csv", "no_header.csv",
                 "blank_first.csv", "header_only.csv", "open_header.csv"]


@pytest.mark.parametrize("case", FILE_PROBLEMS)
def test_finding3_every_file_level_problem_is_one_line_naming_the_file(case, tmp_path, warehouse_path):
    path, problem = _file_problems(tmp_path)[case]
    with pytest.raises(CsvFileError) as info:
        ingest_csv(path, warehouse_path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message, message
    assert not warehouse_path.exists()  # nothing was opened


@pytest.mark.slow
def test_finding3_a_symlink_loop_through_the_cli_is_one_line(tmp_path, warehouse_path):
    path, _ = _file_problems(tmp_path)["symlink_loop"]
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "ingest", str(path), "--warehouse", str(warehouse_path)],
        capture_output=True, text=True, timeout=300,
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr  # before: RuntimeError
    assert len(errors) == 1 and str(path) in errors[0] and "symbolic link loop" in errors[0]


# --- the record scan and the value rules, against independent readings -----------------------

_PIECES = st.sampled_from(["a", "b", ",", '"', '""', "\n", "\r\n", "\r", " ", "é"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40))
def test_the_record_scan_finds_the_records_pythons_csv_finds(pieces):
    text = "h1,h2\n" + "".join(pieces)
    data = text.encode("utf-8")
    scan = scan_records(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    starts, last, cut = [], 0, False
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            starts.append(last + 1)
            cut = "unexpected end of data" in str(exc)
            last = reader.line_num
            continue
        if row:
            starts.append(last + 1)
        last = reader.line_num
    assert scan.lines == starts
    assert scan.cut_at_eof == cut


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(
    st.from_regex(r"[+-]?([0-9]{1,25}\.?[0-9]{0,4}|\.[0-9]{1,3})([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["nan", "-inf", "Infinity", "1_000", " 5", "5 ", "0x10", "--1", "1e", ".", "", "-0", "+.5"]),
), min_size=1, max_size=25))
def test_the_value_rules_agree_with_the_documented_ranges(values, tmp_path_factory):
    """Views (a count), Danceability (0-1) and Key (0-11) against an independent reading of the rules."""
    from tests.reliability.csv_oracle import COLUMNS, value_problem

    folder = tmp_path_factory.mktemp("rules")
    rows = []
    for n, value in enumerate(values):
        row = list(BASE[n % len(BASE)])
        row[COLUMN["Views"]] = row[COLUMN["Danceability"]] = row[COLUMN["Key"]] = value
        rows.append(row)
    path = _write_csv(folder / "rules.csv", HEADER, rows)
    bad = {n + 1 for n, v in enumerate(values)
           if any(value_problem(v, COLUMNS[c][1]) for c in ("Views", "Danceability", "Key"))}
    if len(bad) == len(values):
        with pytest.raises(CsvFileError, match="no row could be loaded"):
            _write(path, folder / "w.duckdb")
        return
    _write(path, folder / "w.duckdb")
    loaded = {r[0] for r in _query(folder / "w.duckdb", "SELECT source_row_number FROM raw.kaggle_tracks")}
    assert loaded == set(range(1, len(values) + 1)) - bad


def test_a_record_with_too_many_fields_is_quarantined_without_naming_a_field(tmp_path, warehouse_path):
    rows = [list(r) for r in BASE]
    rows[3] = rows[3] + ["one too many"]
    path = _write_csv(tmp_path / "long.csv", HEADER, rows)
    result = _write(path, warehouse_path)
    assert (result.rows_loaded, result.rows_quarantined) == (29, 1)
    ((line, field, reason),) = _query(warehouse_path, "SELECT line, field, reason FROM raw.kaggle_quarantine")
    assert line == _record_lines(path)[3]
    # The whole record is wrong, not one of its fields: the reason says so and blames none.
    assert field is None and "in field" not in reason and "too many columns" in reason.lower(), reason


def test_a_bad_row_index_is_quarantined_with_a_reason_that_names_the_unnamed_column(tmp_path, warehouse_path):
    assert HEADER[0] == ""  # the Kaggle file's first column is pandas' unnamed row index
    rows = [list(r) for r in BASE]
    rows[3][0] = "abc"
    path = _write_csv(tmp_path / "index.csv", HEADER, rows)
    result = _write(path, warehouse_path)
    assert (result.rows_loaded, result.rows_quarantined) == (29, 1)
    ((line, field, reason),) = _query(warehouse_path, "SELECT line, field, reason FROM raw.kaggle_quarantine")
    assert (line, field) == (_record_lines(path)[3], "")
    assert reason == "cast in the row index (the header's unnamed column): 'abc' is not a number"
