"""The classical suite end to end on the sample warehouse: runs, metrics, predictions, splits, report.

Every metric is recomputed here from ml.predictions with plain numpy formulas (not the
project's metric code) and compared with what ml.metrics stores.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytestmark = [pytest.mark.xdist_group("ml_trained"), pytest.mark.slow]


def _r2(y, p):
    return 1 - np.sum((y - p) ** 2) / np.sum((y - np.mean(y)) ** 2)


def _nrmse(y, p):
    return math.sqrt(np.mean((y - p) ** 2)) / (np.max(y) - np.min(y))


def _auc(y, s):
    """ROC AUC as the probability that a random positive outranks a random negative (ties ½)."""
    pos, neg = s[y == 1], s[y == 0]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return (greater + 0.5 * ties) / (len(pos) * len(neg))


def _f1(y, p):
    tp = np.sum((p == 1) & (y == 1))
    fp = np.sum((p == 1) & (y == 0))
    fn = np.sum((p == 0) & (y == 1))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def _metric(sql, run_id, metric, split, step=None):
    rows = sql(
        "SELECT value FROM ml.metrics WHERE run_id = ? AND metric = ? AND split = ? AND "
        + ("step IS NULL" if step is None else f"step = {int(step)}"),
        [run_id, metric, split],
    )
    assert len(rows) == 1, (run_id, metric, split, step, rows)
    return rows[0][0]


def _folds(sql, run_id):
    """{fold: (actual, prediction, probability)} of a run's stored predictions."""
    rows = sql("SELECT coalesce(fold, 0), actual, prediction, probability FROM ml.predictions "
               "WHERE run_id = ? ORDER BY track_id", [run_id])
    out: dict[int, list] = {}
    for fold, a, p, prob in rows:
        out.setdefault(fold, []).append((a, p, prob))
    return {f: tuple(np.array(c, dtype=float) for c in zip(*v, strict=True)) for f, v in out.items()}


def test_every_family_tracks_runs_metrics_and_predictions(trained, sql):
    statuses = dict(((f, m, p), s) for f, m, p, s in sql(
        "SELECT family || ':' || coalesce(task, ''), model, protocol, status FROM ml.runs"))
    families = {k[0].split(":")[0] for k in statuses}
    assert families == {"clustering", "regression", "classification", "tuning"}
    expected = {
        ("classification:stream_gap_label", m, p)
        for m in ("majority_class", "random_forest", "gradient_boosting", "xgboost", "svm")
        for p in ("replication", "honest")
    } | {
        ("regression:views_knn", m, p) for m in ("knn_regression", "mean_predictor") for p in ("replication", "honest")
    } | {
        ("tuning:stream_gap_label", m, p)
        for m in ("random_forest_grid", "gradient_boosting_grid", "xgboost_grid", "xgboost_optuna")
        for p in ("replication", "honest")
    } | {("clustering:music_clusters", m, p) for m in ("kmeans", "dbscan") for p in ("replication", "honest")}
    for key in expected:
        assert statuses.get(key) == "succeeded", (key, statuses.get(key))
    # Every finished supervised run stored predictions and timestamps.
    missing = sql("""
        SELECT r.model, r.protocol FROM ml.runs r
        WHERE r.status = 'succeeded' AND r.family IN ('regression', 'classification', 'tuning')
          AND r.model <> 'exploration'
          AND NOT EXISTS (SELECT 1 FROM ml.predictions p WHERE p.run_id = r.run_id)""")
    assert missing == []
    assert sql("SELECT count(*) FROM ml.runs WHERE finished_at IS NULL OR finished_at < started_at")[0][0] == 0
    # Data version: the Kaggle load the features came from; no crawl in the sample warehouse.
    versions = sql("SELECT DISTINCT kaggle_load_id, crawl_id, data_version->>'kaggle_sha256' FROM ml.runs")
    loads = sql("SELECT load_id, file_sha256 FROM raw.kaggle_loads")
    assert versions == [(loads[0][0], None, loads[0][1])]


