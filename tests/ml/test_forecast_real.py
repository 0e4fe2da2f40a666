"""The forecasts' real test: the real Kaggle CSV (real ingest, real dbt) forecast against the
real later snapshot ../shared/data/youtube_later_counts.csv (docs/forecasting.md).

Checked independently of the code under test: the match count and the "later ≥ Kaggle"
fact parsed from the two CSVs with the csv module, the figures recomputed with numpy and
scipy from the stored per-video forecasts, the two halves checked for shared videos and
artists from marts.track_features.
"""

from __future__ import annotations

import csv
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from scipy import stats

from ml import forecasting as fc

pytestmark = [pytest.mark.slow, pytest.mark.real_data, pytest.mark.xdist_group("forecast_real")]


@pytest.fixture(scope="module")
def real(real_data_dir, tmp_path_factory):
    from bench.bench_forecast_real import kaggle_features, read_later

    later_csv = real_data_dir / "youtube_later_counts.csv"
    if not later_csv.exists():
        pytest.skip(f"{later_csv} not present (the real later snapshot; the product never needs it)")
    features = kaggle_features(tmp_path_factory.mktemp("forecast_real"), real_data_dir / "spotify_youtube.csv")
    later = read_later(later_csv)
    return features, later, fc.forecast_later_counts(features, later, seed=42, n_boot=200)


def csv_views(path) -> dict[str, list[int]]:
    """Every Kaggle row's Views per video id, parsed here with urllib and the csv module."""
    views: dict[str, list[int]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            url = row.get("Url_youtube") or ""
            if url and row["Views"]:
                vid = parse_qs(urlsplit(url).query)["v"][0]
                views.setdefault(vid, []).append(int(float(row["Views"])))
    return views


def test_the_later_snapshot_matches_and_only_grows(real, real_data_dir):
    _features, later, test = real
    kaggle = csv_views(real_data_dir / "spotify_youtube.csv")
    matched = {v: c for v, c in zip(later["video_id"], later["view_count"]) if v in kaggle}
    assert len(matched) == 8618 == test.matched  # the data README's count
    assert all(count >= max(kaggle[v]) for v, count in matched.items())
    assert (test.rows["actual"] >= test.rows["origin"]).all()


def test_the_figures_are_what_numpy_and_scipy_compute_from_the_forecasts(real):
    _f, _l, test = real
    rows = test.rows
    actual, origin = rows["actual"].to_numpy(), rows["origin"].to_numpy()
    for method in fc.METHODS:
        pred = rows[f"pred_{method}"].to_numpy()
        figures = test.figures[method]
        assert figures["spearman_gain"][0] == pytest.approx(stats.spearmanr(pred - origin, actual - origin).statistic)
        assert figures["mdae"][0] == pytest.approx(np.median(np.abs(np.log1p(pred) - np.log1p(actual))))
        inside = (rows[f"lower_{method}"] <= actual) & (actual <= rows[f"upper_{method}"])
        assert figures["coverage"][0] == pytest.approx(inside.mean())
        assert (rows[f"lower_{method}"] <= pred).all() and (pred <= rows[f"upper_{method}"]).all()
        lo, hi = figures["mdae"][1:]
        assert lo <= figures["mdae"][0] <= hi
    model = rows[f"pred_{fc.MODEL}"].to_numpy()
    assert test.figures[fc.MODEL]["spearman_relative"][0] == pytest.approx(
        stats.spearmanr(np.log1p(model) - np.log1p(origin), np.log1p(actual) - np.log1p(origin)).statistic)
    # with one snapshot and no age both baselines are one common growth factor: no order at all
    for base in fc.BASELINES:
        assert np.isnan(test.figures[base]["spearman_relative"][0])
    paired = test.figures[f"{fc.MODEL}-{fc.LAST_RATE}"]["mdae"][0]
    assert paired == pytest.approx(test.figures[fc.MODEL]["mdae"][0] - test.figures[fc.LAST_RATE]["mdae"][0])


def test_the_halves_share_no_video_and_no_artist(real):
    features, _l, test = real
    calibration, scored = set(test.calibration_videos), set(test.rows["video_id"])
    assert calibration and scored and not calibration & scored
    assert len(calibration) + len(scored) == test.matched
    tracks = features[features["video_id"].notna()]
    artists_of = tracks.groupby("video_id")["artist"].agg(set)
    calib_artists = set().union(*(artists_of[v] for v in calibration))
    scored_artists = set().union(*(artists_of[v] for v in scored))
    assert not calib_artists & scored_artists
