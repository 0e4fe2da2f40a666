"""The Parquet landing zone (warehouse/lake.py) on real crawls of the real emulator.

Every count and value is compared with the warehouse itself, read independently of the
code under test (plain SQL on raw.*); files are read back with DuckDB's Parquet reader.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ingestion.youtube import CrawlOptions, RetryPolicy, crawl
from ingestion.youtube.emulator import DEFAULT_API_KEY, EmulatorServer, Faults, VideoUniverse, load_seed_videos
from tunehouse.settings import DBT_PROJECT_DIR, PROJECT_ROOT
from warehouse import write_connection
from warehouse.lake import TABLES, lake_files, read_table_sql, sync

pytestmark = pytest.mark.xdist_group("lake")

FAST_RETRY = RetryPolicy(max_attempts=12, initial_wait_s=0.001, max_wait_s=0.01)


def raw_rows(warehouse: Path, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def query(sql: str) -> list[tuple]:
    """A query on a fresh in-memory DuckDB (the files of the lake), fetched whole."""
    with duckdb.connect() as con:
        return con.execute(sql).fetchall()


def lake_rows(lake: Path, table: str, columns: str = "*") -> list[tuple]:
    if not any((lake / "raw" / table).rglob("*.parquet")):
        return []  # no file yet: no rows (a reader of the folder sees none)
    return query(f"SELECT {columns} FROM ({read_table_sql(lake, table)})")


def has_column(warehouse: Path, table: str, column: str) -> bool:
    return bool(raw_rows(warehouse, "SELECT 1 FROM information_schema.columns WHERE table_schema = 'raw' "
                                    "AND table_name = ? AND column_name = ?", [table, column]))


def published_crawls(warehouse: Path) -> set[str]:
    """Published crawls, by the rule of write-audit-publish (completed ones before it existed)."""
    where = "published_at IS NOT NULL" if has_column(warehouse, "crawl_runs", "published_at") else "status = 'completed'"
    return {r[0] for r in raw_rows(warehouse, f"SELECT crawl_id FROM raw.crawl_runs WHERE {where}")}


def assert_every_visible_file_is_complete(lake: Path) -> None:
    """What a reader sees: every *.parquet file opens and has its row count (no half file)."""
    for path in lake_files(lake):
        [(count,)] = query(f"SELECT count(*) FROM read_parquet('{path}')")
        [(meta,)] = query(f"SELECT sum(num_rows) FROM parquet_file_metadata('{path}')")
        assert count == meta, path


def assert_lake_mirrors_published(warehouse: Path, lake: Path) -> None:
    """Each published snapshot exactly once in the lake, nothing else; loads and crawls likewise."""
    crawls = published_crawls(warehouse)
    expected = sorted(raw_rows(warehouse, "SELECT video_id, crawl_id, view_count, observed_at FROM raw.youtube_snapshots"
                                          " WHERE list_contains(?, crawl_id)", [sorted(crawls)]))
    got = sorted(lake_rows(lake, "youtube_snapshots", "video_id, crawl_id, view_count, observed_at"))
    assert got == expected
    assert len(got) == len(set((v, c) for v, c, *_ in got))
    assert {r[0] for r in lake_rows(lake, "crawl_runs", "crawl_id")} == crawls
    folders = {p.parent.name for p in (lake / "raw" / "youtube_snapshots").glob("*/*.parquet")}
    days = {f"crawl_date={d}" for (d,) in raw_rows(
        warehouse, "SELECT DISTINCT strftime(started_at AT TIME ZONE 'UTC', '%Y-%m-%d') FROM raw.crawl_runs "
                   "WHERE list_contains(?, crawl_id)", [sorted(crawls)])}
    assert folders == days
    # The channel phase's tables (issue #14), exported with their crawl.
    for table, key in (("channel_snapshots", "channel_id, crawl_id, subscriber_count, observed_at"),
                       ("crawl_channel_targets", "channel_id, crawl_id, batch_no"),
                       ("crawl_channel_batches", "crawl_id, batch_no, ids_ok, ids_not_found")):
        if not raw_rows(warehouse, "SELECT 1 FROM information_schema.tables WHERE table_schema = 'raw' "
                                   "AND table_name = ?", [table]):
            continue
        expected = sorted(raw_rows(warehouse, f"SELECT {key} FROM raw.{table} WHERE list_contains(?, crawl_id)",
                                   [sorted(crawls)]), key=repr)
        assert sorted(lake_rows(lake, table, key), key=repr) == expected, table
        folders = {p.parent.name for p in (lake / "raw" / table).glob("*/*.parquet")}
        assert folders <= days and (folders == days or not expected), table


@pytest.fixture
def emulator(built_warehouse):
    server = EmulatorServer(VideoUniverse(load_seed_videos(built_warehouse))).start()
    yield server
    server.stop()


def _crawl(warehouse: Path, emulator: EmulatorServer, **options) -> None:
    result = crawl(warehouse, DEFAULT_API_KEY, CrawlOptions(base_url=emulator.base_url, retry=FAST_RETRY, **options))
    assert result.complete, result.message
    emulator.advance_days(1)


def test_sync_writes_each_published_load_and_crawl_once(built_warehouse, emulator, tmp_path):
    _crawl(built_warehouse, emulator)
    _crawl(built_warehouse, emulator)
    lake = tmp_path / "lake"

    first = sync(built_warehouse, lake)
    crawls = published_crawls(built_warehouse)
    assert len(crawls) == 2 and first.crawls == 2
    assert_lake_mirrors_published(built_warehouse, lake)
    assert_every_visible_file_is_complete(lake)
    # One file per crawl, named after it, under the UTC date the crawl started.
    for crawl_id, day in raw_rows(built_warehouse, "SELECT crawl_id, started_at AT TIME ZONE 'UTC' FROM raw.crawl_runs"):
        for table in ("youtube_snapshots", "channel_snapshots", "crawl_channel_targets", "crawl_channel_batches"):
            assert (lake / "raw" / table / f"crawl_date={day:%Y-%m-%d}" / f"{crawl_id}.parquet").is_file(), table
    # Each published crawl's channel snapshots are there, with their counts (issue #14).
    assert lake_rows(lake, "channel_snapshots", "count(*)")[0][0] == raw_rows(
        built_warehouse, "SELECT count(*) FROM raw.channel_snapshots")[0][0] > 0
    # The Kaggle rows of the published load, every column, in its load_id partition.
    (load_id,) = raw_rows(built_warehouse, "SELECT load_id FROM raw.kaggle_loads")[0]
    assert sorted(lake_rows(lake, "kaggle_tracks", "load_id, source_row_number, artist, url_youtube, views")) == sorted(
        raw_rows(built_warehouse, "SELECT load_id, source_row_number, artist, url_youtube, views FROM raw.kaggle_tracks"))
    assert sorted(lake_rows(lake, "quota_ledger", "crawl_id, quota_units")) == sorted(
        raw_rows(built_warehouse, "SELECT crawl_id, quota_units FROM raw.quota_ledger"))
    assert (lake / "raw" / "kaggle_tracks" / f"load_id={load_id}" / f"load-{load_id}.parquet").is_file()

    # Again: nothing new is written, no file is touched.
    stamps = {p: p.stat().st_mtime_ns for p in lake_files(lake)}
    again = sync(built_warehouse, lake)
    assert again.written == [] and again.removed == []
    assert {p: p.stat().st_mtime_ns for p in lake_files(lake)} == stamps

    # A missing file is exported again, and only it.
    victim = next((lake / "raw" / "youtube_snapshots").glob("*/*.parquet"))
    victim.unlink()
    repaired = sync(built_warehouse, lake)
    assert repaired.written == [str(victim.relative_to(lake))]
    assert_lake_mirrors_published(built_warehouse, lake)

    # A new crawl adds its file; the whole-table files follow their tables.
    _crawl(built_warehouse, emulator)
    third = sync(built_warehouse, lake)
    assert sum(w.startswith("raw/youtube_snapshots/") for w in third.written) == 1
    assert "raw/crawl_runs/crawl_runs.parquet" in third.written
    assert_lake_mirrors_published(built_warehouse, lake)


def test_an_unpublished_crawl_is_never_exported(built_warehouse, emulator, tmp_path):
    lake = tmp_path / "lake"
    _crawl(built_warehouse, emulator)
    # A budget of 2 units stops the next crawl after two calls: paused, not published.
    paused = crawl(built_warehouse, DEFAULT_API_KEY,
                   CrawlOptions(base_url=emulator.base_url, retry=FAST_RETRY, daily_budget=2, concurrency=1))
    assert paused.status == "paused"
    assert raw_rows(built_warehouse, "SELECT count(*) FROM raw.youtube_snapshots WHERE crawl_id = ?",
                    [paused.crawl_id])[0][0] > 0
    sync(built_warehouse, lake)
    assert paused.crawl_id not in {c for (c,) in lake_rows(lake, "youtube_snapshots", "DISTINCT crawl_id")}
    assert paused.crawl_id not in {c for (c,) in lake_rows(lake, "crawl_runs", "crawl_id")}
    assert not list(lake.rglob(f"{paused.crawl_id}.parquet"))
    assert_lake_mirrors_published(built_warehouse, lake)

    # Resumed and published: now it is there, whole.
    emulator.advance_days(1)  # a new API day: the budget is back
    resumed = crawl(built_warehouse, DEFAULT_API_KEY, CrawlOptions(base_url=emulator.base_url, retry=FAST_RETRY))
    assert resumed.complete and resumed.crawl_id == paused.crawl_id
    sync(built_warehouse, lake)
    assert_lake_mirrors_published(built_warehouse, lake)
    assert paused.crawl_id in {c for (c,) in lake_rows(lake, "youtube_snapshots", "DISTINCT crawl_id")}


def test_before_write_audit_publish_every_load_and_completed_crawl_counts(tmp_path):
    """A warehouse from before the publish columns existed: all loads, completed crawls only."""
    warehouse = tmp_path / "old.duckdb"
    with write_connection(warehouse) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.kaggle_loads (load_id INTEGER, source_file VARCHAR, last_ingested_at TIMESTAMPTZ)")
        con.execute("INSERT INTO raw.kaggle_loads VALUES (1, 'a.csv', '2023-01-01 00:00:00+00'), "
                    "(2, 'b.csv', '2023-01-02 00:00:00+00')")
        con.execute("CREATE TABLE raw.kaggle_tracks (load_id INTEGER, source_row_number BIGINT, artist VARCHAR)")
        con.execute("INSERT INTO raw.kaggle_tracks VALUES (1, 1, 'x'), (2, 1, 'y'), (2, 2, 'z')")
        con.execute("CREATE TABLE raw.crawl_runs (crawl_id VARCHAR, started_at TIMESTAMPTZ, status VARCHAR)")
        con.execute("INSERT INTO raw.crawl_runs VALUES ('c-done', '2023-02-08 23:30:00-08', 'completed'), "
                    "('c-paused', '2023-02-09 10:00:00+00', 'paused')")
        con.execute("CREATE TABLE raw.youtube_snapshots (video_id VARCHAR, crawl_id VARCHAR, batch_no INTEGER)")
        con.execute("INSERT INTO raw.youtube_snapshots VALUES ('v1', 'c-done', 0), ('v2', 'c-done', 0), "
                    "('v1', 'c-paused', 0)")
    lake = tmp_path / "lake"
    result = sync(warehouse, lake)
    assert (result.loads, result.crawls) == (2, 1)
    assert sorted(lake_rows(lake, "kaggle_tracks", "load_id, artist")) == [(1, "x"), (2, "y"), (2, "z")]
    # 23:30 Pacific on the 8th is the 9th in UTC: the partition is the UTC date.
    assert sorted(lake_rows(lake, "youtube_snapshots", "video_id, crawl_id, CAST(crawl_date AS VARCHAR)")) == [
        ("v1", "c-done", "2023-02-09"), ("v2", "c-done", "2023-02-09")]
    assert [r[0] for r in lake_rows(lake, "crawl_runs", "crawl_id")] == ["c-done"]
    # Tables the warehouse does not have (crawl_targets, ledger, ...) are simply absent.
    assert not list((lake / "raw").glob("quota_ledger/*.parquet"))


CRAWLER = """
import sys
from ingestion.youtube import CrawlOptions, RetryPolicy, crawl
crawl(sys.argv[1], sys.argv[2], CrawlOptions(base_url=sys.argv[3], concurrency=2,
      retry=RetryPolicy(initial_wait_s=0.001, max_wait_s=0.01)))