def test_regression_metrics_match_stored_predictions(sql):
    runs = sql("SELECT run_id, model, protocol FROM ml.runs WHERE family = 'regression' AND status = 'succeeded' "
               "AND model NOT IN ('exploration') AND NOT (model = 'ols' AND protocol = 'replication')")
    assert len(runs) >= 12
    for run_id, model, protocol in runs:
        folds = _folds(sql, run_id)
        if protocol == "replication":
            (actual, pred, _), = folds.values()
            assert _metric(sql, run_id, "r2", "test") == pytest.approx(_r2(actual, pred), rel=1e-9, abs=1e-9)
            assert _metric(sql, run_id, "nrmse", "test") == pytest.approx(_nrmse(actual, pred), rel=1e-9)
        else:
            r2s = [_r2(a, p) for a, p, _ in folds.values()]
            for fold, (a, p, _) in folds.items():
                assert _metric(sql, run_id, "nrmse", "cv_fold", fold) == pytest.approx(_nrmse(a, p), rel=1e-9)
            assert _metric(sql, run_id, "r2", "cv_mean") == pytest.approx(np.mean(r2s), rel=1e-9, abs=1e-9)
            assert _metric(sql, run_id, "r2", "cv_std") == pytest.approx(np.std(r2s), rel=1e-9, abs=1e-9)


def test_ols_replication_fit_matches_closed_form(sql):
    """The statsmodels fit on all rows equals the closed-form least-squares line."""
    (run_id,) = sql("SELECT run_id FROM ml.runs WHERE model = 'ols' AND protocol = 'replication' "
                    "AND task = 'ols_like_count'")[0]
    rows = np.array(sql("""
        SELECT f.stream, f.likes FROM marts.track_features f
        WHERE f.is_official_video AND f.stream IS NOT NULL AND f.likes IS NOT NULL"""), dtype=float)
    x, y = rows[:, 0], rows[:, 1]
    slope = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
    r2 = np.corrcoef(x, y)[0, 1] ** 2
    assert _metric(sql, run_id, "coef_stream", "full") == pytest.approx(slope, rel=1e-6)
    assert _metric(sql, run_id, "r2", "full") == pytest.approx(r2, rel=1e-6)
    assert _metric(sql, run_id, "r2", "published") == 0.461


def test_classification_metrics_match_stored_predictions(sql):
    runs = sql("SELECT run_id, model, protocol FROM ml.runs WHERE family IN ('classification', 'tuning') "
               "AND status = 'succeeded'")
    assert len(runs) >= 15
    for run_id, model, protocol in runs:
        folds = _folds(sql, run_id)
        split = "test" if len(folds) == 1 else "cv_fold"
        for fold, (actual, pred, prob) in folds.items():
            step = None if split == "test" else fold
            assert set(np.unique(pred)) <= {0.0, 1.0}
            assert _metric(sql, run_id, "accuracy", split, step) == pytest.approx(np.mean(actual == pred), rel=1e-12)
            assert _metric(sql, run_id, "f1", split, step) == pytest.approx(_f1(actual, pred), rel=1e-12)
            if not np.isnan(prob).all() and len(np.unique(actual)) == 2:
                assert _metric(sql, run_id, "roc_auc", split, step) == pytest.approx(_auc(actual, prob), rel=1e-9)


