"""SIGKILL a crawl at random points, several times, then resume: nothing lost, nothing twice,
no call missing from the quota ledger, nothing published before it is whole."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from ingestion.youtube import crawl
from ingestion.youtube.emulator import Faults
from tunehouse.settings import PROJECT_ROOT

from ._support import EMULATOR_KEY, csv_video_ids, options

pytestmark = pytest.mark.xdist_group("youtube_crawl")

CRAWLER = """
import sys
from ingestion.youtube import CrawlOptions, RetryPolicy, crawl
crawl(sys.argv[1], sys.argv[2], CrawlOptions(base_url=sys.argv[3], concurrency=2,
      retry=RetryPolicy(initial_wait_s=0.001, max_wait_s=0.01)))
"""


def served(emulator) -> int:
    """Keyed requests answered so far (the crawler's keyless clock probe is not one)."""
    return sum(n for outcome, n in emulator.state.stats()["responses"].items() if outcome != "403 forbidden")


def charged(emulator) -> int:
    """Calls the emulator charged quota for: its own count, independent of the crawler."""
    return sum(emulator.state.stats()["quota_used"].values())


def wait_until_idle(emulator, timeout_s: float = 60) -> None:
    """Until no request is being answered (a killed client's calls still get served and charged)."""
    deadline = time.monotonic() + timeout_s
    while emulator.state.stats()["active"]:
        if time.monotonic() > deadline:
            pytest.fail(f"the emulator is still answering after {timeout_s}s")
        time.sleep(0.01)


def ledger_units(warehouse) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("SELECT coalesce(sum(quota_units), 0) FROM raw.quota_ledger").fetchall()[0][0]
    finally:
        con.close()


def published_partially(warehouse) -> int:
    """Published crawls that lack a snapshot of one of their targets (must be none)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            """
            SELECT count(*) FROM raw.crawl_runs r
            JOIN raw.crawl_targets t USING (crawl_id)
            ANTI JOIN raw.youtube_snapshots s ON s.crawl_id = t.crawl_id AND s.video_id = t.video_id
            WHERE r.published_at IS NOT NULL
            """
        ).fetchall()[0][0]
    finally:
        con.close()


def start_crawler(warehouse, emulator) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", CRAWLER, str(warehouse), EMULATOR_KEY, emulator.base_url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def test_finding_7_the_ledger_never_under_counts_a_killed_crawl(built_warehouse, emulator_for):
    """Issue #9, finding 7: after 10 kills, 31 of the 411 calls the API served were missing from
    raw.quota_ledger (the ledger was written after the answers). Now every call is on the
    ledger before it is sent: kill the crawler while its calls are in flight (answers take
    0.4 s), let the emulator answer (and charge) them, and the ledger holds at least as many
    units as the emulator charged, after every kill; a kill leaves at most the unused
    reservations over (prefetch + one per thread)."""
    emulator = emulator_for(Faults(latency_s=0.4))
    rng = random.Random(7)
    concurrency, kills = 2, 0
    for round_no in range(3):
        before = emulator.state.stats()["received"]
        proc = start_crawler(built_warehouse, emulator)
        # Kill once this process has sent calls: the first time at its first call (nothing
        # answered yet), then a few calls later, at a random moment.
        target = before + 1 + (rng.randint(1, 4) if round_no else 0)
        while emulator.state.stats()["received"] < target and proc.poll() is None:
            time.sleep(0.002)
        if round_no:
            time.sleep(rng.uniform(0, 0.3))
        assert proc.poll() is None, f"the crawler ended before the kill: {proc.stderr.read().decode()[-500:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()
        kills += 1
        wait_until_idle(emulator)
        assert ledger_units(built_warehouse) >= charged(emulator) > 0, f"after kill {kills}"
    final = crawl(built_warehouse, EMULATOR_KEY, options(emulator, concurrency=concurrency))
    assert final.complete and final.resumed
    ledger, api = ledger_units(built_warehouse), charged(emulator)
    assert api <= ledger <= api + kills * 3 * concurrency


def test_killed_crawls_resume_without_loss_or_duplicates(built_warehouse, sample_csv, emulator_for):
    emulator = emulator_for(Faults(latency_s=0.08, server_error_rate=0.05))
    expected = csv_video_ids(sample_csv)
    batches = -(-len(expected) // 50)
    rng = random.Random(20230207)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    kills = 0
    for _ in range(4):
        # Requests the previous (killed) process left in flight are still being answered:
        # let them drain, so the next target counts only this process's requests.
        time.sleep(0.3)
        target = served(emulator) + rng.randint(2, max(3, batches // 4))
        proc = subprocess.Popen(
            [sys.executable, "-c", CRAWLER, str(built_warehouse), EMULATOR_KEY, emulator.base_url],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        # Wait for the crawl to get somewhere (measured in requests served, not in time),
        # then kill it at a random moment: mid-request, mid-commit or in between.
        while served(emulator) < target and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.12))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        if proc.returncode not in (0, -signal.SIGKILL):
            pytest.fail(f"crawler exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        proc.stderr.close()
        assert published_partially(built_warehouse) == 0
    assert kills >= 3, "the crawl finished before it could be killed; raise the latency"

    final = crawl(built_warehouse, EMULATOR_KEY, options(emulator))
    assert final.complete and final.resumed

    con = duckdb.connect(str(built_warehouse), read_only=True)
    try:
        rows, pairs = con.execute(
            "SELECT count(*), count(DISTINCT (video_id, crawl_id)) FROM raw.youtube_snapshots").fetchall()[0]
        videos = {r[0] for r in con.execute("SELECT video_id FROM raw.youtube_snapshots").fetchall()}
        crawls = con.execute("SELECT crawl_id, invocations, status FROM raw.crawl_runs").fetchall()
        # Every batch marker has exactly its batch's snapshots, and vice versa.
        mismatched = con.execute(
            """
            SELECT count(*) FROM raw.crawl_targets t
            FULL JOIN raw.youtube_snapshots s USING (crawl_id, video_id)
            LEFT JOIN raw.crawl_batches b ON b.crawl_id = coalesce(t.crawl_id, s.crawl_id)
                                         AND b.batch_no = coalesce(t.batch_no, s.batch_no)
            WHERE t.video_id IS NULL OR s.video_id IS NULL OR b.batch_no IS NULL OR t.batch_no <> s.batch_no
            """
        ).fetchall()[0][0]
        markers = con.execute("SELECT count(*) FROM raw.crawl_batches").fetchall()[0][0]
    finally:
        con.close()
    assert videos == expected
    assert rows == pairs == len(expected)
    assert mismatched == 0 and markers == batches
    assert len(crawls) == 1 and crawls[0][2] == "completed"
    assert crawls[0][1] >= kills + 1  # every killed run resumed the same crawl
    wait_until_idle(emulator)
    assert ledger_units(built_warehouse) >= charged(emulator)


def channel_calls(emulator) -> int:
    """channels.list calls the emulator charged (its own count)."""
    return emulator.state.stats()["calls"].get("channels", 0)


def channel_invariants(warehouse) -> tuple[int, int]:
    """After any kill: no channel twice in a crawl, and every channel batch marker has exactly its
    batch's snapshots (and no snapshot is without its marker). Returns (snapshots, markers)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows, pairs = con.execute(
            "SELECT count(*), count(DISTINCT (channel_id, crawl_id)) FROM raw.channel_snapshots").fetchall()[0]
        mismatched = con.execute(
            """
            SELECT count(*) FROM raw.crawl_channel_targets t
            JOIN raw.crawl_channel_batches b USING (crawl_id, batch_no)
            FULL JOIN raw.channel_snapshots s ON s.crawl_id = t.crawl_id AND s.channel_id = t.channel_id
            WHERE t.channel_id IS NULL OR s.channel_id IS NULL OR s.batch_no <> t.batch_no
            """
        ).fetchall()[0][0]
        markers = con.execute("SELECT count(*) FROM raw.crawl_channel_batches").fetchall()[0][0]
    finally:
        con.close()
    assert rows == pairs, "a channel snapshotted twice in one crawl"
    assert mismatched == 0, "channel snapshots and their batch markers disagree"
    return rows, markers


