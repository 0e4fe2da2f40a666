"""The `tunehouse` CLI as a user runs it: a real subprocess on a real warehouse."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

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
        con.execute("INSERT INTO marts.video_growth (snapshot_id, video_id, commit_seq) VALUES ('stray', 'x', 0)")
    plain = tunehouse("build", "--warehouse", str(built_warehouse))
    assert plain.returncode == 0, plain.stderr
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.video_growth WHERE snapshot_id = 'stray'").fetchone() == (1,)
    full = tunehouse("build", "--full-refresh", "--warehouse", str(built_warehouse))
    assert full.returncode == 0, full.stderr
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.video_growth WHERE snapshot_id = 'stray'").fetchone() == (0,)
