"""marts.video_growth is the same whatever order snapshots arrive in.

Snapshots go straight into raw.youtube_snapshots / raw.crawl_runs (one crawl per
snapshot, commit_seq = arrival order) in a shuffled order, with incremental dbt builds
in between; every row of marts.video_growth is then compared with a plain-Python
computation over the history sorted by observation time.
"""

from __future__ import annotations

import math
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.youtube.emulator import KAGGLE_OBSERVED_AT
from orchestration.dbt import run_dbt
from tests.ingestion.youtube._support import csv_kaggle_counts
from warehouse import ensure_schema, write_connection

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("video_growth_order")]

GROWTH = ["build", "--select", "fct_video_snapshots video_growth"]
START = datetime(2023, 3, 1, tzinfo=UTC)
COLUMNS = [
    "video_id", "crawl_id", "commit_seq", "observed_at", "view_count", "like_count", "comment_count",
    "previous_observed_at", "days_since_previous", "delta_views", "delta_likes", "delta_comments",
    "views_per_day", "growth_rate", "kaggle_observed_at", "days_since_kaggle", "kaggle_views", "kaggle_likes",
    "kaggle_comments", "delta_views_since_kaggle", "delta_likes_since_kaggle", "delta_comments_since_kaggle",
    "views_per_day_since_kaggle", "growth_rate_since_kaggle",
]


def _naive(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None)


def _minus(a, b):
    return None if a is None or b is None else a - b


def expected_growth(snapshots: list[dict], kaggle: dict[str, tuple]) -> dict[str, dict]:
    """snapshot_id -> the expected row, from the snapshots sorted by observation time.

    Available snapshots only; identical observations (video, observed_at, counts) are one:
    the first to arrive (lowest commit_seq) stands for them.
    """
    kept: dict[tuple, dict] = {}
    for s in sorted(snapshots, key=lambda s: s["commit_seq"]):
        if s["status"] != "ok":
            continue
        kept.setdefault((s["video_id"], s["observed_at"], s["view_count"], s["like_count"], s["comment_count"]), s)
    by_video: dict[str, list[dict]] = {}
    for s in kept.values():
        by_video.setdefault(s["video_id"], []).append(s)
    expected = {}
    for video, history in by_video.items():
        history.sort(key=lambda s: (s["observed_at"], s["commit_seq"]))
        k_views, k_likes, k_comments = kaggle[video]
        previous = None
        for s in history:
            days_prev = None if previous is None else (s["observed_at"] - previous["observed_at"]).total_seconds() / 86400
            delta_views = None if previous is None else _minus(s["view_count"], previous["view_count"])
            days_kaggle = (s["observed_at"] - KAGGLE_OBSERVED_AT).total_seconds() / 86400
            since = _minus(s["view_count"], k_views)
            expected[f"{video}@{s['crawl_id']}"] = {
                "video_id": video, "crawl_id": s["crawl_id"], "commit_seq": s["commit_seq"],
                "observed_at": _naive(s["observed_at"]),
                "view_count": s["view_count"], "like_count": s["like_count"], "comment_count": s["comment_count"],
                "previous_observed_at": None if previous is None else _naive(previous["observed_at"]),
                "days_since_previous": days_prev,
                "delta_views": delta_views,
                "delta_likes": None if previous is None else _minus(s["like_count"], previous["like_count"]),
                "delta_comments": None if previous is None else _minus(s["comment_count"], previous["comment_count"]),
                "views_per_day": delta_views / days_prev if delta_views is not None and days_prev else None,
                "growth_rate": delta_views / previous["view_count"]
                if delta_views is not None and previous["view_count"] else None,
                "kaggle_observed_at": _naive(KAGGLE_OBSERVED_AT),
                "days_since_kaggle": days_kaggle,
                "kaggle_views": k_views, "kaggle_likes": k_likes, "kaggle_comments": k_comments,
                "delta_views_since_kaggle": since,
                "delta_likes_since_kaggle": _minus(s["like_count"], k_likes),
                "delta_comments_since_kaggle": _minus(s["comment_count"], k_comments),
                "views_per_day_since_kaggle": since / days_kaggle if since is not None and days_kaggle > 0 else None,
                "growth_rate_since_kaggle": since / k_views if since is not None and k_views else None,
            }
            previous = s
    return expected


