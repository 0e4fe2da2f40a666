"""The `tunehouse` CLI as a user runs it: a real subprocess on a real warehouse."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

COMMANDS = ["demo", "ingest", "build", "sql", "ui"]


def tunehouse(*args, env=None):
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_everywhere(command):
    proc = tunehouse(*([command] if command else []), "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout
    if command is not None:
        assert "--warehouse" in proc.stdout


def test_sql_prints_table_csv_and_json_from_a_read_only_connection(built_warehouse):
    query = "select track_id, artist, views from marts.dim_tracks order by track_id limit 5"
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        expected = con.execute(query).fetchall()
    as_csv = tunehouse("sql", query, "--format", "csv", "--warehouse", str(built_warehouse))
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0] == ["track_id", "artist", "views"]
    assert [(int(a), b, int(c) if c else None) for a, b, c in rows[1:]] == expected
    as_json = tunehouse("sql", query, "--format", "json", "--warehouse", str(built_warehouse))
    assert [(r["track_id"], r["artist"], r["views"]) for r in json.loads(as_json.stdout)] == expected
    table = tunehouse("sql", "select count(*) as n from marts.dim_tracks", "--warehouse", str(built_warehouse))
    assert table.returncode == 0 and "1000" in table.stdout and "(1 row)" in table.stdout


@pytest.mark.parametrize(
    ("query", "fragment"),
    [("delete from marts.dim_tracks", "read-only"), ("select * from no_such_table", "no_such_table")],
)
def test_sql_errors_are_one_line_and_change_nothing(built_warehouse, query, fragment):
    proc = tunehouse("sql", query, "--warehouse", str(built_warehouse))
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: SQL error") and fragment in lines[0], proc.stderr
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.dim_tracks").fetchone() == (1000,)


def test_missing_warehouse_is_a_clear_error(tmp_path):
    proc = tunehouse("sql", "select 1", "--warehouse", str(tmp_path / "none.duckdb"))
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "does not exist yet" in proc.stderr


def test_ingest_then_build_from_the_cli(sample_csv, warehouse_path, tmp_path):
    # The environment names another warehouse: --warehouse wins, and dbt gets it too.
    decoy = tmp_path / "decoy" / "decoy.duckdb"
    env = {**os.environ, "TUNEHOUSE_WAREHOUSE": str(decoy)}
    ingest = tunehouse("ingest", str(sample_csv), "--warehouse", str(warehouse_path), env=env)
    assert ingest.returncode == 0, ingest.stderr
    assert "loaded as load 1: 1000 rows, 0 quarantined" in ingest.stdout
    again = tunehouse("ingest", str(sample_csv), "--warehouse", str(warehouse_path), env=env)
    assert "already loaded as load 1" in again.stdout
    build = tunehouse("build", "--warehouse", str(warehouse_path), env=env)
    assert build.returncode == 0, build.stderr
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from marts.dim_tracks").fetchone() == (1000,)
    assert not decoy.parent.exists()
    # A short summary; dbt's per-model lines go to the log file beside the warehouse.
    [log_line] = [line for line in build.stdout.splitlines() if line.strip().startswith("log: ")]
    log = Path(log_line.strip().removeprefix("log: "))
    assert log.parent == warehouse_path.parent / "logs"
    assert "OK created sql" in log.read_text(encoding="utf-8")
    assert "OK created sql" not in build.stdout + build.stderr
    assert len(build.stdout.splitlines()) <= 3 and re.search(r"built \d+ dbt assets", build.stdout)
    # --verbose shows them on the terminal too.
    verbose = tunehouse("build", "--verbose", "--warehouse", str(warehouse_path), env=env)
    assert verbose.returncode == 0, verbose.stderr
    assert "OK created sql" in verbose.stdout


def test_ui_starts_dagster_with_an_explicit_environment(tmp_path):
    from orchestration.runner import ui_env
    from tunehouse.settings import load_settings

    before = dict(os.environ)
    env = ui_env(load_settings(warehouse=tmp_path / "w.duckdb", dagster_home=tmp_path / "home"))
    assert env["TUNEHOUSE_WAREHOUSE"] == str((tmp_path / "w.duckdb").resolve())
    assert env["DAGSTER_HOME"] == str((tmp_path / "home").resolve())
    assert (tmp_path / "home" / "dagster.yaml").exists()
    assert dict(os.environ) == before


def test_analysis_lists_and_runs_the_dbt_analyses_read_only(built_warehouse):
    from orchestration.analyses import list_analyses
    from orchestration.dbt import ensure_manifest

    ensure_manifest(built_warehouse)  # what `tunehouse build` leaves behind
    listing = tunehouse("analysis", "--warehouse", str(built_warehouse))
    assert listing.returncode == 0, listing.stderr
    assert [line.split()[0] for line in listing.stdout.splitlines()] == list_analyses()
    count = tunehouse("analysis", "track_count", "--format", "csv", "--warehouse", str(built_warehouse))
    assert count.returncode == 0, count.stderr
    assert list(csv.reader(io.StringIO(count.stdout)))[1] == ["1000"]  # the 1000-row sample
    shown = tunehouse("analysis", "track_count", "--show-sql")
    assert '"marts"."dim_tracks"' in shown.stdout and "{{" not in shown.stdout
    unknown = tunehouse("analysis", "no_such_analysis", "--warehouse", str(built_warehouse))
    assert unknown.returncode == 1
    assert [line for line in unknown.stderr.splitlines() if line.strip()] == [
        f"error: no analysis 'no_such_analysis' in the manifest; known: {', '.join(list_analyses())}"]


def test_build_full_refresh_rebuilds_incremental_models(built_warehouse):
    """A row the incremental video_growth did not derive survives a plain build (it only
    merges new snapshots) and is gone after `tunehouse build --full-refresh`."""
    with duckdb.connect(str(built_warehouse)) as con:
        # publish_seq 0: below every published crawl, so the incremental watermark is unchanged.
        con.execute("INSERT INTO marts.video_growth (snapshot_id, video_id, commit_seq, publish_seq) "
                    "VALUES ('stray', 'x', 0, 0)")
    plain = tunehouse("build", "--warehouse", str(built_warehouse))
    assert plain.returncode == 0, plain.stderr
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.video_growth WHERE snapshot_id = 'stray'").fetchone() == (1,)
    full = tunehouse("build", "--full-refresh", "--warehouse", str(built_warehouse))
    assert full.returncode == 0, full.stderr
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.video_growth WHERE snapshot_id = 'stray'").fetchone() == (0,)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single stderr line of a failed command (asserting there is exactly one, no traceback)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0, proc.stdout
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and "Usage:" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["build", "--no-such-option"], "No such option: --no-such-option"),
        (["ingest", "a.csv", "b.csv"], "unexpected extra argument"),
        (["sql", "select 1", "--warehouse"], "'--warehouse' requires an argument"),
        (["sql", "select 1", "--limit", "many"], "'--limit'"),
        (["sql", "select 1", "--limit", "-1"], "'--limit'"),
        (["crawl", "--budget", "0"], "'--budget'"),
        (["crawl", "--concurrency", "1000"], "'--concurrency'"),
        (["emulator", "--port", "http"], "'--port'"),
        (["emulator", "--drop-rate", "2"], "'--drop-rate'"),
        (["analysis", "a", "b"], "unexpected extra argument"),
        (["ui", "--port"], "'--port' requires an argument"),
        (["--no-such-global-option"], "No such option"),
    ],
)
def test_usage_errors_are_one_line_with_exit_status_2(args, fragment):
    proc = tunehouse(*args)
    assert fragment in _one_error_line(proc)
    assert proc.returncode == 2 and proc.stdout == ""


@given(
    command=st.sampled_from(COMMANDS + ["crawl", "train", "report", "analysis", "emulator"]),
    option=st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_0123456789", min_size=1, max_size=12),
)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_unknown_option_of_any_command_is_one_line(command, option):
    proc = tunehouse(command, f"--zz{option}")
    assert f"--zz{option}" in _one_error_line(proc) and proc.returncode == 2


def test_file_system_problems_are_one_line(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder should be")
    # The warehouse's folder cannot be created (its parent is a file): an OSError, named.
    line = _one_error_line(tunehouse("build", "--warehouse", str(blocker / "w.duckdb")))
    assert str(blocker) in line
    # A folder, and a file that is not a DuckDB database, as the warehouse.
    assert "Is a directory" in _one_error_line(tunehouse("sql", "select 1", "--warehouse", str(tmp_path)))
    assert "not a valid DuckDB database" in _one_error_line(tunehouse("sql", "select 1", "--warehouse", str(blocker)))


def _break_raw(warehouse: Path, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)


@pytest.mark.slow
def test_a_failed_build_names_the_failing_test_and_dbt_message_in_one_line(built_warehouse):
    # Three tracks of the current load lose their artist: the not_null test on stg_tracks.artist fails.
    _break_raw(built_warehouse, "update raw.kaggle_tracks set artist = null where source_row_number in (5, 6, 7) "
                                "and load_id = (select max(load_id) from raw.kaggle_tracks)")
    proc = tunehouse("build", "--warehouse", str(built_warehouse))
    line = _one_error_line(proc)
    assert proc.returncode == 1
    match = re.fullmatch(r"error: dbt build failed: test not_null_stg_tracks_artist failed \(3 rows\): "
                         r"Got 3 results, configured to fail if != 0; \d+ nodes skipped — full log: (\S+)", line)
    assert match, line
    log = Path(match.group(1))
    assert log.parent == built_warehouse.parent / "logs" and "not_null_stg_tracks_artist" in log.read_text()


@pytest.mark.slow
def test_a_failed_model_names_the_model_and_the_database_error(built_warehouse):
    _break_raw(built_warehouse, "alter table raw.kaggle_tracks rename column artist to artist_renamed")
    line = _one_error_line(tunehouse("build", "--warehouse", str(built_warehouse)))
    # stg_tracks' unit test is the first node to read the column (dbt runs it before the model).
    assert line.startswith("error: dbt build failed: unit test ") and "(model stg_tracks) failed: " in line, line
    assert 'Binder Error: Referenced column "artist" not found' in line and "— full log: " in line, line


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """A copy of the dbt project (without its target folder) that a test may break."""
    from tunehouse.settings import DBT_PROJECT_DIR

    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return copy


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select 1 as x fro nowhere",
         r"dbt run failed: model staging\.broken_model failed: Parser Error: syntax error at or near \"fro\""),
        ("select x from {{ ref('no_such_model') }}",
         r"dbt run failed: Compilation Error: Model 'model\.tunehouse\.broken_model' \(models/staging/broken_model\.sql\)"
         r" depends on a node named 'no_such_model' which was not found"),
        ("select {{ ref( }} as x",
         r"dbt run failed: Compilation Error in model broken_model \(models/staging/broken_model\.sql\): "
         r"unexpected '}', expected '\)'"),
    ],
    ids=["sql-error", "missing-ref", "jinja-error"],
)
def test_run_dbt_failures_name_the_model_and_dbt_message(built_warehouse, project_copy, sql, expected):
    from dagster_dbt import DbtProject

    from orchestration.dbt import DbtError, run_dbt

    (project_copy / "models" / "staging" / "broken_model.sql").write_text(sql + "\n")
    project = DbtProject(project_dir=project_copy, profiles_dir=project_copy)
    with pytest.raises(DbtError) as failed:
        run_dbt(["run", "--select", "broken_model"], built_warehouse, project=project)
    message = str(failed.value)
    assert "\n" not in message and re.fullmatch(expected, message), message


def _records(text: str) -> list[dict[str, str]]:
    """The records of `tunehouse sql`'s record layout: `row N ───` then `column │ value` lines
    (a long value continues on lines with an empty column part). Values without whitespace,
    since wrapping drops the space it breaks at."""
    records: list[dict[str, str]] = []
    name = None
    for line in text.splitlines():
        if re.match(r"^row \d+ ─+$", line):
            records.append({})
            continue
        if not records or "│" not in line:
            continue
        left, _, right = line.partition("│")
        name = left.strip() or name
        records[-1][name] = records[-1].get(name, "") + "".join(right.split())
    return records


def test_sql_on_a_narrow_terminal_prints_records_and_says_how_to_get_csv(built_warehouse):
    query = "select * from marts.dim_tracks order by track_id limit 3"
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        cursor = con.execute(query)
        columns = [d[0] for d in cursor.description]
        expected = [{c: "".join(("NULL" if v is None else str(v)).split()) for c, v in zip(columns, row)}
                    for row in cursor.fetchall()]
    proc = tunehouse("sql", query, "--warehouse", str(built_warehouse), env={**os.environ, "COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    from rich.cells import cell_len

    assert max(cell_len(line) for line in proc.stdout.splitlines()[:-1]) <= 80
    assert _records(proc.stdout) == expected  # every column of every row, nothing cut
    note = proc.stdout.splitlines()[-1]
    assert note.startswith("(3 rows)") and "--format csv" in note and "--format json" in note, note


def test_sql_keeps_a_table_when_it_fits(built_warehouse):
    proc = tunehouse("sql", "select track_id, artist from marts.dim_tracks order by track_id limit 2",
                     "--warehouse", str(built_warehouse), env={**os.environ, "COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    assert "┃ track_id ┃ artist" in proc.stdout and "row 1" not in proc.stdout and "--format" not in proc.stdout


_CELL_TEXT = st.text(alphabet=st.characters(codec="ascii", categories=["L", "N", "P", "Zs"],
                                            exclude_characters="│┃[]"), max_size=60)


@given(
    width=st.integers(min_value=40, max_value=200),
    columns=st.lists(st.text(alphabet="abcdefghij_", min_size=1, max_size=12), min_size=1, max_size=14, unique=True),
    data=st.data(),
)
@settings(max_examples=60, deadline=None)
def test_no_cell_is_squeezed_below_a_readable_width(width, columns, data):
    """At any width: a table gives every column at least MIN_CELL cells (or all it needs), else
    the result is printed as records in which every value is whole; no line is wider than the console."""
    from rich.cells import cell_len
    from rich.console import Console

    from orchestration.cli.sql_output import MIN_CELL, print_table

    rows = data.draw(st.lists(st.tuples(*[_CELL_TEXT | st.none() for _ in columns]), max_size=4))
    out = io.StringIO()
    print_table(Console(file=out, width=width, color_system=None), columns, rows, limit=0)
    lines = out.getvalue().splitlines()
    assert all(cell_len(line) <= width for line in lines[:-1])  # the last line is the note, soft-wrapped
    cells = [["NULL" if v is None else v for v in r] for r in rows]
    if lines[0].startswith("┏"):  # a table: the header row's separators give each column's width
        segments = lines[1].split("┃")[1:-1]
        assert len(segments) == len(columns)
        for i, segment in enumerate(segments):
            natural = max([len(columns[i]), *(len(r[i]) for r in cells)]) or 1
            assert len(segment) - 2 >= min(natural, MIN_CELL), (columns[i], segment)
    else:
        assert "--format csv" in lines[-1]
        assert _records(out.getvalue()) == [{c: "".join(v.split()) for c, v in zip(columns, r)} for r in cells]
