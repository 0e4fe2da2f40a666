"""The same dbt project on DuckDB and on Spark local[2], from the same landing zone: the same marts.

One warehouse: the built-in sample, crawled by the real emulator on several days (a crawl
with injected errors, and a late one observed between earlier ones). Each engine builds
twice: after the first crawls (on Spark: the incremental models and what they read), then
after the later ones, incrementally, the second Spark build through `tunehouse build
--target spark` (every model, seed, unit and data test; lake sync, Dagster, a new JVM that
finds the first build's tables in the metastore on disk). Then every mart is compared row for
row: same columns, same keys, same values (floats to 1e-9 relative). Spark's tables are
read from their Parquet files with DuckDB, so the test itself starts no JVM.

Run it alone with `pytest -m spark`. It needs Java 17 and the `spark` extra (pyspark,
dbt-spark); without them it is skipped, saying which is missing (CI installs both).
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingestion.youtube import CrawlOptions, RetryPolicy, crawl
from ingestion.youtube.emulator import (
    DEFAULT_API_KEY,
    KAGGLE_OBSERVED_AT,
    EmulatorServer,
    Faults,
    VideoUniverse,
    load_seed_videos,
)
from orchestration.dbt import run_dbt
from orchestration.engine import target_args, target_vars
from tunehouse.settings import PROJECT_ROOT, spark_dir
from warehouse.lake import sync

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.xdist_group("spark")]

FAST_RETRY = RetryPolicy(max_attempts=12, initial_wait_s=0.001, max_wait_s=0.01)
#: The key of each mart (its unique test); a mart not listed is compared as a sorted multiset.
KEYS = {
    "dim_tracks": ("track_id",),
    "dim_video_versions": ("version_id",),
    "dim_videos": ("video_id",),
    "fct_video_snapshots": ("snapshot_id",),
    "quota_usage_daily": ("api_day",),
    "track_features": ("track_id",),
    "track_stream_gap": ("track_id",),
    "video_growth": ("snapshot_id",),
}


#: The incremental models (and everything upstream of them).
FIRST_SPARK_BUILD = ["+fct_video_snapshots", "+int_video_snapshot_state", "+int_video_version_starts", "+video_growth"]


def _missing_spark() -> str | None:
    if shutil.which("java") is None:
        return "Java is not installed (the Spark target needs Java 17: apt-get install openjdk-17-jre-headless)"
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("dbt.adapters.spark") is None:
        return "pyspark/dbt-spark are not installed (pip install -e '.[spark]')"
    return None


def _crawl(warehouse: Path, emulator: EmulatorServer) -> None:
    result = crawl(warehouse, DEFAULT_API_KEY, CrawlOptions(base_url=emulator.base_url, retry=FAST_RETRY))
    assert result.complete, result.message
    emulator.advance_days(1)


@pytest.fixture(scope="module")
def built_on_both(built_warehouse_template, tmp_path_factory) -> tuple[Path, Path]:
    """(DuckDB warehouse, Spark folder), both built twice from the same published data."""
    missing = _missing_spark()
    if missing:
        pytest.skip(missing)
    base = tmp_path_factory.mktemp("parity")
    warehouse = base / "warehouse.duckdb"
    shutil.copyfile(built_warehouse_template, warehouse)
    lake = base / "lake"
    seeds = load_seed_videos(warehouse)
    universe = VideoUniverse(seeds)
    with EmulatorServer(universe, faults=Faults(server_error_rate=0.05, rate_limit_rate=0.02)) as emulator:
        _crawl(warehouse, emulator)
        _crawl(warehouse, emulator)
        # First builds: DuckDB (incremental over the sample's build); on Spark from scratch,
        # the incremental models and what they read (the second build builds the rest:
        # every model, seed and test, once, to keep the JVM time of CI small).
        run_dbt(["build"], warehouse)
        sync(warehouse, lake)
        # cautious: only the tests of what this build builds (not e.g. fct_video_snapshots'
        # relationship to dim_tracks, built by the second build).
        run_dbt(["build", "--select", " ".join(FIRST_SPARK_BUILD), "--indirect-selection", "cautious",
                 "--exclude-resource-type", "unit_test", *target_args("spark")], warehouse, dbt_vars=target_vars("spark", warehouse, lake))
        _crawl(warehouse, emulator)
        _crawl(warehouse, emulator)
    # A late crawl: observed between the second and the third, published after both.
    with EmulatorServer(VideoUniverse(seeds), start=KAGGLE_OBSERVED_AT + timedelta(days=2.5)) as late:
        _crawl(warehouse, late)
    # Second builds, incremental: DuckDB, then Spark as a user runs it (lake sync included).
    run_dbt(["build"], warehouse)
    env = {**os.environ, "TUNEHOUSE_WAREHOUSE": str(warehouse), "TUNEHOUSE_LAKE": str(lake),
           "TUNEHOUSE_DAGSTER_HOME": str(base / "dagster")}
    cli = subprocess.run([str(Path(sys.executable).parent / "tunehouse"), "build", "--target", "spark"],
                         cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=3600)
    assert cli.returncode == 0, (cli.stdout + cli.stderr)[-3000:]
    assert "built" in cli.stdout
    return warehouse, spark_dir(warehouse)


def _normal(value):
    """A value as both engines' results are compared: timestamps naive UTC, decimals float."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, Decimal):
        return float(value)
    return value


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def duckdb_table(warehouse: Path, schema: str, name: str) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cur = con.execute(f"SELECT * FROM {schema}.{name}")
        return [d[0] for d in cur.description], cur.fetchall()