def test_no_uri_video_or_artist_is_on_both_sides_of_any_honest_split(trained, sql):
    import duckdb

    from tests.ml._splits import CHECKED_FOLDS, OVERLAPS, artist_grouped_overlaps

    assert sql(OVERLAPS) == []
    assert sql(CHECKED_FOLDS)[0][0] >= 15  # every honest split of the suite, 3 folds each
    assert sql("SELECT count(DISTINCT split_key) FROM ml.splits WHERE protocol = 'honest'")[0][0] >= 5
    assert sql("SELECT max(fold) FROM ml.splits WHERE protocol = 'honest'")[0][0] == 2  # 3 folds in tests
    # Not vacuous: grouping the same rows by artist alone (the protocol before track groups)
    # puts copies of a Spotify track or a video on both sides.
    con = duckdb.connect(str(trained[0]), read_only=True)
    try:
        assert artist_grouped_overlaps(con) > 0
    finally:
        con.close()
    # ... and every out-of-fold prediction was made for a track in that fold's test rows.
    stray = sql("""
        SELECT count(*) FROM ml.predictions p JOIN ml.runs r USING (run_id)
        WHERE r.protocol = 'honest' AND p.split = 'oof' AND NOT EXISTS (
            SELECT 1 FROM ml.splits s WHERE s.split_key = r.split_key AND s.fold = p.fold
              AND s.track_id = p.track_id AND s.role = 'test')""")
    assert stray[0][0] == 0
    # The replication protocol's random split does put artists on both sides (that is the leak).
    assert sql("""
        SELECT count(*) FROM (SELECT split_key, artist FROM ml.splits WHERE protocol = 'replication'
                              GROUP BY ALL HAVING count(DISTINCT role) > 1)""")[0][0] > 0


def test_every_compared_run_stores_its_baseline_on_the_same_folds(sql):
    """The paired comparison recomputed here from ml.metrics and ml.splits (Nadeau–Bengio SE)."""
    runs = sql("""SELECT run_id, task, model, split_key FROM ml.runs WHERE protocol = 'honest' AND status = 'succeeded'
                  AND family IN ('regression', 'classification') AND model NOT IN ('majority_class', 'mean_predictor')""")
    assert len(runs) >= 9
    for run_id, task, model, split_key in runs:
        metric = "accuracy" if task == "stream_gap_label" else "r2"
        folds = sql("SELECT step, value FROM ml.metrics WHERE run_id = ? AND split = 'cv_fold' AND metric = ? "
                    "ORDER BY step", [run_id, metric])
        base = sql("SELECT step, value FROM ml.metrics WHERE run_id = ? AND split = 'baseline_fold' AND metric = ? "
                   "ORDER BY step", [run_id, metric])
        sizes = dict(((f, role), n) for f, role, n in sql(
            "SELECT fold, role, count(*) FROM ml.splits WHERE split_key = ? GROUP BY ALL", [split_key]))
        assert [s for s, _ in folds] == [s for s, _ in base] == [0, 1, 2], (task, model)
        d = np.array([m for _, m in folds]) - np.array([b for _, b in base])
        ratio = np.mean([sizes[(f, "test")] / sizes[(f, "train")] for f in range(3)])
        stored = dict(sql("SELECT metric, value FROM ml.metrics WHERE run_id = ? AND split = 'vs_baseline'", [run_id]))
        assert stored["difference"] == pytest.approx(d.mean(), abs=1e-12), (task, model)
        assert stored["standard_error"] == pytest.approx(math.sqrt((1 / 3 + ratio) * d.var(ddof=1)), rel=1e-9,
                                                         abs=1e-15), (task, model)
        assert (stored["df"], stored["n_units"]) == (2, 3)
    # The baseline inside a run is the baseline run's own per-fold score: the same folds.
    (rf,) = sql("SELECT run_id FROM ml.runs WHERE model = 'random_forest' AND protocol = 'honest'")[0]
    (majority,) = sql("SELECT run_id FROM ml.runs WHERE model = 'majority_class' AND protocol = 'honest' "
                      "AND task = 'stream_gap_label'")[0]
    inside = sql("SELECT step, value FROM ml.metrics WHERE run_id = ? AND split = 'baseline_fold' "
                 "AND metric = 'accuracy' ORDER BY step", [rf])
    own = sql("SELECT step, value FROM ml.metrics WHERE run_id = ? AND split = 'cv_fold' AND metric = 'accuracy' "
              "ORDER BY step", [majority])
    assert inside == own


