"""Growth forecasts (ml.forecasting, asset ml/forecasts).

Synthetic snapshot histories with a known growth law check that the baselines and the model
recover it, that the rolling origin never trains on a snapshot after the day it tests, that
track groups never straddle train and test, and that the intervals cover at about their
nominal rate. Then the real thing: the sample warehouse crawled on the HTTP emulator for 8
days (as the demo does), ml/forecasts materialized by Dagster, ml.forecasts checked in SQL
against the snapshots, and the report's forecasting section.
"""

from __future__ import annotations

import math
import shutil

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml import forecasting as fc

T0 = 19_400.25  # days since 1970 (2023-02-12 06:00 UTC): every point a quarter day into its day


def synthetic(n_videos: int, days: int, views_at, *, seed: int = 0, per_group: int = 1, age0=None) -> fc.History:
    """`n_videos` videos observed daily for `days` days, views_at(i, age_days, rng) their law."""
    rng = np.random.default_rng(seed)
    ages = age0 if age0 is not None else rng.uniform(60, 2000, n_videos)
    videos = pd.DataFrame({
        "video_id": [f"v{i}" for i in range(n_videos)],
        "track_group_id": [f"g{i // per_group}" for i in range(n_videos)],
        "artist": [f"a{i // per_group}" for i in range(n_videos)],
        "published_t": T0 - np.asarray(ages),
        "last_t": T0 + days - 1,
        **{name: rng.uniform(0, 1, n_videos) for name in fc.STATIC},
    })
    rows = []
    for i in range(n_videos):
        for d in range(days):
            rows.append((f"v{i}", T0 + d, float(views_at(i, ages[i] + d, rng))))
    points = pd.DataFrame(rows, columns=["video_id", "t", "views"])
    return fc.History(points=points, videos=videos, channel_features=False, channel_reason="synthetic")


# --------------------------------------------------------------------------- the baselines recover their law


@settings(max_examples=25, deadline=None)
@given(rates=st.lists(st.floats(1, 1e5), min_size=3, max_size=8), start=st.floats(1e3, 1e8))
def test_last_rate_recovers_a_constant_daily_rate(rates, start):
    history = synthetic(len(rates), 9, lambda i, age, rng: start + rates[i] * (age - 1000), age0=[1000.0] * len(rates))
    pairs = fc.make_pairs(history.points).merge(history.videos, on="video_id")
    assert set(pairs["horizon"]) == set(fc.HORIZONS)
    truth = pairs["views"] + pairs["h_days"] * pairs["video_id"].map(lambda v: rates[int(v[1:])])
    # the first point has no rate yet: views / age stands in, so only later origins are exact
    later = pairs["n_points"] > 1
    np.testing.assert_allclose(fc.last_rate_forecast(pairs)[later], truth[later], rtol=1e-9)
    np.testing.assert_allclose(pairs.loc[later, "target_views"], truth[later], rtol=1e-9)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(b=st.floats(-2.5, 0.5).filter(lambda x: abs(x + 1) > 0.05), k=st.floats(10, 1e4))
def test_rate_decay_recovers_a_power_law_of_age(b, k):
    """rate = k · age^b  ⇒  views = k · age^(b+1) / (b+1) + C: the fitted exponent is b."""
    ages = np.linspace(80, 3000, 12)
    # saturating views (b < -1) start from a constant of the curve's own scale (float precision)
    base = 2 * k * 80 ** (b + 1) / abs(b + 1) if b < -1 else 0.0
    history = synthetic(12, 10, lambda i, age, rng: base + k * age ** (b + 1) / (b + 1), age0=ages)
    fitted = fc.fit_decay_exponent(history.points, history.videos)
    assert fitted == pytest.approx(b, abs=0.02)
    pairs = fc.make_pairs(history.points).merge(history.videos, on="video_id")
    pairs = pairs[pairs["n_points"] > 1]
    predicted = fc.rate_decay_forecast(pairs, fitted)
    error = np.abs(np.log1p(predicted) - np.log1p(pairs["target_views"]))
    assert error.max() < 1e-3


# --------------------------------------------------------------------------- the rolling origin