def growth_rows(warehouse: Path) -> dict[str, dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cur = con.execute(f"SELECT snapshot_id, {', '.join(COLUMNS)} FROM marts.video_growth")
        return {r[0]: dict(zip(COLUMNS, r[1:])) for r in cur.fetchall()}


def assert_growth_matches(warehouse: Path, snapshots: list[dict], kaggle: dict[str, tuple]) -> dict[str, dict]:
    expected = expected_growth(snapshots, kaggle)
    actual = growth_rows(warehouse)
    assert sorted(actual) == sorted(expected)
    for snapshot_id, e in expected.items():
        a = actual[snapshot_id]
        for column, value in e.items():
            if isinstance(value, float) and a[column] is not None:
                assert math.isclose(a[column], value, rel_tol=1e-9, abs_tol=1e-9), (snapshot_id, column, a, e)
            else:
                assert a[column] == value, (snapshot_id, column, a[column], value)
    return actual


def arrive(warehouse: Path, batch: list[dict]) -> None:
    """Store a batch of snapshots (each its own crawl, published as it arrives), commit_seq as given."""
    with write_connection(warehouse) as con:
        ensure_schema(con)
        for s in batch:
            con.execute(
                "INSERT INTO raw.crawl_runs (crawl_id, load_id, base_url, started_at, finished_at, updated_at, status, "
                "stop_reason, invocations, ids_requested, batches_total, ids_ok, ids_not_found, api_calls, quota_units, "
                "published_at, publish_seq) "
                "VALUES (?, 1, 'http://test', ?, ?, now(), 'completed', NULL, 1, 1, 1, 1, 0, 1, 1, ?, ?)",
                [s["crawl_id"], s["observed_at"], s["observed_at"], s["observed_at"], s["commit_seq"]],
            )
            con.execute(
                "INSERT INTO raw.youtube_snapshots VALUES (?, ?, 0, ?, ?, ?, NULL, NULL, NULL, NULL, ?, ?, ?, now())",
                [s["video_id"], s["crawl_id"], s["commit_seq"], s["observed_at"], s["status"],
                 s["view_count"], s["like_count"], s["comment_count"]],
            )


@pytest.fixture(scope="module")
def kaggle_videos(built_warehouse_template, sample_csv) -> tuple[list[str], dict[str, tuple]]:
    """Three videos of the sample with Kaggle views, and the CSV's counts of every video."""
    kaggle = csv_kaggle_counts(sample_csv)
    with duckdb.connect(str(built_warehouse_template), read_only=True) as con:
        loaded = {r[0] for r in con.execute("SELECT video_id FROM intermediate.int_kaggle_videos").fetchall()}
    videos = sorted(v for v, (views, _, _) in kaggle.items() if views and v in loaded)[:3]
    assert len(videos) == 3
    return videos, kaggle


def _private_copy(template: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "warehouse.duckdb"
    shutil.copyfile(template, path)
    return path


def _snapshot(video, crawl_no, observed_at, views, likes, comments, status="ok"):
    return {"video_id": video, "crawl_id": f"c{crawl_no:03d}", "observed_at": observed_at, "status": status,
            "view_count": views if status == "ok" else None, "like_count": likes if status == "ok" else None,
            "comment_count": comments if status == "ok" else None}


OBSERVATION = st.tuples(
    st.integers(0, 9),          # video index (mod 3)
    st.integers(0, 20 * 24),    # hours after START: several a day possible
    st.integers(0, 10**7),      # views
    st.one_of(st.none(), st.integers(0, 10**5)),  # likes (hidden: null)
    st.integers(0, 10**4),      # comments
    st.sampled_from(["ok"] * 7 + ["not_found"]),
)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    observations=st.lists(OBSERVATION, min_size=4, max_size=14,
                          unique_by=lambda o: (o[0] % 3, o[1])),
    duplicate_of=st.integers(0, 13),
    data=st.data(),
)
def test_growth_is_independent_of_arrival_order(built_warehouse_template, kaggle_videos, tmp_path_factory,
                                                 observations, duplicate_of, data):
    videos, kaggle = kaggle_videos
    snapshots = [
        _snapshot(videos[v % 3], n, START + timedelta(hours=h), views, likes, comments, status)
        for n, (v, h, views, likes, comments, status) in enumerate(observations)
    ]
    # The same day, a few hours later: a second snapshot of the first video.
    first = snapshots[0]
    snapshots.append(_snapshot(first["video_id"], len(snapshots), first["observed_at"] + timedelta(hours=5, minutes=7),
                               (first["view_count"] or 0) + 321, 3, 4))
    # An identical observation stored a second time (another crawl id).
    original = snapshots[duplicate_of % len(snapshots)]
    snapshots.append({**original, "crawl_id": f"c{len(snapshots):03d}"})

    order = data.draw(st.permutations(range(len(snapshots))), label="arrival order")
    cuts = sorted(data.draw(st.lists(st.integers(1, len(snapshots) - 1), min_size=2, max_size=2), label="builds"))
    for seq, index in enumerate(order, start=1):
        snapshots[index]["commit_seq"] = seq
    arrival = [snapshots[i] for i in order]
    batches = [arrival[: cuts[0]], arrival[cuts[0]: cuts[1]], arrival[cuts[1]:]]

    warehouse = _private_copy(built_warehouse_template, tmp_path_factory.mktemp("order"))
    arrived: list[dict] = []
    for batch in batches:
        arrive(warehouse, batch)
        arrived += batch
        run_dbt(GROWTH, warehouse)
        assert_growth_matches(warehouse, arrived, kaggle)


def test_late_snapshot_corrects_the_next_row_and_touches_no_other(built_warehouse_template, kaggle_videos, tmp_path):
    """A late snapshot rewrites itself and the row after it; a crawl at the end writes only
    its own rows; same-day snapshots and a stored-twice observation; full refresh agrees."""
    (a, b, _), kaggle = kaggle_videos
    warehouse = _private_copy(built_warehouse_template, tmp_path)
    day = [START + timedelta(days=d) for d in range(6)]
    snapshots = [
        _snapshot(a, 1, day[0], 1000, 10, 1),
        _snapshot(a, 2, day[2], 1400, 14, 2),
        _snapshot(a, 3, day[4], 2000, 20, 3),
        _snapshot(b, 4, day[0], 50, None, 0),
        _snapshot(b, 5, day[1], 80, None, 0),
    ]
    for seq, s in enumerate(snapshots, start=1):
        s["commit_seq"] = seq
    arrive(warehouse, snapshots)
    run_dbt(GROWTH, warehouse)
    assert_growth_matches(warehouse, snapshots, kaggle)

    # Mark every stored row: a row the next build rewrites loses its mark.
    def mark():
        with write_connection(warehouse) as con:
            con.execute("UPDATE marts.video_growth SET kaggle_comments = -1")

    def rewritten() -> set[str]:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return {r[0] for r in con.execute(
                "SELECT snapshot_id FROM marts.video_growth WHERE kaggle_comments IS DISTINCT FROM -1").fetchall()}

    mark()
    late = [
        _snapshot(a, 6, day[1], 1100, 11, 1),                      # between a@c001 and a@c002
        _snapshot(a, 7, day[2] + timedelta(hours=6), 1500, 15, 2),  # same day as a@c002, after it
        {**snapshots[3], "crawl_id": "c008"},                      # b@c004 stored a second time
    ]
    for seq, s in enumerate(late, start=6):
        s["commit_seq"] = seq
    arrive(warehouse, late)
    run_dbt(GROWTH, warehouse)
    assert rewritten() == {f"{a}@c006", f"{a}@c002", f"{a}@c007", f"{a}@c003"}
    with write_connection(warehouse) as con:  # restore the marks to compare every value
        con.execute("UPDATE marts.video_growth SET kaggle_comments = ? WHERE video_id = ?", [kaggle[a][2], a])
        con.execute("UPDATE marts.video_growth SET kaggle_comments = ? WHERE video_id = ?", [kaggle[b][2], b])
    history = snapshots + late
    rows = assert_growth_matches(warehouse, history, kaggle)
    assert f"{b}@c008" not in rows  # the identical observation is one row, not a zero delta
    assert rows[f"{a}@c002"]["delta_views"] == 300 and rows[f"{a}@c002"]["days_since_previous"] == 1.0
    assert rows[f"{a}@c007"]["days_since_previous"] == 0.25 and rows[f"{a}@c007"]["views_per_day"] == 400.0

    # A crawl at the end of each series writes only its own rows (and reads one stored row per video).
    mark()
    daily = [_snapshot(a, 9, day[5], 2100, 21, 3), _snapshot(b, 10, day[5], 90, None, 1)]
    for seq, s in enumerate(daily, start=9):
        s["commit_seq"] = seq
    arrive(warehouse, daily)
    run_dbt(GROWTH, warehouse)
    assert rewritten() == {f"{a}@c009", f"{b}@c010"}

    run_dbt([*GROWTH, "--full-refresh"], warehouse)
    assert_growth_matches(warehouse, history + daily, kaggle)
