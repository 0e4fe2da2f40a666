"""30 emulated daily crawls, then the dbt growth models, checked against Python arithmetic."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from datetime import UTC, datetime

import duckdb
import pytest

from ingestion.youtube import crawl
from ingestion.youtube.emulator import KAGGLE_OBSERVED_AT
from orchestration.dbt import run_dbt

from ._support import EMULATOR_KEY, csv_kaggle_counts, options

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("youtube_growth")]

GROWTH_MODELS = ["build", "--select", "int_kaggle_video_baseline stg_youtube_snapshots+ stg_crawl_runs+ stg_quota_ledger+"]


def rows(warehouse, sql):
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def test_thirty_daily_crawls_give_correct_growth(built_warehouse, sample_csv, emulator_for):
    emulator = emulator_for()
    for day in range(30):
        result = crawl(built_warehouse, EMULATOR_KEY, options(emulator, concurrency=4))
        assert result.complete
        emulator.advance_days(1)
        if day == 14:
            run_dbt(GROWTH_MODELS, built_warehouse)  # first build: full
            # Tamper with an old row: an incremental build must leave it alone.
            con = duckdb.connect(str(built_warehouse))
            con.execute("UPDATE marts.video_growth SET views_per_day = -1 WHERE commit_seq = 1")
            tampered = con.execute("SELECT count(*) FROM marts.video_growth WHERE views_per_day = -1").fetchall()[0][0]
            con.close()
            assert tampered > 0
    run_dbt(GROWTH_MODELS, built_warehouse)  # second build: incremental

    snapshots = rows(built_warehouse, "SELECT * FROM raw.youtube_snapshots")
    assert len({s["crawl_id"] for s in snapshots}) == 30
    kaggle = csv_kaggle_counts(sample_csv)
    by_video = defaultdict(list)
    for s in snapshots:
        if s["status"] == "ok":
            by_video[s["video_id"]].append(s)
    expected = {}
    for video, snaps in by_video.items():
        snaps.sort(key=lambda s: (s["observed_at"], s["commit_seq"]))
        previous = None
        for s in snaps:
            views, likes, comments = kaggle[video]
            observed = s["observed_at"].astimezone(UTC)
            days_kaggle = (observed - KAGGLE_OBSERVED_AT).total_seconds() / 86400
            e = {
                "delta_views": None if previous is None else s["view_count"] - previous["view_count"],
                "days_since_previous": None if previous is None else
                    (observed - previous["observed_at"].astimezone(UTC)).total_seconds() / 86400,
                "delta_views_since_kaggle": s["view_count"] - views,
                "delta_likes_since_kaggle": None if s["like_count"] is None or likes is None else s["like_count"] - likes,
                "days_since_kaggle": days_kaggle,
                "growth_rate_since_kaggle": (s["view_count"] - views) / views if views else None,
            }
            e["views_per_day"] = (e["delta_views"] / e["days_since_previous"]
                                  if e["days_since_previous"] else None)
            expected[(video, s["crawl_id"])] = e
            previous = s

    growth = rows(built_warehouse, "SELECT * FROM marts.video_growth")
    assert len(growth) == len(expected)
    tampered_left = 0
    for g in growth:
        e = expected[(g["video_id"], g["crawl_id"])]
        if g["views_per_day"] == -1:
            tampered_left += 1
            continue
        for column, value in e.items():
            if value is None or g[column] is None:
                assert g[column] == value, (column, g, e)
            else:
                assert math.isclose(g[column], value, rel_tol=1e-9, abs_tol=1e-6), (column, g[column], value)
    assert tampered_left > 0  # the incremental build did not recompute old rows
    assert any(g["delta_views"] and g["delta_views"] > 0 for g in growth)

    # track_features: latest available snapshot minus each track's own Kaggle counts.
    latest = {v: max(s, key=lambda s: (s["observed_at"], s["commit_seq"])) for v, s in by_video.items()}
    features = rows(built_warehouse, "SELECT track_id, video_id, views, delta_view, published_year, "
                                     "youtube_snapshot_count, is_video_gone FROM marts.track_features")
    all_snaps = defaultdict(list)
    for s in snapshots:
        all_snaps[s["video_id"]].append(s)
    universe = emulator.state.universe
    checked = 0
    for f in features:
        video = f["video_id"]
        if video is None:
            assert f["delta_view"] is None and f["published_year"] is None
            continue
        assert f["youtube_snapshot_count"] == 30
        last = max(all_snaps[video], key=lambda s: s["observed_at"])
        assert f["is_video_gone"] == (last["status"] == "not_found")
        if video in latest:
            assert f["delta_view"] == latest[video]["view_count"] - f["views"]
            # publishedAt's year, checked against the emulator's own record of the video
            assert f["published_year"] == universe.life(video).published_at.year
            checked += 1
    assert checked > 0.9 * len([f for f in features if f["video_id"]])

    # dim_video_versions: the emulator retitles a few videos "(Remastered)".
    versions = rows(built_warehouse, "SELECT video_id, version_no, video_title, is_current FROM marts.dim_video_versions")
    retitled = [v for v in versions if v["version_no"] == 2]
    for v in retitled:
        assert v["video_title"].endswith("(Remastered)") and v["is_current"]
    assert len(versions) == len(by_video) + len(retitled)