"""


def _served(emulator: EmulatorServer) -> int:
    return sum(n for outcome, n in emulator.state.stats()["responses"].items() if outcome != "403 forbidden")


def test_killed_crawl_leaves_nothing_in_the_lake_and_the_resumed_one_lands_once(built_warehouse, tmp_path):
    """SIGKILL a crawl several times (syncing the lake in between), resume it: the lake never
    shows a partial file or any of the unpublished crawl, then holds each snapshot once."""
    lake = tmp_path / "lake"
    seeds = load_seed_videos(built_warehouse)
    batches = -(-len(seeds) // 50)
    rng = random.Random(20261128)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    kills = 0
    with EmulatorServer(VideoUniverse(seeds), faults=Faults(latency_s=0.08)) as emulator:
        for _ in range(3):
            time.sleep(0.3)  # requests of the previous (killed) process drain first
            target = _served(emulator) + rng.randint(2, max(3, batches // 3))
            proc = subprocess.Popen([sys.executable, "-c", CRAWLER, str(built_warehouse), DEFAULT_API_KEY,
                                     emulator.base_url], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            while _served(emulator) < target and proc.poll() is None:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.1))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=60)
            assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read().decode()[-2000:]
            proc.stderr.close()
            sync(built_warehouse, lake)
            assert_every_visible_file_is_complete(lake)
            assert_lake_mirrors_published(built_warehouse, lake)
            for table in ("youtube_snapshots", "channel_snapshots", "crawl_channel_targets"):
                assert not list((lake / "raw" / table).glob("*/*.parquet")), f"an unfinished crawl leaked ({table})"
        assert kills >= 2, "the crawl finished before it could be killed; raise the latency"
        emulator.set_faults(Faults())
        final = crawl(built_warehouse, DEFAULT_API_KEY, CrawlOptions(base_url=emulator.base_url, retry=FAST_RETRY))
    assert final.complete and final.resumed
    sync(built_warehouse, lake)
    assert_every_visible_file_is_complete(lake)
    assert_lake_mirrors_published(built_warehouse, lake)
    got = lake_rows(lake, "youtube_snapshots", "video_id, crawl_id")
    assert len(got) == len(set(got)) == len(seeds)
    assert {v for v, _ in got} == {s.video_id for s in seeds}
    # Each channel of the crawl's available videos once, in the crawl's partition.
    channels = lake_rows(lake, "channel_snapshots", "channel_id, crawl_id")
    ok_channels = {c for (c,) in query(f"SELECT DISTINCT channel_id FROM ({read_table_sql(lake, 'youtube_snapshots')}) "
                                       "WHERE status = 'ok'")}
    assert len(channels) == len(set(channels)) == len(ok_channels) > 0
    assert {c for c, _ in channels} == ok_channels


SYNC_STUCK_BEFORE_RENAME = """
import os, sys, time
import warehouse.lake as lake
real_replace = os.replace
def replace(src, dst):
    if str(dst).endswith(sys.argv[3]):
        print(src, flush=True)  # the temporary file is written; the rename has not happened
        time.sleep(600)
    real_replace(src, dst)
