"""Crawls against the emulator over loopback: faults, quota, budget, resume, atomic batches."""

from __future__ import annotations

import duckdb
import pytest

from ingestion.youtube import CrawlError, crawl
from ingestion.youtube.emulator import Faults

from ._support import EMULATOR_KEY, csv_video_ids, options, query

pytestmark = pytest.mark.xdist_group("youtube_crawl")


def snapshot_counts(warehouse) -> tuple[int, int, set[str], set[str]]:
    """(rows, distinct (video, crawl) pairs, video ids, crawl ids) of raw.youtube_snapshots."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows, pairs = con.execute(
            "SELECT count(*), count(DISTINCT (video_id, crawl_id)) FROM raw.youtube_snapshots"
        ).fetchall()[0]
        videos = {r[0] for r in con.execute("SELECT video_id FROM raw.youtube_snapshots").fetchall()}
        crawls = {r[0] for r in con.execute("SELECT DISTINCT crawl_id FROM raw.youtube_snapshots").fetchall()}
    finally:
        con.close()
    return rows, pairs, videos, crawls


def test_crawl_under_faults_gets_every_video_exactly_once(built_warehouse, sample_csv, emulator_for):
    emulator = emulator_for(Faults(server_error_rate=0.10, rate_limit_rate=0.05))
    result = crawl(built_warehouse, EMULATOR_KEY, options(emulator, concurrency=4))
    expected = csv_video_ids(sample_csv)
    assert result.status == "completed"
    rows, pairs, videos, crawls = snapshot_counts(built_warehouse)
    assert videos == expected
    assert rows == pairs == len(expected)
    assert crawls == {result.crawl_id}
    stats = emulator.state.stats()
    assert sum(v for k, v in stats["responses"].items() if k[0] == "5") > 0  # faults did happen
    # Every request the emulator charged is in the ledger (retries included) and in the run.
    charged = sum(stats["quota_used"].values())
    assert query(built_warehouse, "SELECT sum(quota_units) FROM raw.quota_ledger")[0][0] == charged
    assert query(built_warehouse, "SELECT api_calls, ids_ok + ids_not_found, status FROM raw.crawl_runs") == [
        (charged, len(expected), "completed")]
    assert result.quota_units == charged > -(-len(expected) // 50)  # more than one call per batch: retries
    # not_found rows are the videos the emulator no longer serves
    missing = {v for v in expected if emulator.state.universe.state(v, emulator.now()) is None}
    assert {r[0] for r in query(built_warehouse,
            "SELECT video_id FROM raw.youtube_snapshots WHERE status = 'not_found'")} == missing


def test_quota_exhaustion_pauses_and_the_next_day_resumes(built_warehouse, sample_csv, emulator_for):
    expected = csv_video_ids(sample_csv)
    batches = -(-len(expected) // 50)
    emulator = emulator_for(daily_quota=4)
    results = []
    for _ in range(2 * batches):  # 4 calls a day: at most ceil(calls / 4) days needed
        result = crawl(built_warehouse, EMULATOR_KEY, options(emulator, concurrency=2))
        results.append(result)
        if result.complete:
            break
        assert (result.status, result.stop_reason) == ("paused", "quota_exceeded")
        emulator.advance_days(1)
    assert results[-1].complete
    # One crawl = its video batches, then one channels.list batch per 50 distinct channels of
    # its available videos (counted here from the video snapshots with plain SQL).
    channels = query(built_warehouse, "SELECT count(DISTINCT channel_id) FROM raw.youtube_snapshots "
                                      "WHERE status = 'ok'")[0][0]
    calls = batches + -(-channels // 50)
    assert len(results) == -(-calls // 4)
    assert emulator.state.stats()["calls"] == {"videos": batches, "channels": -(-channels // 50)}
    assert all(r.crawl_id == results[0].crawl_id for r in results)  # one crawl, resumed
    assert [r.resumed for r in results] == [False] + [True] * (len(results) - 1)
    rows, pairs, videos, crawls = snapshot_counts(built_warehouse)
    assert videos == expected and rows == pairs == len(expected)
    # The ledger has one API day per invocation, 4 units each (the last may use fewer).
    ledger = query(built_warehouse, "SELECT api_day, sum(quota_units) FROM raw.quota_ledger GROUP BY 1 ORDER BY 1")
    assert len(ledger) == len(results)
    assert all(units == 4 for _day, units in ledger[:-1])


def test_daily_budget_stops_cleanly_and_counts_in_api_days(built_warehouse, sample_csv, emulator_for):
    emulator = emulator_for()
    first = crawl(built_warehouse, EMULATOR_KEY, options(emulator, daily_budget=5, concurrency=3))
    assert (first.status, first.stop_reason, first.quota_units) == ("paused", "budget_exhausted", 5)
    assert first.batches_done == 5
    # Same API day: nothing left to spend, nothing sent.
    again = crawl(built_warehouse, EMULATOR_KEY, options(emulator, daily_budget=5))
    assert (again.status, again.quota_units, again.crawl_id) == ("paused", 0, first.crawl_id)
    assert sum(emulator.state.quota_used.values()) == 5
    # The API's next day (its clock, not this machine's) has a fresh budget.
    emulator.advance_days(1)
    third = crawl(built_warehouse, EMULATOR_KEY, options(emulator, daily_budget=5))
    assert third.quota_units == 5 and third.batches_done == 10 and third.crawl_id == first.crawl_id
    rows, pairs, _videos, _ = snapshot_counts(built_warehouse)
    assert rows == pairs == 10 * 50


def test_completed_crawl_is_followed_by_a_new_one(built_warehouse, emulator_for):
    emulator = emulator_for()
    first = crawl(built_warehouse, EMULATOR_KEY, options(emulator))
    emulator.advance_days(1)
    second = crawl(built_warehouse, EMULATOR_KEY, options(emulator))
    assert first.complete and second.complete and not second.resumed
    assert first.crawl_id != second.crawl_id
    rows, pairs, videos, crawls = snapshot_counts(built_warehouse)
    assert rows == pairs == 2 * len(videos) and crawls == {first.crawl_id, second.crawl_id}


def test_invalid_key_fails_at_once_and_the_crawl_resumes_with_a_good_key(built_warehouse, emulator_for):
    emulator = emulator_for()
    with pytest.raises(CrawlError, match="YOUTUBE_API_KEY"):
        crawl(built_warehouse, "not-the-key", options(emulator, concurrency=1))
    assert sum(emulator.state.responses.get(k, 0) for k in ("400 API_KEY_INVALID",)) == 1
    assert query(built_warehouse, "SELECT status, stop_reason FROM raw.crawl_runs") == [("failed", "key_invalid")]
    result = crawl(built_warehouse, EMULATOR_KEY, options(emulator))
    assert result.complete and result.resumed


def test_fresh_abandons_the_unfinished_crawl(built_warehouse, emulator_for):
    emulator = emulator_for()
    paused = crawl(built_warehouse, EMULATOR_KEY, options(emulator, daily_budget=2))
    assert paused.status == "paused"
    emulator.advance_days(1)
    fresh = crawl(built_warehouse, EMULATOR_KEY, options(emulator, fresh=True))
    assert fresh.complete and fresh.crawl_id != paused.crawl_id
    assert query(built_warehouse, "SELECT status FROM raw.crawl_runs WHERE crawl_id = ?", [paused.crawl_id]) == [
        ("abandoned",)]


def test_a_second_crawl_of_the_same_warehouse_is_refused(built_warehouse, emulator_for):
    from filelock import FileLock

    from ingestion.youtube.crawler import crawl_lock_path

    emulator = emulator_for()
    with FileLock(str(crawl_lock_path(built_warehouse))):
        with pytest.raises(CrawlError, match="another crawl"):
            crawl(built_warehouse, EMULATOR_KEY, options(emulator))


def charged(emulator) -> int:
    """Calls the emulator charged (its own count; the crawler's keyless clock probe is free)."""
    return sum(emulator.state.stats()["quota_used"].values())


def test_finding_6_malformed_200s_are_retried_and_never_stored_as_not_found(built_warehouse, sample_csv,
                                                                             emulator_for):
    """Issue #9, finding 6: 200 answers without `items` were read as "all 50 ids not found"
    (~1,650 live videos recorded as deleted) and the crawl still said completed. Now a
    body without `items`, with `items: null`, cut short or with a negative count is retried,
    and the videos stored as not found are exactly those the API no longer has."""
    emulator = emulator_for(Faults(missing_items_rate=0.15, null_items_rate=0.12, truncated_rate=0.1,
                                   bad_count_rate=0.08))
    result = crawl(built_warehouse, EMULATOR_KEY, options(emulator, concurrency=4))
    expected = csv_video_ids(sample_csv)
    gone = {v for v in expected if emulator.state.universe.state(v, emulator.now()) is None}
    stored_gone = {r[0] for r in query(built_warehouse,
                                       "SELECT video_id FROM raw.youtube_snapshots WHERE status = 'not_found'")}
    assert len(stored_gone - gone) == 0, f"{len(stored_gone - gone)} live videos stored as not found"
    assert stored_gone == gone and len(gone) < 0.05 * len(expected)
    responses = emulator.state.stats()["responses"]
    for fault in ("200 without items", "200 items null", "200 truncated", "200 negative count"):
        assert responses.get(fault, 0) > 0, (fault, responses)
    rows, pairs, videos, _ = snapshot_counts(built_warehouse)
    assert videos == expected and rows == pairs == len(expected)
    assert (result.status, result.published) == ("completed", True)
    assert query(built_warehouse, "SELECT min(view_count) >= 0 FROM raw.youtube_snapshots")[0][0]
    assert query(built_warehouse, "SELECT sum(quota_units) FROM raw.quota_ledger")[0][0] == charged(emulator)


def test_finding_6_answers_that_stay_malformed_pause_the_crawl_unpublished(built_warehouse, emulator_for):
    emulator = emulator_for(Faults(missing_items_rate=0.5, null_items_rate=0.5))
    result = crawl(built_warehouse, EMULATOR_KEY, options(emulator, concurrency=2))
    assert (result.status, result.stop_reason) == ("paused", "malformed_response")
    assert not result.published
    assert "malformed videos.list answer" in result.message
    assert query(built_warehouse, "SELECT count(*) FROM raw.youtube_snapshots")[0][0] == 0
    assert query(built_warehouse, "SELECT status, published_at FROM raw.crawl_runs") == [("paused", None)]
    assert query(built_warehouse, "SELECT sum(quota_units) FROM raw.quota_ledger")[0][0] == charged(emulator) > 0
    emulator.set_faults(Faults())  # the API answers properly again: the same crawl resumes
    again = crawl(built_warehouse, EMULATOR_KEY, options(emulator))
    assert again.complete and again.resumed and again.crawl_id == result.crawl_id
    assert query(built_warehouse, "SELECT count(*) FROM raw.youtube_snapshots WHERE status = 'not_found'")[0][0] \
        == again.ids_not_found < 0.05 * again.ids_requested
