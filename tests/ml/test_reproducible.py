"""Same seed, same data → identical metrics, predictions and clusters; Optuna studies resume."""

from __future__ import annotations

import duckdb
import pytest

pytestmark = [pytest.mark.slow]


def _snapshot(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        metrics = con.execute("""
            SELECT r.family, r.task, r.model, r.protocol, m.metric, m.split, m.step, m.value
            FROM ml.metrics m JOIN ml.runs r USING (run_id)
            WHERE m.metric NOT IN ('shap_seconds') ORDER BY ALL""").fetchall()
        predictions = con.execute("""
            SELECT r.model, r.protocol, p.track_id, p.fold, p.prediction, p.probability
            FROM ml.predictions p JOIN ml.runs r USING (run_id) ORDER BY ALL""").fetchall()
        clusters = con.execute("""
            SELECT r.model, r.protocol, c.track_id, c.cluster FROM ml.track_clusters c
            JOIN ml.runs r USING (run_id) ORDER BY ALL""").fetchall()
    finally:
        con.close()
    return metrics, predictions, clusters


def test_two_runs_with_the_same_seed_are_identical(built_warehouse_template, tmp_path, train_on_copy):
    only = ["xgboost", "knn_regression", "kmeans"]
    a = tmp_path / "a.duckdb"
    b = tmp_path / "b.duckdb"
    train_on_copy(built_warehouse_template, a, tmp_path / "ra", only=only, protocols=["honest"])
    train_on_copy(built_warehouse_template, b, tmp_path / "rb", only=only, protocols=["honest"])
    snap_a, snap_b = _snapshot(a), _snapshot(b)
    assert len(snap_a[0]) > 50 and len(snap_a[1]) > 100 and len(snap_a[2]) > 100
    assert snap_a == snap_b


def test_optuna_study_is_persisted_and_resumed(built_warehouse_template, tmp_path, train_on_copy, train_options,
                                                optuna_trials):
    path = tmp_path / "w.duckdb"
    reports = tmp_path / "reports"
    train_on_copy(built_warehouse_template, path, reports, only=["xgboost_optuna"], protocols=["honest"])
    # The second run continues the same study file (train_on_copy would overwrite the
    # warehouse, so train again in place).
    from ml.families import train

    train(path, train_options(reports, protocols=["honest"]), only=["xgboost_optuna"])
    con = duckdb.connect(str(path), read_only=True)
    totals = con.execute("""
        SELECT m.value FROM ml.metrics m JOIN ml.runs r USING (run_id)
        WHERE m.metric = 'trials_total' ORDER BY r.started_at""").fetchall()
    con.close()
    assert [t for (t,) in totals] == [optuna_trials, 2 * optuna_trials]
    assert (reports / "optuna" / "studies.db").exists()