def test_killed_during_the_channel_phase_resumes_each_channel_once(built_warehouse, emulator_for, tmp_path):
    """Issue #14: SIGKILL a real crawl process while its channel batches are being fetched and
    committed (the video phase done before), several times, syncing the lake in between; then
    resume: every channel snapshot exactly once, markers and snapshots agree, the ledger holds at
    least every call the emulator charged, and the lake never shows a partial file or any of the
    unpublished crawl, then holds its channels once."""
    from warehouse.lake import lake_files, read_table_sql, sync

    emulator = emulator_for()
    con = duckdb.connect(str(built_warehouse), read_only=True)
    videos = con.execute("SELECT count(DISTINCT video_id) FROM intermediate.int_kaggle_videos").fetchall()[0][0]
    con.close()
    # Batches of 4 ids and one unit per video batch: the videos are all in, the channels frozen
    # (in batches of 4: enough to be killed several times mid-phase) and not started.
    paused = crawl(built_warehouse, EMULATOR_KEY,
                   options(emulator, batch_size=4, daily_budget=-(-videos // 4), concurrency=4))
    assert paused.stop_reason == "budget_exhausted" and paused.batches_done == paused.batches_total
    assert paused.channel_batches_total >= 30 and paused.channel_batches_done == 0
    emulator.advance_days(1)
    emulator.set_faults(Faults(latency_s=0.08, server_error_rate=0.05))
    lake = tmp_path / "lake"
    rng = random.Random(14)
    kills = 0
    for _ in range(3):
        time.sleep(0.3)  # requests of the previous (killed) process drain first
        target = channel_calls(emulator) + rng.randint(2, 5)
        proc = start_crawler(built_warehouse, emulator)
        while channel_calls(emulator) < target and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.05, 0.3))  # mid-call, mid-commit, or between
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        if proc.returncode != -signal.SIGKILL:
            pytest.fail(f"the crawler was not killed mid-phase (exit {proc.returncode}; raise the latency): "
                        f"{proc.stderr.read().decode()[-2000:]}")
        proc.stderr.close()
        wait_until_idle(emulator)
        channel_invariants(built_warehouse)
        assert published_partially(built_warehouse) == 0
        assert ledger_units(built_warehouse) >= charged(emulator), f"after kill {kills}"
        sync(built_warehouse, lake)
        for path in lake_files(lake):  # what a reader sees: whole files only ...
            con = duckdb.connect()
            assert con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall() == con.execute(
                f"SELECT sum(num_rows) FROM parquet_file_metadata('{path}')").fetchall(), path
            con.close()
        assert not list(lake.rglob(f"{paused.crawl_id}.parquet")), "the unpublished crawl reached the lake"
    snapshots_before = channel_invariants(built_warehouse)[0]
    assert 0 < snapshots_before < paused.channel_batches_total * 4  # killed mid-phase, some batches in

    emulator.set_faults(Faults())
    final = crawl(built_warehouse, EMULATOR_KEY, options(emulator))
    assert final.complete and final.resumed and final.crawl_id == paused.crawl_id
    rows, markers = channel_invariants(built_warehouse)
    con = duckdb.connect(str(built_warehouse), read_only=True)
    try:
        expected = {c for (c,) in con.execute(
            "SELECT DISTINCT channel_id FROM raw.youtube_snapshots WHERE status = 'ok'").fetchall()}
        stored = {c for (c,) in con.execute("SELECT channel_id FROM raw.channel_snapshots").fetchall()}
        invocations = con.execute("SELECT invocations FROM raw.crawl_runs").fetchall()[0][0]
    finally:
        con.close()
    assert stored == expected and rows == len(expected) and markers == paused.channel_batches_total
    assert invocations >= kills + 2  # every killed run resumed the same crawl
    wait_until_idle(emulator)
    assert ledger_units(built_warehouse) >= charged(emulator)
    sync(built_warehouse, lake)
    con = duckdb.connect()
    try:
        got = con.execute(f"SELECT channel_id, crawl_id FROM ({read_table_sql(lake, 'channel_snapshots')})").fetchall()
    finally:
        con.close()
    assert len(got) == len(set(got)) == len(expected) and {c for c, _ in got} == expected