lake.os.replace = replace
lake.sync(sys.argv[1], sys.argv[2])
"""


def test_a_sync_killed_before_its_rename_leaves_no_visible_file(built_warehouse, emulator, tmp_path):
    _crawl(built_warehouse, emulator)
    (crawl_id,) = published_crawls(built_warehouse)
    lake = tmp_path / "lake"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SYNC_STUCK_BEFORE_RENAME, str(built_warehouse), str(lake),
                             f"{crawl_id}.parquet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        temp = Path(proc.stdout.readline().strip())
        assert temp.name.startswith(".") and temp.exists() and temp.stat().st_size > 0, proc.stderr.read()
        # What a reader sees now: complete files only, and none of this crawl.
        assert_every_visible_file_is_complete(lake)
        assert all(crawl_id not in p.name for p in lake_files(lake))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert temp.exists()  # the killed sync's leftover ...
    result = sync(built_warehouse, lake)
    assert not temp.exists() and str(temp.relative_to(lake)) in result.removed  # ... removed by the next one
    assert not [p for p in lake.rglob("*") if ".tmp-" in p.name]
    assert_every_visible_file_is_complete(lake)
    assert_lake_mirrors_published(built_warehouse, lake)


def test_spark_source_columns_match_the_raw_tables(built_warehouse):
    """The source YAMLs give Spark the lake's columns and types: they must be raw's, exactly."""
    import yaml

    spark_type = {"VARCHAR": "string", "INTEGER": "int", "BIGINT": "bigint", "DOUBLE": "double",
                  "BOOLEAN": "boolean", "TIMESTAMP WITH TIME ZONE": "timestamp", "DATE": "date"}
    declared = {}
    for path in (DBT_PROJECT_DIR / "models").rglob("_*sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            for table in source["tables"]:
                declared[table["name"]] = ([(c["name"], c["data_type"]) for c in table.get("columns", [])], path.name)
    assert declared, "no sources found"
    for name, (columns, file) in declared.items():
        actual = [(c, spark_type.get(t, t)) for c, t in raw_rows(
            built_warehouse, "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'raw' "
                             "AND table_name = ? ORDER BY ordinal_position", [name])]
        assert columns == actual, (
            f"dbt_project/models/staging/{file}: source table {name} must list raw.{name}'s columns with their "
            f"Spark types (Spark reads the lake with them): {actual}")
    # The lake has a folder for every source table, partitioned as macros/lake_sources.sql says.
    partitioned = {t.name: t.keyed_by for t in TABLES}
    assert partitioned["youtube_snapshots"] == "crawl" and partitioned["kaggle_tracks"] == "load"
    macro = (DBT_PROJECT_DIR / "macros" / "lake_sources.sql").read_text()
    assert "'kaggle_tracks': ('load_id', 'int')" in macro and "'youtube_snapshots': ('crawl_date', 'date')" in macro
    assert set(declared) <= set(partitioned)