def spark_table(spark: Path, schema: str, name: str) -> tuple[list[str], list[tuple]]:
    """A table of the Spark warehouse, read from its Parquet files (partition folders included)."""
    folder = spark / "warehouse" / f"{schema}.db" / name
    assert folder.is_dir(), f"Spark built no table {schema}.{name} ({folder})"
    if not any(folder.rglob("*.parquet")):
        return [], []
    with duckdb.connect() as con:
        cur = con.execute(
            f"SELECT * FROM read_parquet('{folder}/**/*.parquet', hive_partitioning = true, union_by_name = true)")
        return [d[0] for d in cur.description], cur.fetchall()


def marts(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1").fetchall()]


def test_every_mart_is_the_same_on_duckdb_and_spark(built_on_both):
    warehouse, spark = built_on_both
    names = marts(warehouse)
    assert {"dim_tracks", "fct_video_snapshots", "video_growth", "track_features"} <= set(names)
    for name in names:
        d_columns, d_rows = duckdb_table(warehouse, "marts", name)
        s_columns, s_rows = spark_table(spark, "marts", name)
        assert sorted(s_columns) == sorted(d_columns), name
        assert len(s_rows) == len(d_rows), f"{name}: {len(s_rows)} rows on Spark, {len(d_rows)} on DuckDB"
        assert d_rows, f"{name} is empty: the comparison would prove nothing"
        order = [s_columns.index(c) for c in d_columns]
        s_rows = [tuple(_normal(r[i]) for i in order) for r in s_rows]
        d_rows = [tuple(_normal(v) for v in r) for r in d_rows]
        key = [d_columns.index(c) for c in KEYS.get(name, d_columns)]
        by_key = {tuple(r[i] for i in key): r for r in s_rows}
        assert len(by_key) == len(s_rows), f"{name}: duplicate keys on Spark"
        for row in d_rows:
            k = tuple(row[i] for i in key)
            other = by_key.get(k)
            assert other is not None, f"{name}: {dict(zip(d_columns, row))} missing on Spark"
            bad = [c for c, a, b in zip(d_columns, row, other) if not _same(a, b)]
            assert not bad, f"{name} {k}: " + "; ".join(
                f"{c} duckdb={row[d_columns.index(c)]!r} spark={other[d_columns.index(c)]!r}" for c in bad)


def test_the_growth_data_exercises_late_and_daily_snapshots(built_on_both):
    """The comparison covers what it should: several crawls, a late one, growth rows with deltas."""
    warehouse, _ = built_on_both
    with duckdb.connect(str(warehouse), read_only=True) as con:
        crawls = con.execute("SELECT count(*) FROM marts.fct_video_snapshots GROUP BY crawl_id").fetchall()
        late = con.execute(
            """SELECT count(*) FROM marts.video_growth g
               WHERE exists (SELECT 1 FROM marts.video_growth later
                             WHERE later.video_id = g.video_id AND later.observed_at > g.observed_at
                               AND later.publish_seq < g.publish_seq)""").fetchone()[0]
        deltas = con.execute("SELECT count(*) FROM marts.video_growth WHERE delta_views IS NOT NULL").fetchone()[0]
    assert len(crawls) == 5 and late > 0 and deltas > 0


def test_spark_keeps_its_tables_beside_the_warehouse(built_on_both):
    warehouse, spark = built_on_both
    assert spark == warehouse.parent / "spark" / warehouse.stem
    assert (spark / "metastore_db").is_dir() and (spark / "warehouse" / "marts.db").is_dir()
    assert not (PROJECT_ROOT / "dbt_project" / "derby.log").exists()
