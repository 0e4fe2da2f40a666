"""The real later snapshot (../shared/data/youtube_later_counts.csv) as a second snapshot."""

from __future__ import annotations

import csv
import statistics

import duckdb
import pytest

from ingestion.kaggle_csv import ingest_csv
from orchestration.dbt import run_dbt
from warehouse import ensure_schema, write_connection

from ._support import csv_kaggle_counts

pytestmark = [pytest.mark.slow, pytest.mark.real_data, pytest.mark.xdist_group("youtube_real")]

# The later snapshot's date is unknown (between 2023 and mid-2025); any date after the
# Kaggle crawl serves to check deltas, which do not depend on it.
LATER_OBSERVED_AT = "2024-06-01 00:00:00+00"


def test_later_real_counts_as_a_second_snapshot(real_data_dir, tmp_path):
    later_csv = real_data_dir / "youtube_later_counts.csv"
    if not later_csv.exists():
        pytest.skip(f"{later_csv} not present")
    kaggle_csv = real_data_dir / "spotify_youtube.csv"
    warehouse = tmp_path / "real.duckdb"
    ingest_csv(kaggle_csv, warehouse)
    run_dbt(["run", "--select", "+int_kaggle_videos"], warehouse)
    with write_connection(warehouse) as con:
        ensure_schema(con)
        con.execute(
            "INSERT INTO raw.crawl_runs (crawl_id, load_id, base_url, started_at, finished_at, updated_at, status, "
            "stop_reason, invocations, ids_requested, batches_total, ids_ok, ids_not_found, api_calls, quota_units, "
            "published_at, publish_seq) VALUES ('later', 1, 'file://youtube_later_counts.csv', ?, ?, now(), "
            "'completed', NULL, 1, 0, 0, 0, 0, 0, 0, ?, 1)", [LATER_OBSERVED_AT, LATER_OBSERVED_AT, LATER_OBSERVED_AT])
        con.execute(
            f"""
            INSERT INTO raw.youtube_snapshots
            SELECT video_id, 'later', 0, 1, TIMESTAMPTZ '{LATER_OBSERVED_AT}', 'ok', NULL, NULL, NULL, NULL,
                   view_count, like_count, comment_count, now()
            FROM read_csv(?, header = true, columns = {{'video_id': 'VARCHAR', 'view_count': 'BIGINT',
                          'like_count': 'BIGINT', 'comment_count': 'BIGINT'}})
            -- a crawl asks only for the load's own videos
            WHERE video_id IN (SELECT video_id FROM staging.stg_tracks)
            """,
            [str(later_csv)],
        )
    run_dbt(["build"], warehouse)

    kaggle = csv_kaggle_counts(kaggle_csv)
    with later_csv.open(encoding="utf-8", newline="") as fh:
        later = {r["video_id"]: r for r in csv.DictReader(fh)}
    matched = {v: r for v, r in later.items() if v in kaggle}
    assert len(matched) == 8618  # the README's count, parsed here independently of dbt

    con = duckdb.connect(str(warehouse), read_only=True)
    growth = {r[0]: r[1:] for r in con.execute(
        "SELECT video_id, delta_views_since_kaggle, growth_rate_since_kaggle, kaggle_views FROM marts.video_growth"
    ).fetchall()}
    features = con.execute(
        "SELECT video_id, views, delta_views, delta_likes FROM marts.track_features WHERE delta_views IS NOT NULL"
    ).fetchall()
    con.close()
    assert set(growth) >= set(matched)
    rates = []
    for video, r in matched.items():
        views = kaggle[video][0]
        delta, rate, kaggle_views = growth[video]
        assert kaggle_views == views
        assert delta == int(r["view_count"]) - views >= 0  # every later count is >= Kaggle's
        if views:
            rates.append(int(r["view_count"]) / views - 1)
            assert rate == pytest.approx(rates[-1], rel=1e-9)
    assert statistics.median(rates) == pytest.approx(0.099, abs=0.01)  # README: median about +9.9 %
    # Per track (several tracks share a video): later count minus the track's own Kaggle count.
    for video, views, delta_views, _ in features:
        if video in later:
            assert delta_views == int(later[video]["view_count"]) - views
