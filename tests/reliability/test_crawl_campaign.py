"""The crawl campaign of issue #9, as tests: faults, SIGKILLs, the key.

1. Faults: crawls through the emulator injecting 5xx, 403/429 rate limits, dropped
   connections, JSON cut short, 200s without `items` or with `items: null`, negative
   counts, slow answers, and a daily quota that runs out mid-crawl (403 quotaExceeded,
   resumed the next API day). After every invocation: the ledger equals the calls the
   emulator charged (its own count; no kill, so exactly), nothing is published partially;
   after each completed crawl: every target exactly once, and every snapshot is what the
   emulator's universe says the video was at the snapshot's observed_at (a video stored as
   not found is one the API no longer has); the same for the crawl's channel snapshots.
2. Kills: a real `tunehouse crawl` subprocess SIGKILLed at seeded random points (measured
   in calls the emulator received), then resumed, several times; after each kill: no
   snapshot twice, batch markers and snapshots agree, the ledger >= the calls charged,
   nothing published partially. A last `tunehouse crawl` completes it and `tunehouse build`
   builds the models: the crawls they show are exactly the published ones.
3. The key: searched for in every file the runs produced (the warehouse folder and its
   logs, the Dagster home, dbt's target folder) and in every column of every table and
   view of the warehouse: 0 occurrences.

By default a seeded sample (2 API days of faults, 3 kills); `pytest -m campaign` runs the
long variant (6 days, 10 kills, two emulator seeds). Each test prints its figures
(docs/reliability.md, "Crawls").
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from ingestion.youtube import CrawlOptions, RetryPolicy, crawl
from ingestion.youtube.emulator import EmulatorServer, Faults, VideoUniverse, load_seed_videos
from tunehouse.settings import DBT_PROJECT_DIR, PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("crawl_campaign")]

#: A fresh key per session: found anywhere means it leaked (it is never printed).
SECRET = f"campaign-key-{secrets.token_hex(16)}"
FAST_RETRY = RetryPolicy(max_attempts=12, initial_wait_s=0.001, max_wait_s=0.01)

FAULTS = Faults(
    server_error_rate=0.08, rate_limit_rate=0.05, drop_rate=0.04, truncated_rate=0.05, missing_items_rate=0.05,
    null_items_rate=0.05, bad_count_rate=0.04, slow_rate=0.1, slow_s=0.05,
)
#: Fault -> the emulator's outcome names for it (its own count of what it served).
FAULT_KINDS = {
    "5xx": ("500 backendError", "503 backendError"),
    "rate limit (403/429)": ("403 rateLimit", "429 rateLimit"),
    "quotaExceeded": ("403 quotaExceeded",),
    "dropped connection": ("dropped",),
    "truncated JSON": ("200 truncated",),
    "200 without items": ("200 without items",),
    "200 with items null": ("200 items null",),
    "negative count": ("200 negative count",),
    "slow answer": ("slow",),
}


@dataclass(frozen=True)
class Variant:
    days: int          # API days of fault crawls (one full crawl per day)
    quota: int         # the emulator's daily quota on the first day (runs out mid-crawl)
    kills: int
    seed: int


SAMPLE = Variant(days=2, quota=12, kills=3, seed=7)
LONG = [Variant(days=6, quota=12, kills=10, seed=7), Variant(days=6, quota=20, kills=10, seed=11)]


def _query(warehouse: Path, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def charged(emulator: EmulatorServer) -> int:
    return sum(emulator.state.stats()["quota_used"].values())


def ledger(warehouse: Path, emulator: EmulatorServer) -> int:
    """Units on the ledger for the crawls of `emulator`'s API."""
    return _query(warehouse, "SELECT coalesce(sum(l.quota_units), 0) FROM raw.quota_ledger l "
                             "JOIN raw.crawl_runs r USING (crawl_id) WHERE r.base_url = ?", [emulator.base_url])[0][0]


def wait_until_idle(emulator: EmulatorServer, timeout_s: float = 120) -> None:
    """Until no request is being answered (a killed client's calls are still served and charged)."""
    deadline = time.monotonic() + timeout_s
    while emulator.state.stats()["active"]:
        if time.monotonic() > deadline:
            pytest.fail(f"the emulator still answers after {timeout_s}s")
        time.sleep(0.01)


