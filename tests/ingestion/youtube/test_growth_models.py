"""30 emulated daily crawls, then the dbt growth models, checked against Python arithmetic."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from ingestion.youtube import crawl
from ingestion.youtube.emulator import KAGGLE_OBSERVED_AT
from orchestration.analyses import analysis_sql
from orchestration.dbt import run_dbt

from ._support import EMULATOR_KEY, csv_kaggle_counts, options

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("youtube_growth")]

GROWTH_MODELS = ["build", "--select", "int_kaggle_videos stg_youtube_snapshots+ stg_crawl_runs+ stg_quota_ledger+"]


def rows(warehouse, sql):
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def test_thirty_daily_crawls_give_correct_growth(built_warehouse, sample_csv, emulator_for, manifest):
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

    # track_features: latest available snapshot minus each track's own Kaggle counts; the
    # latest counts are the crawled ones where the crawl measured them, else Kaggle's.
    latest = {v: max(s, key=lambda s: (s["observed_at"], s["commit_seq"])) for v, s in by_video.items()}
    features = rows(built_warehouse, "SELECT track_id, video_id, views, likes, comments, stream, delta_views, "
                                     "view_count, like_count, comment_count, count_source, stream_gap, published_year, "
                                     "youtube_snapshot_count, is_video_gone FROM marts.track_features")
    all_snaps = defaultdict(list)
    for s in snapshots:
        all_snaps[s["video_id"]].append(s)
    universe = emulator.state.universe
    checked = hidden_likes = 0
    for f in features:
        video = f["video_id"]
        expected_gap = None if f["stream"] is None or f["view_count"] is None else f["stream"] - f["view_count"]
        assert f["stream_gap"] == expected_gap
        if video is None:
            assert f["delta_views"] is None and f["published_year"] is None
            assert (f["view_count"], f["count_source"]) == (f["views"], "kaggle")
            continue
        assert f["youtube_snapshot_count"] == 30
        last = max(all_snaps[video], key=lambda s: s["observed_at"])
        assert f["is_video_gone"] == (last["status"] == "not_found")
        if video in latest:
            snap = latest[video]
            assert f["delta_views"] == snap["view_count"] - f["views"]
            for crawled, kaggle in (("view_count", "views"), ("like_count", "likes"), ("comment_count", "comments")):
                assert f[crawled] == (snap[crawled] if snap[crawled] is not None else f[kaggle]), (crawled, f, snap)
            assert f["count_source"] == "crawl"
            hidden_likes += snap["like_count"] is None and f["likes"] is not None
            # publishedAt's year, checked against the emulator's own record of the video
            assert f["published_year"] == universe.life(video).published_at.year
            checked += 1
        else:  # never available: the Kaggle counts stand in
            assert (f["view_count"], f["like_count"], f["count_source"]) == (f["views"], f["likes"], "kaggle")
    assert checked > 0.9 * len([f for f in features if f["video_id"]])
    assert hidden_likes > 0  # the fallback to Kaggle's likes was exercised

    # The data version: the latest finished crawl.
    crawls = rows(built_warehouse, "SELECT crawl_id, finished_at FROM raw.crawl_runs WHERE finished_at IS NOT NULL")
    newest = max(crawls, key=lambda c: c["finished_at"])
    version = rows(built_warehouse, "SELECT * FROM staging.stg_data_version")
    assert [(v["kaggle_load_id"], v["crawl_id"]) for v in version] == [(1, newest["crawl_id"])]
    assert version[0]["crawl_finished_at"] == newest["finished_at"].astimezone(UTC).replace(tzinfo=None)

    # The example queries (dbt analyses) against Python over the raw snapshots.
    def utc(ts):
        return ts.astimezone(UTC).replace(tzinfo=None)

    con = duckdb.connect(str(built_warehouse), read_only=True)
    try:
        history = con.execute(analysis_sql("video_view_history", manifest)).fetchall()
        fastest = con.execute(analysis_sql("fastest_growing_videos", manifest)).fetchall()
        quota = con.execute(analysis_sql("quota_per_api_day", manifest)).fetchall()
    finally:
        con.close()
    top_video = max((v for v in latest if latest[v]["view_count"] is not None), key=lambda v: latest[v]["view_count"])
    top_snaps = sorted(by_video[top_video], key=lambda s: (s["observed_at"], s["commit_seq"]))
    assert [(observed, views) for observed, views, _, _ in history] == [
        (utc(s["observed_at"]), s["view_count"]) for s in top_snaps
    ]
    for (_, _, delta, per_day), s in zip(history, top_snaps, strict=True):
        e = expected[(top_video, s["crawl_id"])]
        assert delta == e["delta_views"]
        if delta is not None:
            assert abs(per_day - e["views_per_day"]) <= 0.5 + 1e-6

    cutoff = max(utc(s["observed_at"]) for snaps in by_video.values() for s in snaps) - timedelta(days=7)
    gained = defaultdict(lambda: [0, 0.0, None])
    for video, snaps in by_video.items():
        for s in snaps:
            e = expected[(video, s["crawl_id"])]
            if utc(s["observed_at"]) > cutoff and e["delta_views"] is not None:
                g = gained[video]
                g[0] += e["delta_views"]
                g[1] += e["days_since_previous"]
                before = s["view_count"] - e["delta_views"]
                g[2] = before if g[2] is None else min(g[2], before)
    top5 = sorted(gained.items(), key=lambda kv: kv[1][0], reverse=True)[:5]
    assert [(row[0], row[3]) for row in fastest] == [(video, g[0]) for video, g in top5]
    for row, (_, (views_gained, days, base)) in zip(fastest, top5, strict=True):
        assert abs(row[4] - views_gained / days) <= 0.5 + 1e-6
        assert abs(row[5] - 100 * views_gained / base) <= 0.005 + 1e-9

    ledger = rows(built_warehouse, "SELECT api_day, crawl_id, api_calls, quota_units FROM raw.quota_ledger")
    per_day = defaultdict(lambda: [set(), 0, 0])
    for entry in ledger:
        d = per_day[entry["api_day"]]
        d[0].add(entry["crawl_id"])
        d[1] += entry["api_calls"]
        d[2] += entry["quota_units"]
    assert quota == [(day, len(c), calls, units, units / 10000) for day, (c, calls, units) in sorted(per_day.items())]

    # dim_video_versions: the emulator retitles a few videos "(Remastered)".
    versions = rows(built_warehouse, "SELECT video_id, version_no, video_title, is_current FROM marts.dim_video_versions")
    retitled = [v for v in versions if v["version_no"] == 2]
    for v in retitled:
        assert v["video_title"].endswith("(Remastered)") and v["is_current"]
    assert len(versions) == len(by_video) + len(retitled)