def exponential_law(noise: float):
    """views = V0 · exp(g · days), V0 and g fixed per video; lognormal noise per snapshot."""
    def law(i, age, rng):
        g = 0.01 + 0.04 * ((i * 7919) % 100) / 100
        start = 10 ** (3 + 4 * ((i * 37) % 100) / 100)
        return start * math.exp(g * (age - 1000)) * math.exp(rng.normal(0, noise) if noise else 0.0)
    return law


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), per_group=st.integers(1, 4))
def test_the_rolling_origin_never_trains_on_later_days_and_never_splits_a_group(seed, per_group):
    history = synthetic(80, 9, exponential_law(0.01), seed=seed, per_group=per_group, age0=[1000.0] * 80)
    ev = fc.evaluate(history, seed=seed, n_boot=0)
    assert ev.folds, "a 9-day history gives rolling-origin folds"
    days = sorted({f["day"] for f in ev.folds})
    assert len(days) >= 3
    for fold in ev.folds:
        test = ev.rows[ev.rows["fold"] == fold["fold"]]
        # every test origin is on the fold's day, every training target on that day or before
        assert set(np.floor(test["origin_t"]).astype(int)) == {fold["day"]}
        assert math.floor(fold["last_train_target_t"]) <= fold["day"]
        assert (test["target_t"] > test["origin_t"]).all()
        assert not set(fold["train_groups"]) & set(test["track_group_id"])
        # groups are halves: every video of a tested group is on the test side
        assert set(test["track_group_id"]) == set(fold["test_groups"])
    # each group is tested on one side only, whatever the day
    sides = ev.rows.merge(pd.DataFrame(ev.folds)[["fold", "test_half"]], on="fold")
    assert (sides.groupby("track_group_id")["test_half"].nunique() == 1).all()


def test_model_and_baselines_recover_a_noise_free_law():
    history = synthetic(150, 9, exponential_law(0.0), age0=[1000.0] * 150)
    ev = fc.evaluate(history, n_boot=50)
    for h, figures in ev.figures.items():
        # exponential growth (1-5 % a day): the last rate carried forward undershoots a little; the
        # model is within 2 % and far closer than "no growth" (median ln growth 0.03 · h)
        assert figures[fc.MODEL]["mdae"][0] < min(0.02, 0.03 * h / 2), h
        assert figures[fc.LAST_RATE]["mdae"][0] < 0.01 * h, h
        assert figures[fc.MODEL]["spearman_gain"][0] > 0.95, h
        rows = ev.rows[ev.rows["horizon"] == h]
        independent = np.median(np.abs(np.log1p(rows[f"pred_{fc.MODEL}"]) - np.log1p(rows["actual"])))
        assert figures[fc.MODEL]["mdae"][0] == pytest.approx(independent)


def test_intervals_cover_about_their_nominal_share():
    n = 300
    history = synthetic(n, 9, exponential_law(0.03), seed=3, age0=[1000.0] * n)
    ev = fc.evaluate(history, n_boot=0, seed=3)
    rows = ev.rows
    for method in fc.METHODS:
        inside = (rows[f"lower_{method}"] <= rows["actual"]) & (rows["actual"] <= rows[f"upper_{method}"])
        # rows of one video are not independent: the binomial tolerance counts videos, not rows
        tolerance = 3.3 * math.sqrt(fc.NOMINAL * (1 - fc.NOMINAL) / n)
        assert abs(inside.mean() - fc.NOMINAL) < tolerance, (method, inside.mean())
        assert (rows[f"lower_{method}"] <= rows[f"pred_{method}"]).all()
        assert (rows[f"pred_{method}"] <= rows[f"upper_{method}"]).all()


def test_conformal_offsets_are_order_statistics():
    residuals = np.arange(-49, 50, dtype=float)  # 99 residuals
    lo, hi = fc.conformal_offsets(residuals, np.ones(99, int), 0.8)[1]
    # ranks floor(100 · 0.1) = 10 and ceil(100 · 0.9) = 90 of the sorted residuals
    assert (lo, hi) == (-40.0, 40.0)
    few = fc.conformal_offsets(np.r_[residuals, 5.0], np.r_[np.ones(99, int), 3], 0.8)
    assert few[3] == few[-1]  # one residual for horizon 3: the pooled ones


# --------------------------------------------------------------------------- the asset on a crawled warehouse


@pytest.fixture(scope="module")
def crawled(built_warehouse_template, tmp_path_factory):
    """The sample warehouse crawled on the emulator for 8 days (as the demo does), models rebuilt."""
    from ingestion.youtube import CrawlOptions, crawl
    from ingestion.youtube.emulator import DEFAULT_API_KEY, EmulatorServer, VideoUniverse, load_seed_videos
    from orchestration.dbt import run_dbt

    path = tmp_path_factory.mktemp("forecast") / "crawled.duckdb"
    shutil.copyfile(built_warehouse_template, path)
    with EmulatorServer(VideoUniverse(load_seed_videos(path))) as emulator:
        for _ in range(8):
            assert crawl(path, DEFAULT_API_KEY, CrawlOptions(base_url=emulator.base_url, concurrency=4)).complete
            emulator.advance_days(1)
    run_dbt(["run", "--select", "stg_youtube_snapshots+ stg_crawl_runs+"], path)
    return path


