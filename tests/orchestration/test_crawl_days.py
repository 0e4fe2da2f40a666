"""The crawl partitioned by API day, and the Python asset checks on the crawl and the Kaggle load.

Real components: the built sample warehouse, the local API emulator (its own count of the
keyed requests it received), real Dagster materializations. Each check is made to fail on
purpose: a high-quarantine load, a half-finished crawl, a missed day.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.youtube import CrawlOptions, crawl
from ingestion.youtube.apiclock import API_TIMEZONE, api_day
from ingestion.youtube.crawl_days import CrawlDay, DayCrawl, crawl_days, freshness
from ingestion.youtube.emulator import DEFAULT_API_KEY, EmulatorServer, VideoUniverse, load_seed_videos
from orchestration.assets import kaggle, kaggle_checks, youtube
from orchestration.resources import KaggleSourceResource, WarehouseResource, YouTubeApiResource

pytestmark = pytest.mark.xdist_group("youtube_crawl")

SNAPSHOTS = dg.AssetKey(["raw", "youtube_snapshots"])
CHANNEL_SNAPSHOTS = dg.AssetKey(["raw", "channel_snapshots"])


@pytest.fixture
def emulator(built_warehouse):
    server = EmulatorServer(VideoUniverse(load_seed_videos(built_warehouse))).start()
    yield server
    server.stop()


def materialize_day(warehouse, emulator, instance, day: date | None, budget: int | None = None):
    """The crawl assets and their checks, for API day `day` (None: no partition)."""
    resources = {
        "warehouse": WarehouseResource(database=str(warehouse)),
        "youtube": YouTubeApiResource(api_key=DEFAULT_API_KEY, base_url=emulator.base_url),
    }
    config = {"ops": {"crawl_youtube": {"config": {"daily_budget": budget} if budget else {}}}}
    return dg.materialize([youtube.crawl_youtube, *youtube.checks], resources=resources, instance=instance,
                          partition_key=day.isoformat() if day else None, run_config=config, raise_on_error=False)


def checks_of(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def received(emulator) -> int:
    return emulator.state.stats()["received"]


def failure(result) -> str:
    [event] = result.get_step_failure_events()
    return event.step_failure_data.error.message


def test_a_day_is_crawled_once_then_recorded_again_without_an_api_call(built_warehouse, emulator):
    instance = dg.DagsterInstance.ephemeral()
    day = api_day(emulator.now())
    first = materialize_day(built_warehouse, emulator, instance, day)
    assert first.success
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        targets = con.execute("SELECT count(DISTINCT video_id) FROM intermediate.int_kaggle_videos").fetchone()[0]
        snapshots = con.execute("SELECT count(*) FROM raw.youtube_snapshots").fetchone()[0]
    assert snapshots == targets
    assert instance.get_materialized_partitions(SNAPSHOTS) == {day.isoformat()}
    assert checks_of(first)["crawl_coverage"].passed and checks_of(first)["crawl_freshness"].passed
    # The channel snapshots are materialized beside the videos, in the same partition (issue #14).
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        channels, channel_ok, channel_rows = con.execute(
            "SELECT (SELECT count(DISTINCT channel_id) FROM raw.youtube_snapshots WHERE status = 'ok'), "
            "count(*) FILTER (WHERE status = 'ok'), count(*) FROM raw.channel_snapshots").fetchone()
    assert instance.get_materialized_partitions(CHANNEL_SNAPSHOTS) == {day.isoformat()}
    coverage = checks_of(first)["channel_coverage"]
    assert coverage.passed and coverage.metadata["channels_expected"].value == channels == channel_rows > 0
    [channel_meta] = [m.metadata for m in first.asset_materializations_for_node("crawl_youtube")
                      if m.asset_key == CHANNEL_SNAPSHOTS]
    assert channel_meta["channels_ok"].value == channel_ok and channel_meta["day_channels_ok"].value == channel_ok
    assert channel_meta["dagster/partition_row_count"].value == channel_rows
    assert channel_meta["channels_not_found"].value == channel_rows - channel_ok

    calls = received(emulator)
    again = materialize_day(built_warehouse, emulator, instance, day)
    assert again.success and received(emulator) == calls  # recorded from the warehouse: no call, no second crawl
    [meta] = [m.metadata for m in again.asset_materializations_for_node("crawl_youtube") if m.asset_key == SNAPSHOTS]
    assert meta["crawled_now"].value is False and meta["dagster/partition_row_count"].value == snapshots
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.crawl_runs").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM raw.youtube_snapshots").fetchone() == (snapshots,)

    # A day without a crawl can only be the API's current day.
    past = materialize_day(built_warehouse, emulator, instance, day - timedelta(days=1))
    assert not past.success and "a past day cannot be crawled afterwards" in failure(past)
    future = materialize_day(built_warehouse, emulator, instance, day + timedelta(days=3))
    assert not future.success and "has not started yet" in failure(future)
    assert "\n" not in failure(past).strip() and received(emulator) == calls


def test_a_half_finished_crawl_fails_its_coverage_then_resumes_within_the_budget(built_warehouse, emulator):
    instance = dg.DagsterInstance.ephemeral()
    day = api_day(emulator.now())
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        targets = con.execute("SELECT count(DISTINCT video_id) FROM intermediate.int_kaggle_videos").fetchone()[0]
    batches = -(-targets // 50)
    budget = batches // 2  # one unit per videos.list call: half the batches
    paused = materialize_day(built_warehouse, emulator, instance, day, budget=budget)
    assert paused.success  # the partition records the half-finished crawl ...
    coverage = checks_of(paused)["crawl_coverage"]
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        snapshotted = con.execute("SELECT count(DISTINCT video_id) FROM raw.youtube_snapshots").fetchone()[0]
        status = con.execute("SELECT status FROM raw.crawl_runs").fetchone()[0]
    assert status == "paused" and 0 < snapshotted < targets
    # ... and its coverage check fails, as an error (below 90 %), with the share measured here.
    assert not coverage.passed and coverage.severity == dg.AssetCheckSeverity.ERROR
    assert coverage.metadata["coverage"].value == pytest.approx(snapshotted / targets, abs=1e-4)

    # The next API day: materializing the same day again resumes its crawl (never a second one):
    # its remaining video batches, then one channels.list call per 50 channels (issue #14; at
    # most one per channel of the seeds, the emulator's catalogue).
    seed_channels = len(emulator.state.universe.channel_ids)
    emulator.advance_days(1)
    resumed = materialize_day(built_warehouse, emulator, instance, day, budget=budget + 1 + -(-seed_channels // 50))
    assert resumed.success and checks_of(resumed)["crawl_coverage"].passed
    assert checks_of(resumed)["channel_coverage"].passed
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*), min(status) FROM raw.crawl_runs").fetchone() == (1, "completed")
        assert con.execute("SELECT count(*), count(DISTINCT video_id) FROM raw.youtube_snapshots").fetchone() == (
            targets, targets)
        # Within the budget on each API day, by the ledger.
        per_day = con.execute("SELECT api_day, sum(quota_units) FROM raw.quota_ledger GROUP BY 1").fetchall()
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        channels = con.execute("SELECT count(DISTINCT channel_id) FROM raw.youtube_snapshots "
                               "WHERE status = 'ok'").fetchone()[0]
    # Exactly the calls the crawl needed on each day: no retry (no fault), no second crawl.
    assert sorted(units for _day, units in per_day) == sorted([budget, batches - budget + -(-channels // 50)])
    assert instance.get_materialized_partitions(SNAPSHOTS) == {day.isoformat()}


def test_a_missed_day_fails_the_days_check(built_warehouse, emulator):
    instance = dg.DagsterInstance.ephemeral()
    first = api_day(emulator.now())
    assert materialize_day(built_warehouse, emulator, instance, first).success
    emulator.advance_days(2)  # nobody crawled the day in between
    third = api_day(emulator.now())
    result = materialize_day(built_warehouse, emulator, instance, third)
    assert result.success
    days_check = checks_of(result)["crawl_days_complete"]
    assert not days_check.passed and days_check.severity == dg.AssetCheckSeverity.WARN
    assert days_check.metadata["missed_days"].value == [(first + timedelta(days=1)).isoformat()]
    assert checks_of(result)["crawl_freshness"].passed  # today is crawled: late no more
    missed = materialize_day(built_warehouse, emulator, instance, first + timedelta(days=1))
    assert not missed.success  # and it cannot be crawled afterwards
    assert instance.get_materialized_partitions(SNAPSHOTS) == {first.isoformat(), third.isoformat()}


def test_crawls_made_outside_dagster_appear_under_their_days(built_warehouse, emulator):
    days = []
    for _ in range(2):
        days.append(api_day(emulator.now()))
        assert crawl(built_warehouse, DEFAULT_API_KEY, CrawlOptions(base_url=emulator.base_url)).complete
        emulator.advance_days(1)
    instance = dg.DagsterInstance.ephemeral()
    resources = {"warehouse": WarehouseResource(database=str(built_warehouse))}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = youtube.crawl_history(context)
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    assert instance.get_materialized_partitions(SNAPSHOTS) == {d.isoformat() for d in days}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        assert isinstance(youtube.crawl_history(context), dg.SkipReason)  # nothing left to record
    # A run without a partition (tunehouse crawl) records its crawl under the day it started on.
    no_key = materialize_day(built_warehouse, emulator, instance, None)
    assert no_key.success
    assert instance.get_materialized_partitions(SNAPSHOTS) == {d.isoformat() for d in [*days, api_day(emulator.now())]}


# --- freshness by the API clock (plain function) ---------------------------------------------


def _day(d: date, published: bool = True) -> CrawlDay:
    crawl_run = DayCrawl(f"c{d}", "http://x", "completed" if published else "paused", None,
                         datetime(d.year, d.month, d.day, 12, tzinfo=API_TIMEZONE), published)
    return CrawlDay(d, (crawl_run,), 10, 10, 10, 10, 1, 1)


def _pacific(d: date, hour: int) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=API_TIMEZONE)


def test_a_day_without_a_crawl_is_late_once_its_deadline_passed():
    d = date(2023, 3, 10)
    days = {d: _day(d)}
    assert freshness(days, _pacific(d + timedelta(days=1), 5)).is_fresh  # the next day's crawl is not due yet
    late = freshness(days, _pacific(d + timedelta(days=1), 7))
    assert not late.is_fresh and late.late_days == (d + timedelta(days=1),)
    assert freshness(days, _pacific(d + timedelta(days=3), 7)).late_days == tuple(
        d + timedelta(days=n) for n in (1, 2, 3))
    # An unpublished (paused) crawl is not visible downstream: its day is not crawled.
    days[d + timedelta(days=1)] = _day(d + timedelta(days=1), published=False)
    assert freshness(days, _pacific(d + timedelta(days=1), 7)).late_days == (d + timedelta(days=1),)


@settings(max_examples=60, deadline=None)
@given(offsets=st.sets(st.integers(0, 40), min_size=1, max_size=15), hours=st.integers(0, 24 * 45))
def test_late_and_missed_days_match_a_day_by_day_count(offsets, hours):
    start = date(2023, 10, 20)  # spans the end of daylight saving time
    days = {start + timedelta(days=o): _day(start + timedelta(days=o)) for o in offsets}
    now = _pacific(start, 0) + timedelta(hours=hours)
    result = freshness(days, now)
    crawled = sorted(days)
    # Walk the calendar: a day is due once 6 hours have elapsed since its midnight (Pacific).
    due, walker = [], crawled[0]
    while _pacific(walker, 0).astimezone(UTC) + timedelta(hours=6) <= now:
        due.append(walker)
        walker += timedelta(days=1)
    expected_late = tuple(x for x in due if x > crawled[-1])
    expected_missed = tuple(crawled[0] + timedelta(days=n) for n in range((crawled[-1] - crawled[0]).days + 1)
                            if crawled[0] + timedelta(days=n) not in days)
    assert result.late_days == expected_late
    assert result.missed_days == expected_missed


@settings(max_examples=40, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2027, 1, 1),
                             timezones=st.just(UTC)), min_size=1, max_size=8, unique=True))
def test_a_crawl_belongs_to_the_api_day_it_started_on(starts):
    """crawl_days computes the day in SQL; it must be apiclock.api_day's (DST included)."""
    from warehouse.schema import ensure_schema

    con = duckdb.connect()
    ensure_schema(con)
    for n, start in enumerate(starts):
        con.execute(
            "INSERT INTO raw.crawl_runs (crawl_id, load_id, base_url, started_at, updated_at, status, invocations, "
            "ids_requested, batches_total, ids_ok, ids_not_found, api_calls, quota_units) "
            "VALUES (?, 1, 'http://x', ?, now(), 'completed', 1, 0, 0, 0, 0, 0, 0)", [f"c{n}", start])
    found = {c.crawl_id: d for d, day in crawl_days(con).items() for c in day.crawls}
    assert found == {f"c{n}": api_day(start) for n, start in enumerate(starts)}


