"""Write-audit-publish for crawls: a crawl is visible downstream only once it is whole and audited.

The contract (docs/youtube.md): a crawl's snapshots are in staging.stg_youtube_snapshots
(and everything built on it) iff raw.crawl_runs.published_at is set. A crawl is published
when its last batch is in and its audit passes; a paused, killed or rejected crawl never is.
"""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from ingestion.youtube import CrawlError, crawl
from ingestion.youtube.emulator import VideoUniverse, load_seed_videos
from orchestration.dbt import run_dbt
from tunehouse.settings import PROJECT_ROOT

from ._support import EMULATOR_KEY, csv_video_ids, options, query

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("youtube_publish")]

SNAPSHOT_MODELS = ["build", "--select", "stg_youtube_snapshots stg_crawl_runs fct_video_snapshots video_growth"]


def crawl_ids_of(warehouse, relation: str) -> dict[str, int]:
    return dict(query(warehouse, f"SELECT crawl_id, count(*) FROM {relation} GROUP BY 1"))


def test_only_whole_published_crawls_reach_the_models_whatever_order_they_are_published_in(
        built_warehouse, sample_csv, emulator_for):
    """Crawl A pauses (budget) after a few batches; crawl B, of another API, is committed
    after A's first batches and published first; then A completes and is published. The
    models read A whole (its early commits are older than B's: a commit_seq watermark would
    skip them), never its partial state, and agree with a full rebuild."""
    videos = len(csv_video_ids(sample_csv))
    api_a, api_b = emulator_for(), emulator_for()
    paused = crawl(built_warehouse, EMULATOR_KEY, options(api_a, daily_budget=4))
    assert (paused.status, paused.published) == ("paused", False)
    run_dbt(SNAPSHOT_MODELS, built_warehouse)
    assert query(built_warehouse, "SELECT count(*) FROM raw.youtube_snapshots")[0][0] == 4 * 50
    assert crawl_ids_of(built_warehouse, "staging.stg_youtube_snapshots") == {}
    assert crawl_ids_of(built_warehouse, "marts.fct_video_snapshots") == {}

    other = crawl(built_warehouse, EMULATOR_KEY, options(api_b))
    assert other.published
    run_dbt(SNAPSHOT_MODELS, built_warehouse)
    assert crawl_ids_of(built_warehouse, "marts.fct_video_snapshots") == {other.crawl_id: videos}

    api_a.advance_days(1)
    done = crawl(built_warehouse, EMULATOR_KEY, options(api_a))
    assert (done.crawl_id, done.status, done.published) == (paused.crawl_id, "completed", True)
    runs = dict(query(built_warehouse, "SELECT crawl_id, publish_seq FROM raw.crawl_runs"))
    first_commit = query(built_warehouse, "SELECT min(commit_seq) FROM raw.youtube_snapshots WHERE crawl_id = ?",
                         [done.crawl_id])[0][0]
    other_last = query(built_warehouse, "SELECT max(commit_seq) FROM raw.youtube_snapshots WHERE crawl_id = ?",
                       [other.crawl_id])[0][0]
    assert first_commit < other_last < runs[other.crawl_id] < runs[done.crawl_id]
    run_dbt(SNAPSHOT_MODELS, built_warehouse)
    assert crawl_ids_of(built_warehouse, "marts.fct_video_snapshots") == {other.crawl_id: videos,
                                                                          done.crawl_id: videos}
    incremental = query(built_warehouse, "SELECT * FROM marts.video_growth ORDER BY snapshot_id")
    facts = query(built_warehouse, "SELECT * FROM marts.fct_video_snapshots ORDER BY snapshot_id")
    run_dbt([*SNAPSHOT_MODELS, "--full-refresh"], built_warehouse)
    assert query(built_warehouse, "SELECT * FROM marts.fct_video_snapshots ORDER BY snapshot_id") == facts
    assert query(built_warehouse, "SELECT * FROM marts.video_growth ORDER BY snapshot_id") == incremental


