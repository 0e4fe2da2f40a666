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


def test_honest_splits_never_share_an_artist(sql):
    overlaps = sql("""
        SELECT split_key, fold, artist FROM ml.splits WHERE protocol = 'honest'
        GROUP BY ALL HAVING count(DISTINCT role) > 1""")
    assert overlaps == []
    assert sql("SELECT count(DISTINCT split_key) FROM ml.splits WHERE protocol = 'honest'")[0][0] >= 5
    assert sql("SELECT max(fold) FROM ml.splits WHERE protocol = 'honest'")[0][0] == 2  # 3 folds in tests
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


def test_figures_exist_and_report_links_them(trained, sql):
    from ml.report import build_report

    path, reports, _ = trained
    artifacts = sql("SELECT name, path FROM ml.artifacts")
    names = {n for n, _ in artifacts}
    for expected in ("kmeans_elbow", "dbscan_k_distance", "kmeans_pca", "kmeans_tsne", "kmeans_profiles",
                     "correlation_heatmap", "stream_vs_views", "ols_fits", "knn_ablation",
                     "stream_gap_label_random_forest_confusion", "random_forest_importances", "xgboost_shap",
                     "random_forest_grid_scores", "xgboost_optuna_history"):
        assert expected in names, expected
    from pathlib import Path
    assert all(Path(p).exists() and Path(p).stat().st_size > 0 for _, p in artifacts)
    page = build_report(path, reports).read_text(encoding="utf-8")
    assert "0.7646" in page and "0.5679" in page  # the study's figures beside ours
    assert "kmeans_elbow.png" in page and "stream_vs_views.html" in page
    assert page.count("<tr>") - 1 == sql("SELECT count(*) FROM (SELECT DISTINCT family, task, model, protocol "
                                     "FROM ml.runs WHERE status <> 'running')")[0][0]


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