def check_invariants(warehouse: Path) -> None:
    """After any invocation, killed or not."""
    rows, pairs = _query(warehouse, "SELECT count(*), count(DISTINCT (video_id, crawl_id)) FROM raw.youtube_snapshots")[0]
    assert rows == pairs, "a video snapshotted twice in one crawl"
    # A batch is done iff it has a marker; its snapshots are exactly its targets.
    mismatched = _query(warehouse, """
        SELECT count(*) FROM raw.crawl_targets t
        JOIN raw.crawl_batches b USING (crawl_id, batch_no)
        FULL JOIN raw.youtube_snapshots s ON s.crawl_id = t.crawl_id AND s.video_id = t.video_id
        WHERE t.video_id IS NULL OR s.video_id IS NULL OR s.batch_no <> t.batch_no
    """)[0][0]
    assert mismatched == 0, "snapshots and batch markers disagree"
    partial = _query(warehouse, """
        SELECT r.crawl_id FROM raw.crawl_runs r
        WHERE r.published_at IS NOT NULL AND (
            r.status <> 'completed'
            OR (SELECT count(*) FROM raw.youtube_snapshots s WHERE s.crawl_id = r.crawl_id) <> r.ids_requested
            OR EXISTS (SELECT 1 FROM raw.crawl_targets t WHERE t.crawl_id = r.crawl_id AND NOT EXISTS (
                SELECT 1 FROM raw.youtube_snapshots s WHERE s.crawl_id = t.crawl_id AND s.video_id = t.video_id)))
    """)
    assert partial == [], f"published but not whole: {partial}"
    # The channel phase (issue #14): the same rules, and a published crawl has all its channels.
    rows, pairs = _query(warehouse, "SELECT count(*), count(DISTINCT (channel_id, crawl_id)) FROM raw.channel_snapshots")[0]
    assert rows == pairs, "a channel snapshotted twice in one crawl"
    mismatched = _query(warehouse, """
        SELECT count(*) FROM raw.crawl_channel_targets t
        JOIN raw.crawl_channel_batches b USING (crawl_id, batch_no)
        FULL JOIN raw.channel_snapshots s ON s.crawl_id = t.crawl_id AND s.channel_id = t.channel_id
        WHERE t.channel_id IS NULL OR s.channel_id IS NULL OR s.batch_no <> t.batch_no
    """)[0][0]
    assert mismatched == 0, "channel snapshots and their batch markers disagree"
    partial = _query(warehouse, """
        SELECT r.crawl_id FROM raw.crawl_runs r
        WHERE r.published_at IS NOT NULL AND (
            r.channel_batches_total IS NULL
            OR (SELECT count(*) FROM raw.channel_snapshots s WHERE s.crawl_id = r.crawl_id) <> r.channels_requested
            OR EXISTS (SELECT DISTINCT channel_id FROM raw.youtube_snapshots v
                       WHERE v.crawl_id = r.crawl_id AND v.status = 'ok'
                       EXCEPT SELECT channel_id FROM raw.channel_snapshots c WHERE c.crawl_id = r.crawl_id))
    """)
    assert partial == [], f"published without all its channels: {partial}"


def check_completed_crawl(warehouse: Path, crawl_id: str, universe: VideoUniverse) -> None:
    """Every target once, and each snapshot is the universe's video at the snapshot's time."""
    targets = {v for (v,) in _query(warehouse, "SELECT video_id FROM raw.crawl_targets WHERE crawl_id = ?",
                                    [crawl_id])}
    snaps = _query(warehouse, "SELECT video_id, observed_at, status, view_count, like_count, comment_count "
                              "FROM raw.youtube_snapshots WHERE crawl_id = ?", [crawl_id])
    assert len(snaps) == len(targets) and {s[0] for s in snaps} == targets
    for video_id, observed_at, status, views, likes, comments in snaps:
        truth = universe.state(video_id, observed_at)
        if truth is None:
            assert status == "not_found", video_id
        else:
            assert status == "ok", f"{video_id} is live at {observed_at} but stored as {status}"
            assert (views, likes, comments) == (truth.view_count, truth.like_count, truth.comment_count)
    channels = _query(warehouse, "SELECT channel_id, observed_at, status, view_count, subscriber_count, video_count "
                                 "FROM raw.channel_snapshots WHERE crawl_id = ?", [crawl_id])
    assert {c[0] for c in channels} == {c for (c,) in _query(
        warehouse, "SELECT DISTINCT channel_id FROM raw.youtube_snapshots WHERE crawl_id = ? AND status = 'ok'",
        [crawl_id])}
    for channel_id, observed_at, status, views, subscribers, videos in channels:
        truth = universe.channel_state(channel_id, observed_at)
        if truth is None:
            assert status == "not_found", channel_id
        else:
            assert status == "ok", f"channel {channel_id} exists at {observed_at} but is stored as {status}"
            assert (views, subscribers, videos) == (truth.view_count, truth.subscriber_count, truth.video_count)
    [(published,)] = _query(warehouse, "SELECT published_at IS NOT NULL FROM raw.crawl_runs WHERE crawl_id = ?",
                            [crawl_id])
    assert published