def test_a_wave_of_not_found_rejects_the_crawl_and_the_previous_one_stays_current(built_warehouse, emulator_for):
    """The API answers well-formed empty `items` for a quarter of the live videos: the audit
    compares the not-found share with the previous published crawl's, rejects the crawl with
    its reason (queryable), `tunehouse crawl` exits 1 with one line, nothing is published; a
    raised threshold (TUNEHOUSE_CRAWL_MAX_NOT_FOUND_JUMP) lets the next, fresh crawl through."""
    emulator = emulator_for()
    first = crawl(built_warehouse, EMULATOR_KEY, options(emulator))
    assert first.published
    emulator.advance_days(1)
    seeds = load_seed_videos(built_warehouse)
    emulator.state.universe = VideoUniverse(seeds, gone_at_start=0.25)  # a wave of "deleted" videos
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "YOUTUBE_API_KEY": EMULATOR_KEY}
    cli = [sys.executable, "-m", "orchestration.cli", "crawl", "--base-url", emulator.base_url,
           "--warehouse", str(built_warehouse)]
    proc = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "rejected by its audit" in lines[0] and "not-found share jumped" in lines[0], (
        proc.stderr[-2000:])
    [(crawl_id, status, reason, published)] = query(
        built_warehouse,
        "SELECT crawl_id, status, rejection_reason, published_at FROM raw.crawl_runs WHERE crawl_id <> ?",
        [first.crawl_id])
    assert (status, published) == ("rejected", None) and "not-found share jumped" in reason
    gone = sum(emulator.state.universe.state(v.video_id, emulator.now()) is None for v in seeds)
    assert query(built_warehouse, "SELECT ids_not_found FROM raw.crawl_runs WHERE crawl_id = ?",
                 [crawl_id])[0][0] == gone > 0.2 * len(seeds)
    run_dbt(SNAPSHOT_MODELS, built_warehouse)
    assert set(crawl_ids_of(built_warehouse, "marts.fct_video_snapshots")) == {first.crawl_id}

    # The same wave, accepted by a higher threshold: a new crawl (the rejected one is final).
    emulator.advance_days(1)
    proc = subprocess.run(cli, env={**env, "TUNEHOUSE_CRAWL_MAX_NOT_FOUND_JUMP": "0.9"},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    published = query(built_warehouse, "SELECT crawl_id FROM raw.crawl_runs WHERE published_at IS NOT NULL "
                                       "ORDER BY publish_seq")
    assert len(published) == 2 and published[0][0] == first.crawl_id and published[1][0] != crawl_id


def test_the_audit_rejects_a_crawl_whose_snapshots_do_not_match_its_targets(built_warehouse, emulator_for):
    """Tampered between two invocations (a committed batch lost a snapshot, another got a
    negative count): when the last batch is in, the audit names both and nothing is published."""
    emulator = emulator_for()
    paused = crawl(built_warehouse, EMULATOR_KEY, options(emulator, daily_budget=3))
    assert paused.status == "paused"
    con = duckdb.connect(str(built_warehouse))
    con.execute("DELETE FROM raw.youtube_snapshots WHERE video_id = (SELECT min(video_id) FROM "
                "raw.youtube_snapshots WHERE batch_no = 0)")
    con.execute("UPDATE raw.youtube_snapshots SET view_count = -5 WHERE video_id = (SELECT min(video_id) FROM "
                "raw.youtube_snapshots WHERE batch_no = 1 AND status = 'ok')")
    con.close()
    emulator.advance_days(1)
    with pytest.raises(CrawlError) as info:
        crawl(built_warehouse, EMULATOR_KEY, options(emulator))
    message = str(info.value)
    assert "\n" not in message and "rejected by its audit" in message
    assert "1 of" in message and "have no snapshot" in message and "1 snapshots have a negative count" in message
    assert query(built_warehouse, "SELECT status, stop_reason, published_at, publish_seq FROM raw.crawl_runs") == [
        ("rejected", "audit_failed", None, None)]
    # A rejected crawl is final: the next invocation starts afresh (and is published).
    emulator.advance_days(1)
    fresh = crawl(built_warehouse, EMULATOR_KEY, options(emulator))
    assert fresh.published and not fresh.resumed and fresh.crawl_id != paused.crawl_id


def test_a_warehouse_from_before_write_audit_publish_builds_then_upgrades(built_warehouse, emulator_for):
    """A warehouse whose raw tables and incremental marts predate publish_seq (as an older
    tunehouse left them, with a paused crawl's batches already in the marts): a plain build
    reads its completed crawls as published and rebuilds the marts without the paused
    crawl; the upgrade a crawl or load then applies (the DDL's backfill) changes nothing
    downstream; and the next crawl is read by the next incremental build."""
    emulator = emulator_for()
    done = crawl(built_warehouse, EMULATOR_KEY, options(emulator))
    emulator.advance_days(1)
    paused = crawl(built_warehouse, EMULATOR_KEY, options(emulator, daily_budget=3))
    assert paused.status == "paused"
    run_dbt(SNAPSHOT_MODELS, built_warehouse)
    con = duckdb.connect(str(built_warehouse))
    for table, column in [("raw.crawl_runs", "published_at"), ("raw.crawl_runs", "publish_seq"),
                          ("raw.crawl_runs", "rejection_reason"), ("raw.quota_ledger", "entry"),
                          ("marts.fct_video_snapshots", "publish_seq"), ("marts.video_growth", "publish_seq")]:
        con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    # the older models showed every committed snapshot, the paused crawl's too
    con.execute("INSERT INTO marts.fct_video_snapshots SELECT s.video_id || '@' || s.crawl_id, s.video_id, "
                "s.crawl_id, 1, s.commit_seq, s.observed_at, CAST(s.observed_at AS DATE), s.status, "
                "s.status = 'ok', s.published_at, s.channel_id, s.channel_title, s.video_title, s.view_count, "
                "s.like_count, s.comment_count FROM raw.youtube_snapshots s WHERE s.crawl_id = ?", [paused.crawl_id])
    con.close()

    run_dbt(SNAPSHOT_MODELS, built_warehouse)  # before any crawl or load upgrades raw
    assert set(crawl_ids_of(built_warehouse, "marts.fct_video_snapshots")) == {done.crawl_id}
    assert query(built_warehouse, "SELECT crawl_id, is_published FROM staging.stg_crawl_runs ORDER BY 1") == sorted(
        [(done.crawl_id, True), (paused.crawl_id, False)])
    before = query(built_warehouse, "SELECT * FROM marts.video_growth ORDER BY snapshot_id")

    emulator.advance_days(1)
    resumed = crawl(built_warehouse, EMULATOR_KEY, options(emulator))  # applies the DDL, then completes
    assert resumed.crawl_id == paused.crawl_id and resumed.published
    [(done_seq,)] = query(built_warehouse, "SELECT publish_seq FROM raw.crawl_runs WHERE crawl_id = ?",
                          [done.crawl_id])
    assert done_seq == query(built_warehouse, "SELECT max(commit_seq) FROM raw.youtube_snapshots WHERE crawl_id = ?",
                             [done.crawl_id])[0][0]
    run_dbt(SNAPSHOT_MODELS, built_warehouse)
    assert set(crawl_ids_of(built_warehouse, "marts.fct_video_snapshots")) == {done.crawl_id, paused.crawl_id}
    after = {r[0]: r for r in query(built_warehouse, "SELECT * FROM marts.video_growth ORDER BY snapshot_id")}
    assert all(after[r[0]] == r for r in before if r[0].endswith(done.crawl_id))
    incremental = query(built_warehouse, "SELECT * FROM marts.video_growth ORDER BY snapshot_id")
    run_dbt([*SNAPSHOT_MODELS, "--full-refresh"], built_warehouse)
    assert query(built_warehouse, "SELECT * FROM marts.video_growth ORDER BY snapshot_id") == incremental


def test_crawl_with_build_from_the_cli_publishes_and_builds_the_snapshot_models(built_warehouse, emulator_for):
    """`tunehouse crawl --build` (no partition given: the crawl's own API day) crawls, publishes,
    then builds the dbt models downstream of the snapshots in the same run: the new crawl's rows
    reach marts.fct_video_snapshots and marts.video_growth."""
    emulator = emulator_for()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "YOUTUBE_API_KEY": EMULATOR_KEY}
    cli = [sys.executable, "-m", "orchestration.cli", "crawl", "--build", "--base-url", emulator.base_url,
           "--warehouse", str(built_warehouse)]
    proc = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [(crawl_id, ok, videos)] = query(
        built_warehouse, "SELECT crawl_id, ids_ok, ids_ok + ids_not_found FROM raw.crawl_runs "
                         "WHERE published_at IS NOT NULL ORDER BY publish_seq DESC LIMIT 1")
    built = [line for line in proc.stdout.splitlines() if "dbt assets downstream" in line]
    assert built and int(built[0].split()[1]) > 0, proc.stdout
    assert crawl_ids_of(built_warehouse, "marts.fct_video_snapshots").get(crawl_id) == videos > 0
    assert crawl_ids_of(built_warehouse, "marts.video_growth").get(crawl_id) == ok  # growth of live videos