def materialize(warehouse, reports):
    from orchestration.assets.forecasts import ml_forecasts
    from orchestration.resources import MLResource, WarehouseResource

    return dg.materialize([ml_forecasts], resources={
        "warehouse": WarehouseResource(database=str(warehouse)),
        "ml": MLResource(reports_dir=str(reports))}, raise_on_error=False)


def test_the_asset_forecasts_every_crawled_video(crawled, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    shutil.copyfile(crawled, warehouse)
    result = materialize(warehouse, tmp_path / "reports")
    assert result.success
    [meta] = [e.materialization.metadata for e in result.get_asset_materialization_events()
              if e.materialization.asset_key == dg.AssetKey(["ml", "forecasts"])]
    horizons = meta["horizons"].value
    assert horizons and set(horizons) <= set(fc.HORIZONS)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        runs = con.execute("SELECT model, status FROM ml.runs WHERE family = 'forecasting' ORDER BY model").fetchall()
        assert runs == [(m, "succeeded") for m in sorted(fc.METHODS)]
        bad = con.execute("SELECT count(*) FROM ml.forecasts WHERE NOT (lower <= predicted AND predicted <= upper) "
                          "OR predicted < last_views").fetchall()[0][0]
        assert bad == 0
        # one forecast per method, crawled video and horizon, from the video's latest snapshot
        per = con.execute("""
            SELECT f.model, f.horizon, count(*), count(DISTINCT f.video_id),
                   count(*) FILTER (WHERE f.last_views = d.view_count AND f.as_of = d.last_available_at)
            FROM ml.forecasts f JOIN marts.dim_videos d USING (video_id) GROUP BY ALL""").fetchall()
        crawled_videos = con.execute(
            "SELECT count(DISTINCT v.video_id) FROM marts.video_growth v "
            "JOIN marts.track_features t USING (video_id)").fetchall()[0][0]
        metrics = dict(con.execute(
            "SELECT m.split || '/' || m.metric, m.value FROM ml.metrics m JOIN ml.runs r USING (run_id) "
            "WHERE r.model = 'gradient_boosting' AND r.family = 'forecasting'").fetchall())
    assert {(m, h) for m, h, *_ in per} == {(m, h) for m in fc.METHODS for h in horizons}
    for _m, _h, n, distinct, latest in per:
        assert n == distinct == latest == crawled_videos
    for h in horizons:
        assert metrics[f"h{h}/mdae_low"] <= metrics[f"h{h}/mdae"] <= metrics[f"h{h}/mdae_high"]
        assert 0 <= metrics[f"h{h}/coverage"] <= 1
        assert f"h{h}/minus_last_rate_mdae" in metrics and f"h{h}/minus_rate_decay_mdae" in metrics

    from ml.report import build_report

    page = build_report(warehouse, tmp_path / "reports").read_text(encoding="utf-8")
    section = page[page.index("id='forecasting'"):]
    assert "id='forecasting-table'" in section and "data:image/png;base64" in section
    for method in fc.METHODS:
        assert fc.LABELS[method] in section
    assert "honest" in page[: page.index("id='forecasting'")]  # the model tables still come first

    # The ml/report asset's table of verdicts leaves the forecasts out and says where they are judged
    # (the one rule's single verdict does not apply to them; "not compared" would be untrue).
    from ml.registry import latest_results
    from orchestration.assets.ml import ml_report
    from orchestration.resources import MLResource, WarehouseResource

    for r in latest_results(warehouse):
        if r.family == fc.FAMILY:
            assert r.verdict.reason and "ml/forecasts" in r.verdict.reason, r.verdict
    report = dg.materialize([ml_report], resources={"warehouse": WarehouseResource(database=str(warehouse)),
                                                    "ml": MLResource(reports_dir=str(tmp_path / "reports"))})
    [table] = [e.materialization.metadata["results"].value for e in report.get_asset_materialization_events()]
    assert "| forecasting |" not in table and "forecasting: compared with its two baselines" in table


def test_without_a_crawl_the_runs_are_skipped_with_the_reason(built_warehouse, tmp_path):
    result = materialize(built_warehouse, tmp_path / "reports")
    assert result.success
    [meta] = [e.materialization.metadata for e in result.get_asset_materialization_events()
              if e.materialization.asset_key == dg.AssetKey(["ml", "forecasts"])]
    assert meta["status"].value.startswith("skipped: no crawl history")
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        assert con.execute("SELECT DISTINCT status FROM ml.runs WHERE family = 'forecasting'").fetchall() == [
            ("skipped",)]
        assert con.execute("SELECT count(*) FROM ml.forecasts").fetchall() == [(0,)]