def fault_campaign(warehouse: Path, variant: Variant) -> dict:
    universe = VideoUniverse(load_seed_videos(warehouse), seed=variant.seed)
    emulator = EmulatorServer(universe, api_keys={SECRET}, faults=FAULTS, daily_quota=variant.quota,
                              seed=variant.seed).start()
    stops: Counter[str] = Counter()
    invocations = 0
    try:
        for day in range(variant.days):
            for _ in range(40):
                result = crawl(warehouse, SECRET, CrawlOptions(base_url=emulator.base_url, retry=FAST_RETRY))
                invocations += 1
                check_invariants(warehouse)
                assert ledger(warehouse, emulator) == charged(emulator), "the ledger differs from the calls charged"
                if result.complete:
                    check_completed_crawl(warehouse, result.crawl_id, universe)
                    break
                stops[result.stop_reason] += 1
                if result.stop_reason == "quota_exceeded":
                    emulator.advance_days(1)  # the next API day has a fresh quota
                    emulator.state.daily_quota = 10_000
            else:
                pytest.fail("the crawl did not complete in 40 invocations")
            emulator.advance_days(1)
        stats = emulator.state.stats()
    finally:
        emulator.stop()
    assert stops["quota_exceeded"] >= 1
    faults = {kind: sum(stats["responses"].get(o, 0) for o in outcomes) for kind, outcomes in FAULT_KINDS.items()}
    assert all(faults.values()), f"faults never injected: {[k for k, n in faults.items() if not n]}"
    return {"crawls": variant.days, "invocations": invocations, "stops": dict(stops),
            "faults": faults, "faults_total": sum(faults.values()),
            "calls_charged": sum(stats["quota_used"].values()), "ledger_units": ledger(warehouse, emulator)}


CLI = [sys.executable, "-m", "orchestration.cli", "crawl"]