def test_honest_knn_selects_on_inner_folds_and_shows_the_study_configuration(sql):
    """Each outer fold's prediction is a plain KNN with the (ablation, K) that fold selected,
    fitted on that fold's training rows only; the study's K=7 configuration sits beside it."""
    import json

    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.preprocessing import MinMaxScaler

    from ml.study import KNN_ABLATION, ablation_label

    (run_id, params, split_key), = sql("SELECT run_id, CAST(params AS VARCHAR), split_key FROM ml.runs "
                                       "WHERE model = 'knn_regression' AND protocol = 'honest'")
    params = json.loads(params)
    assert "nested" in params["selection"]
    assert params["study_config"] == {"ablation": "without danceability/key/instrumentalness/tempo", "k": 7}
    picks = {p["fold"]: p for p in params["selected"]}
    assert sorted(picks) == [0, 1, 2]
    removed = {ablation_label(r): r for r in KNN_ABLATION}
    features = [f for f in params["features"]]
    cols = ", ".join(f"CAST(f.{c} AS DOUBLE)" for c in features)
    for fold, pick in picks.items():
        assert 1 <= pick["k"] <= 50 and pick["ablation"] in removed
        keep = [i for i, c in enumerate(features) if c not in removed[pick["ablation"]]]
        data = {role: sql(f"SELECT f.track_id, {cols}, CAST(f.view_count AS DOUBLE) FROM ml.splits s "
                          "JOIN marts.track_features f USING (track_id) WHERE s.split_key = ? AND s.fold = ? "
                          "AND s.role = ? ORDER BY f.track_id", [split_key, fold, role]) for role in ("train", "test")}
        Xtr = np.array([r[1:-1] for r in data["train"]])[:, keep]
        ytr = np.array([r[-1] for r in data["train"]])
        Xte = np.array([r[1:-1] for r in data["test"]])[:, keep]
        scaler = MinMaxScaler().fit(Xtr)
        expected = KNeighborsRegressor(n_neighbors=pick["k"], algorithm="brute").fit(
            scaler.transform(Xtr), ytr).predict(scaler.transform(Xte))
        stored = sql("SELECT prediction FROM ml.predictions WHERE run_id = ? AND fold = ? ORDER BY track_id",
                     [run_id, fold])
        assert np.allclose([p for (p,) in stored], expected, rtol=1e-9)
    beside = dict(sql("SELECT metric, value FROM ml.metrics WHERE run_id = ? AND split = 'study_config'", [run_id]))
    assert set(beside) == {"r2", "nrmse"}
    replication = sql("SELECT CAST(params AS VARCHAR) FROM ml.runs WHERE model = 'knn_regression' "
                      "AND protocol = 'replication'")[0][0]
    assert "selection on the scoring data" in json.loads(replication)["selection"]


def test_leaky_variant_is_skipped_with_its_reason(sql):
    rows = sql("SELECT status, status_reason FROM ml.runs WHERE model = 'svm_kernel_trick' AND protocol = 'honest'")
    assert rows and rows[0][0] == "skipped"
    assert "like_count" in rows[0][1] and "leaks the target" in rows[0][1]
    (status,) = sql("SELECT status FROM ml.runs WHERE model = 'svm_kernel_trick' AND protocol = 'replication'")[0]
    assert status == "succeeded"


def test_track_clusters_label_every_clustered_track(sql):
    (run_id,) = sql("SELECT run_id FROM ml.runs WHERE model = 'kmeans' AND protocol = 'replication'")[0]
    labels = sql("SELECT cluster, count(*) FROM ml.track_clusters WHERE run_id = ? GROUP BY 1 ORDER BY 1", [run_id])
    assert [c for c, _ in labels] == [0, 1, 2, 3]
    (expected,) = sql("""SELECT count(*) FROM marts.track_features WHERE is_official_video
                         AND danceability IS NOT NULL AND duration_ms IS NOT NULL AND tempo IS NOT NULL""")[0]
    assert sum(n for _, n in labels) == expected
    curve = sql("SELECT step FROM ml.metrics WHERE run_id = ? AND metric = 'inertia' AND split = 'elbow' ORDER BY step",
                [run_id])
    assert [s for (s,) in curve] == list(range(2, 11))


