"""`tunehouse sql` is sandboxed: it reads the warehouse and nothing else (issue #9, finding 5).

Every escape a hostile user tried (and a few more) through the real CLI on a real
warehouse: each is one error line, and nothing outside the warehouse is read or written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tunehouse.settings import PROJECT_ROOT

#: Text in a file outside the warehouse that no sandboxed query may print.
CANARY = "canary-7f3b1c-outside-the-warehouse"


def tunehouse_sql(query: str, warehouse: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", "sql", query, "--warehouse", str(warehouse),
                           *extra], capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder beside the warehouse's, with readable files: a CSV, a text file, a parquet file, a database."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.csv").write_text(f"name,value\nkey,{CANARY}\n")
    (folder / "secret.txt").write_text(CANARY)
    with duckdb.connect() as con:
        con.execute(f"copy (select '{CANARY}' as value) to '{folder / 'secret.parquet'}' (format parquet)")
    with duckdb.connect(str(folder / "other.duckdb")) as con:
        con.execute(f"create table t as select '{CANARY}' as value")
    return folder


def escapes(outside: Path) -> dict[str, str]:
    """Attempt → query. Paths are absolute: the sandbox must hold whatever the working directory."""
    o = outside
    return {
        # write files
        "copy table to": f"copy marts.dim_tracks to '{o / 'out.csv'}'",
        "copy query to": f"copy (select * from marts.dim_tracks) to '{o / 'out2.parquet'}' (format parquet)",
        "export database": f"export database '{o / 'export'}'",
        "copy into a table from a file": f"copy raw.kaggle_quarantine from '{o / 'secret.csv'}'",
        # read files
        "read_csv /etc/passwd": "select * from read_csv('/etc/passwd', sep = ':')",
        "read_csv outside": f"select * from read_csv('{o / 'secret.csv'}')",
        "read_csv_auto list": f"select * from read_csv_auto(['{o / 'secret.csv'}'])",
        "file as a table": f"select * from '{o / 'secret.csv'}'",
        "read_text": f"select content from read_text('{o / 'secret.txt'}')",
        "read_text /etc/passwd": "select content from read_text('/etc/passwd')",
        "read_blob": f"select content from read_blob('{o / 'secret.txt'}')",
        "read_parquet": f"select * from read_parquet('{o / 'secret.parquet'}')",
        "parquet_metadata": f"select * from parquet_metadata('{o / 'secret.parquet'}')",
        "read_json": f"select * from read_json('{o / 'secret.txt'}')",
        "sniff_csv": f"select * from sniff_csv('{o / 'secret.csv'}')",
        "glob /root": "select * from glob('/root/*')",
        "glob outside": f"select * from glob('{o}/*')",
        # network
        "read over http": "select * from read_csv('http://127.0.0.1:9/data.csv')",
        # other databases
        "attach a file": f"attach '{o / 'other.duckdb'}' as other",
        "attach read-only": f"attach '{o / 'other.duckdb'}' as other (read_only)",
        "attach a new file": f"attach '{o / 'new.duckdb'}' as fresh",
        # extensions
        "install": "install httpfs",
        "install from a URL": "install httpfs from 'http://127.0.0.1:9'",
        "load by name": "load httpfs",
        "load a file": f"load '{o / 'evil.duckdb_extension'}'",
        "autoload through a function": "select * from read_xlsx('/etc/passwd')",
        # settings back
        "set external access": "set enable_external_access = true",
        "reset external access": "reset enable_external_access",
        "unlock": "set lock_configuration = false",
        "set autoinstall": "set autoinstall_known_extensions = true",
        "set autoload": "set autoload_known_extensions = true",
        "set allowed_directories": f"set allowed_directories = ['{o}']",
        "set allowed_paths": f"set allowed_paths = ['{o / 'secret.csv'}']",
        "pragma": "pragma enable_external_access",
        "set community extensions": "set allow_community_extensions = true",
        # the warehouse itself stays read-only
        "delete": "delete from marts.dim_tracks",
        "create table": "create table marts.evil as select 1 as x",
    }


@pytest.mark.slow
def test_every_escape_is_one_error_line_and_touches_nothing_outside(built_warehouse, outside):
    before = sorted(p.name for p in outside.iterdir())
    problems = []
    for attempt, query in escapes(outside).items():
        proc = tunehouse_sql(query, built_warehouse)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        if proc.returncode != 1 or len(lines) != 1 or not lines[0].startswith("error: SQL error: "):
            problems.append(f"{attempt}: exit {proc.returncode}, stderr {proc.stderr!r}, stdout {proc.stdout[:200]!r}")
        elif CANARY in proc.stdout + proc.stderr or "root:" in proc.stdout:
            problems.append(f"{attempt}: printed what is outside the warehouse")
    assert not problems, "\n".join(problems)
    assert sorted(p.name for p in outside.iterdir()) == before  # nothing written, nothing created
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.dim_tracks").fetchone() == (1000,)
        assert con.execute("select count(*) from information_schema.tables where table_name = 'evil'").fetchone() == (0,)


def test_an_escape_says_why_it_failed(built_warehouse):
    proc = tunehouse_sql("select * from read_csv('/etc/passwd')", built_warehouse)
    [line] = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Permission Error" in line and "reads the warehouse only" in line, line
    proc = tunehouse_sql("set enable_external_access = true", built_warehouse)
    [line] = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "configuration has been locked" in line and "reads the warehouse only" in line, line


def test_every_table_of_every_schema_is_still_readable(built_warehouse):
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema not in ('information_schema', 'pg_catalog') order by 1, 2").fetchall()
        expected = {f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in tables}
    assert {name.split(".")[0] for name in expected} >= {"raw", "staging", "marts"}
    quoted = {name: ".".join(f'"{part}"' for part in name.split(".")) for name in expected}
    query = " union all ".join(f"select '{name}' as name, count(*) as n from {quoted[name]}" for name in expected)
    proc = tunehouse_sql(query, built_warehouse, "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    got = dict(line.rsplit(",", 1) for line in proc.stdout.splitlines()[1:])
    assert {k: int(v) for k, v in got.items()} == expected


def test_ordinary_queries_keep_working(built_warehouse):
    """What the sandbox allows: SELECTs with joins, time zones (icu, built in), JSON, the catalog,
    temporary tables in memory, settings read-only."""
    queries = {
        "select count(*) from marts.dim_tracks d join staging.stg_tracks s using (track_id)": "1000",
        "select (timestamptz '2023-02-08 08:00:00+00' at time zone 'America/Los_Angeles')::date": "2023-02-08",
        "select json_extract('{\"a\": 7}', '$.a')::int": "7",
        "select count(*) > 0 from duckdb_tables()": "True",
        "select current_setting('enable_external_access')": "False",
    }
    for query, expected in queries.items():
        proc = tunehouse_sql(query, built_warehouse, "--format", "csv")
        assert proc.returncode == 0, f"{query}: {proc.stderr}"
        assert proc.stdout.splitlines()[1] == expected, f"{query}: {proc.stdout}"


def test_the_sandbox_holds_in_process_too(built_warehouse, outside):
    """`read_connection(sandbox=True)` itself, without the CLI around it (what `tunehouse analysis` uses)."""
    from warehouse import read_connection

    with read_connection(built_warehouse, sandbox=True) as con:
        for attempt, query in escapes(outside).items():
            with pytest.raises(duckdb.Error):
                con.execute(query).fetchall()
                pytest.fail(f"{attempt} was allowed")
        assert con.execute("select count(*) from marts.dim_tracks").fetchone() == (1000,)