# --- the Kaggle load's quarantine share ----------------------------------------------------------


def test_a_high_quarantine_load_fails_its_check(sample_csv, tmp_path):
    """A file with one record in five unparseable: loaded (the good rows), and the check errs."""
    with sample_csv.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header, rows = next(reader), list(reader)
    views = header.index("Views")
    bad = set(range(0, len(rows), 5))
    for n in bad:
        rows[n][views] = "not a number"
    broken = tmp_path / "broken.csv"
    with broken.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    warehouse = tmp_path / "w.duckdb"
    result = dg.materialize(
        [*kaggle.assets, *kaggle_checks.checks],
        resources={"warehouse": WarehouseResource(database=str(warehouse)),
                   "kaggle": KaggleSourceResource(csv_path=str(broken))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["rows_quarantined"].value == len(bad)
    assert check.metadata["share"].value == pytest.approx(len(bad) / len(rows), abs=1e-4)


@pytest.mark.parametrize(("loaded", "quarantined", "passed", "severity"), [
    (1000, 0, True, None), (1000, 10, True, None), (1000, 30, False, "WARN"), (1000, 100, False, "ERROR"),
])
def test_quarantine_share_thresholds(tmp_path, loaded, quarantined, passed, severity):
    from warehouse.schema import ensure_schema

    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_schema(con)
        con.execute(
            "INSERT INTO raw.kaggle_loads (load_id, source_file, source_path, file_sha256, file_bytes, "
            "has_description, row_count, quarantined_count, loaded_at, last_ingested_at) "
            "VALUES (1, 'f.csv', '/f.csv', 'x', 1, true, ?, ?, now(), now())", [loaded, quarantined])
    result = kaggle_checks.quarantine_share(warehouse=WarehouseResource(database=str(warehouse)))
    assert result.passed is passed
    if not passed:
        assert result.severity == getattr(dg.AssetCheckSeverity, severity)
