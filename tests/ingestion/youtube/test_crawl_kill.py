"""SIGKILL a crawl at random points, several times, then resume: nothing lost, nothing twice."""

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