def kill_campaign(warehouse: Path, variant: Variant, log_dir: Path) -> dict:
    """`tunehouse crawl` SIGKILLed at random points, resumed; then a whole crawl and `tunehouse build`."""
    universe = VideoUniverse(load_seed_videos(warehouse), seed=variant.seed)
    emulator = EmulatorServer(universe, api_keys={SECRET}, seed=variant.seed,
                              faults=Faults(server_error_rate=0.04, rate_limit_rate=0.02, latency_s=0.05)).start()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "YOUTUBE_API_KEY": SECRET,
           "TUNEHOUSE_WAREHOUSE": str(warehouse), "TUNEHOUSE_CRAWL_CONCURRENCY": "2"}
    batches = _query(warehouse, "SELECT count(DISTINCT video_id) FROM intermediate.int_kaggle_videos")[0][0] // 50 + 1
    rng = random.Random(variant.seed)
    kills = over = 0
    try:
        for n in range(variant.kills):
            before = emulator.state.stats()["received"]
            target = before + rng.randint(1, max(2, batches // 3))
            with (log_dir / f"kill-{n}.stderr").open("wb") as err:
                proc = subprocess.Popen([*CLI, "--base-url", emulator.base_url], env=env,
                                        stdout=subprocess.DEVNULL, stderr=err)
                while emulator.state.stats()["received"] < target and proc.poll() is None:
                    time.sleep(0.002)
                time.sleep(rng.uniform(0, 0.15))  # mid-call, mid-commit, or between
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                proc.wait(timeout=300)
            assert proc.returncode in (0, -signal.SIGKILL), (log_dir / f"kill-{n}.stderr").read_text()[-2000:]
            wait_until_idle(emulator)
            check_invariants(warehouse)
            over = ledger(warehouse, emulator) - charged(emulator)
            assert over >= 0, f"after kill {kills} the ledger misses {-over} calls the API charged"
            if proc.returncode == 0:  # it finished first: the next round crawls the next day
                emulator.advance_days(1)
        done = subprocess.run([*CLI, "--base-url", emulator.base_url], env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        built = subprocess.run([sys.executable, "-m", "orchestration.cli", "build"], env=env,
                               capture_output=True, text=True, timeout=1800)
        assert built.returncode == 0, built.stderr[-2000:]
        wait_until_idle(emulator)
        stats = emulator.state.stats()
        units = ledger(warehouse, emulator)
    finally:
        emulator.stop()
    check_invariants(warehouse)
    latest = _query(warehouse, "SELECT crawl_id FROM raw.crawl_runs ORDER BY publish_seq DESC NULLS LAST LIMIT 1")
    check_completed_crawl(warehouse, latest[0][0], universe)
    api = sum(stats["quota_used"].values())
    # Over-count only from kills: per kill at most the unused reservations (prefetch + one per thread).
    assert api <= units <= api + kills * 3 * 2
    published = _query(warehouse, "SELECT count(*) FROM raw.crawl_runs WHERE published_at IS NOT NULL")[0][0]
    visible = _query(warehouse, "SELECT count(DISTINCT crawl_id) FROM marts.fct_video_snapshots")[0][0]
    assert visible == published
    return {"kills": kills, "calls_charged": api, "ledger_units": units, "over_count": units - api,
            "crawls_published": published}


def table_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """Every column of every table of the warehouse (views store nothing)."""
    return con.execute("""
        SELECT c.table_schema, c.table_name, c.column_name
        FROM information_schema.columns c
        JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
        WHERE c.table_catalog = current_database() AND t.table_type = 'BASE TABLE'
        ORDER BY 1, 2, 3
    """).fetchall()


def key_occurrences(warehouse: Path, folders: list[Path]) -> dict:
    """Occurrences of the key in every file under `folders` and every column of the warehouse."""
    needle = SECRET.encode()
    files = hits = 0
    found: list[str] = []
    for folder in folders:
        for path in [folder] if folder.is_file() else sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                try:
                    data = path.read_bytes()
                except FileNotFoundError:  # dbt's target folder is shared with other dbt runs
                    continue
                files += 1
                if needle in data:
                    hits += 1
                    found.append(str(path))
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        columns = table_columns(con)
        for schema, table, column in columns:
            (n,) = con.execute(
                f'SELECT count(*) FROM "{schema}"."{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?',
                [f"%{SECRET}%"],
            ).fetchone()
            if n:
                hits += n
                found.append(f"{schema}.{table}.{column}")
    finally:
        con.close()
    return {"files_searched": files, "columns_searched": len(columns), "key_occurrences": hits, "where": found}


def run_campaign(built_warehouse: Path, tmp_path: Path, variant: Variant) -> dict:
    figures = {"variant": variant.__dict__}
    figures["faults"] = fault_campaign(built_warehouse, variant)
    figures["kills"] = kill_campaign(built_warehouse, variant, tmp_path)
    folders = [built_warehouse.parent, Path(os.environ["DAGSTER_HOME"]), DBT_PROJECT_DIR / "target",
               DBT_PROJECT_DIR / "logs"]
    figures["key"] = key_occurrences(built_warehouse, [f for f in folders if f.exists()])
    print("\ncrawl campaign figures:", json.dumps(figures, default=str))
    assert figures["key"]["key_occurrences"] == 0, figures["key"]["where"]
    assert figures["key"]["files_searched"] > 0 and figures["key"]["columns_searched"] > 50
    return figures


def test_crawl_campaign_seeded_sample(built_warehouse, tmp_path):
    run_campaign(built_warehouse, tmp_path, SAMPLE)


@pytest.mark.campaign
@pytest.mark.parametrize("variant", LONG, ids=lambda v: f"seed{v.seed}")
def test_crawl_campaign_long(built_warehouse, tmp_path, variant):
    run_campaign(built_warehouse, tmp_path, variant)