def test_figures_exist_and_the_report_embeds_them(trained, sql):
    from pathlib import Path

    from ml.report import build_report
    from tests.ml._report_html import parse

    path, reports, _ = trained
    artifacts = sql("SELECT name, path FROM ml.artifacts")
    names = {n for n, _ in artifacts}
    for expected in ("kmeans_elbow", "dbscan_k_distance", "kmeans_pca", "kmeans_tsne", "kmeans_profiles",
                     "correlation_heatmap", "stream_vs_views", "stream_vs_views_static", "ols_fits", "knn_ablation",
                     "stream_gap_label_random_forest_confusion", "random_forest_importances", "xgboost_shap",
                     "random_forest_grid_scores", "xgboost_optuna_history"):
        assert expected in names, expected
    assert all(Path(p).exists() and Path(p).stat().st_size > 0 for _, p in artifacts)
    page_text = build_report(path, reports).read_text(encoding="utf-8")
    page = parse(page_text)
    # Self-contained: every image is inside the page; only the interactive figure is a file.
    pngs = {p for n, p in artifacts if p.endswith(".png")}
    assert len(page.images) >= len(pngs) > 20
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert [h for h in page.links if not h.startswith("#")] and all(h.endswith(".html") for h in page.links)
    # Baselines are columns beside their model, never rows; every other model is one row per protocol.
    honest, replication = page.rows("honest"), page.rows("replication")
    shown = [(r["task"], r["model"].split()[0]) for r in honest + replication]
    assert not [m for _, m in shown if m in ("majority_class", "mean_predictor")]
    expected_rows = sql("""SELECT count(*) FROM (SELECT DISTINCT family, task, model, protocol FROM ml.runs
                           WHERE status <> 'running' AND model NOT IN ('majority_class', 'mean_predictor', 'exploration'))""")
    assert len(shown) == expected_rows[0][0]
    assert all("trivial baseline (same rows)" in r for r in (honest[0], replication[0]))
    # The study's figures beside ours, each difference with its reason.
    rf = next(r for r in replication if r["model"].startswith("random_forest ") and r["task"] == "stream_gap_label")
    assert "0.7646" in rf["study's figure"] and "different rows" in rf["ours − study's: why"]
    assert "leaks the label via stream" in rf["leak"]
    ols = next(r for r in replication if r["task"] == "ols_like_count")
    assert ols["leak"] == ""  # stream does not leak a like count
    # Per-task n and test size; captions; a summary on top.
    assert all(r["rows"].startswith("n = ") for r in honest + replication)
    assert any(c.startswith("What to conclude:") for c in page.captions)
    assert "Honest protocol:" in page.summary and "Rule:" in page.summary
    # Degenerate results called out: DBSCAN finds one cluster on the sample at both eps; K-Means
    # silhouettes are in-sample.
    by_model = {(r["model"].split()[0], p): r for p, rows in (("honest", honest), ("replication", replication))
                for r in rows}
    for protocol in ("honest", "replication"):
        assert "degenerate: DBSCAN finds 1 cluster" in by_model[("dbscan", protocol)]["notes"]
        assert "in-sample" in by_model[("kmeans", protocol)]["notes"]
        assert by_model[("kmeans", protocol)]["verdict"].startswith("not compared")
    assert "DBSCAN finds 1 cluster" in page.summary


def test_shap_is_timed_on_the_whole_test_set(sql):
    rows = sql("""SELECT r.model, r.protocol, m.value FROM ml.metrics m JOIN ml.runs r USING (run_id)
                  WHERE m.metric = 'shap_rows'""")
    assert {(m, p) for m, p, _ in rows} == {(m, p) for m in ("random_forest", "gradient_boosting", "xgboost")
                                            for p in ("replication", "honest")}
    for model, protocol, n in rows:
        (run_id,) = sql("SELECT run_id FROM ml.runs WHERE model = ? AND protocol = ? AND family = 'classification'",
                        [model, protocol])[0]
        last_fold = sql("SELECT max(coalesce(fold, 0)) FROM ml.predictions WHERE run_id = ?", [run_id])[0][0]
        stored = sql("SELECT count(*) FROM ml.predictions WHERE run_id = ? AND coalesce(fold, 0) = ?",
                     [run_id, last_fold])[0][0]
        assert n == stored
