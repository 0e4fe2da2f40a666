"""Shared fixtures: a small generated sample, the real data (when present), built warehouses."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tunehouse.settings import PROJECT_ROOT

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

REAL_DATA_DIR = (PROJECT_ROOT / ".." / "shared" / "data").resolve()
SAMPLE_ROWS = 1000
SAMPLE_SEED = 7
#: Every temporary file or folder tunehouse makes in the temp directory starts with this.
TEMP_PREFIX = "tunehouse-"


@pytest.fixture(scope="session", autouse=True)
def private_tempdir(tmp_path_factory) -> Path:
    """This worker's temp directory; no ``tunehouse-*`` entry may be left in it at the end.

    Private per pytest-xdist worker (a folder under pytest's own, which pytest fixes first):
    with one shared /tmp, a folder another worker is still using would look like a leak.
    TMPDIR carries it to subprocesses (the CLI, dbt). The check runs at session teardown,
    so a leak fails the run as an error there, naming what was left.
    """
    private = tmp_path_factory.mktemp("tempdir")
    patch = pytest.MonkeyPatch()
    patch.setattr(tempfile, "tempdir", str(private))
    patch.setenv("TMPDIR", str(private))
    try:
        yield private
    finally:
        patch.undo()
    left = sorted(p.name for p in private.iterdir() if p.name.startswith(TEMP_PREFIX))
    assert not left, f"temporary files or folders survived the test run in {private}: {left}"


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """No test touches the project's own warehouse, Dagster home or reports."""
    base = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("TUNEHOUSE_WAREHOUSE", str(base / "default.duckdb"))
    monkeypatch.setenv("TUNEHOUSE_REPORTS_DIR", str(base / "reports"))
    monkeypatch.setenv("DAGSTER_HOME", str(base / "dagster_home"))
    monkeypatch.delenv("TUNEHOUSE_CSV", raising=False)
    monkeypatch.delenv("YOUTUBE_API_KEY", raising=False)
    yield


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    if not (REAL_DATA_DIR / "spotify_youtube.csv").exists():
        pytest.skip(f"real data not present at {REAL_DATA_DIR} (../shared/data beside the repo)")
    return REAL_DATA_DIR


@pytest.fixture(scope="session")
def real_csv(real_data_dir) -> Path:
    return real_data_dir / "spotify_youtube.csv"


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory) -> Path:
    from ingestion.sample import write_sample_csv

    return write_sample_csv(tmp_path_factory.mktemp("sample") / "sample.csv", SAMPLE_ROWS, SAMPLE_SEED)


@pytest.fixture(scope="session")
def manifest(tmp_path_factory) -> Path:
    """The dbt project's manifest from `dbt parse` into a private target path (reads no data)."""
    import subprocess
    import sys

    from tunehouse.settings import DBT_PROJECT_DIR

    target = tmp_path_factory.mktemp("dbt_parse")
    env = {**os.environ, "TUNEHOUSE_WAREHOUSE": str(target / "unused.duckdb"),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "parse", "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target), "--quiet"],
        check=True, env=env, capture_output=True,
    )
    return target / "manifest.json"


@pytest.fixture(scope="session")
def built_warehouse_template(tmp_path_factory, sample_csv) -> Path:
    """The sample ingested and `dbt build` run once per worker; copy it, never write it."""
    from ingestion.kaggle_csv import ingest_csv
    from orchestration.dbt import run_dbt

    path = tmp_path_factory.mktemp("template") / "warehouse.duckdb"
    ingest_csv(sample_csv, path)
    run_dbt(["build"], path)
    return path


@pytest.fixture
def built_warehouse(built_warehouse_template, tmp_path, monkeypatch) -> Path:
    """A private copy of the built sample warehouse; TUNEHOUSE_WAREHOUSE points at it."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built_warehouse_template, path)
    monkeypatch.setenv("TUNEHOUSE_WAREHOUSE", str(path))
    return path


@pytest.fixture
def warehouse_path(tmp_path, monkeypatch) -> Path:
    """An empty warehouse location; TUNEHOUSE_WAREHOUSE points at it."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("TUNEHOUSE_WAREHOUSE", str(path))
    return path
