"""The one tracked-run pipeline, across every family: one model (and its baseline) of each
family trained on the sample warehouse, then ml.runs checked against ml.splits.

Every run has a split_key that joins to the ml.splits rows of the same task, protocol and
seed — classical, deep, OLS, KNN, clustering and the exploration run alike, and skipped
runs too (a leaky feature, no TabPFN weights): they record the split they would have used.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from ml.families import FAMILIES

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

#: One model of each family (cheap ones), plus the leaky variant for the exception.
ONE_PER_FAMILY = {
    "clustering": ["kmeans"],
    "regression": ["exploration", "ols", "knn_regression"],
    "classification": ["xgboost", "svm_kernel_trick"],
    "tuning": ["random_forest_grid"],
    "autoencoder_clusters": ["mlp_autoencoder_kmeans"],
    "vae_clusters": ["vae_kmeans"],
    "tabnet": ["tabnet_classifier"],
    "tab_transformer": ["tab_transformer_classifier"],
    "tabpfn": ["tabpfn_classifier"],
}
TINY_BUDGET = dict(
    autoencoder_epochs=2, vae_epochs=2, silhouette_rows=100_000, tabnet_epochs=2, tabnet_trials=1,
    tabnet_trial_epochs=1, tab_transformer_epochs=2, tab_transformer_depth=1, tab_transformer_dim=8,
    tab_transformer_heads=2, tabpfn_max_train_rows=100, tabpfn_n_estimators=1,
)


@pytest.fixture(scope="module")
def every_family(built_warehouse_template, tmp_path_factory, train_on_copy):
    base = tmp_path_factory.mktemp("ml_every_family")
    no_weights = base / "no_tabpfn_weights"
    no_weights.mkdir()
    only = [m for models in ONE_PER_FAMILY.values() for m in models]
    results = train_on_copy(built_warehouse_template, base / "w.duckdb", base / "reports", only=only,
                            budget=TINY_BUDGET, tabpfn_model_path=no_weights)
    return base / "w.duckdb", results


def _rows(path, sql, params=()):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_every_family_ran_through_the_pipeline(every_family):
    path, results = every_family
    assert list(results) == list(FAMILIES)  # training order
    stored = _rows(path, "SELECT family, asset, model, protocol FROM ml.runs")
    assert {f for f, *_ in stored} == set(FAMILIES)
    assert all(asset == f"ml/{family}" for family, asset, _, _ in stored)
    assert {p for *_, p in stored} == {"replication", "honest"}
    for family, models in ONE_PER_FAMILY.items():
        ran = {m for f, _, m, _ in stored if f == family}
        assert set(models) <= ran, (family, ran)


def test_every_run_joins_its_split(every_family):
    path, _ = every_family
    runs = _rows(path, """
        SELECT r.family, r.model, r.protocol, r.status, r.status_reason, r.split_key,
               (SELECT count(*) FROM ml.splits s WHERE s.split_key = r.split_key AND s.task = r.task
                  AND s.protocol = r.protocol AND s.seed = r.seed) AS split_rows
        FROM ml.runs r ORDER BY ALL""")
    assert len(runs) >= 2 * len(ONE_PER_FAMILY)
    for family, model, protocol, status, reason, split_key, split_rows in runs:
        assert status in ("succeeded", "skipped"), (family, model, protocol, status, reason)
        assert split_key is not None and split_rows > 0, (family, model, protocol, split_key)
    # Runs skipped for a leak (the kernel-trick SVM's task and its baseline, which shares the
    # leaky features, under honest) were never evaluated but record the split they would use.
    leaky = [(m, p) for _, m, p, s, reason, *_ in runs if s == "skipped" and "leaks the target" in (reason or "")]
    assert leaky == [("majority_class", "honest"), ("svm_kernel_trick", "honest")]
    # So does a run skipped for another reason (no TabPFN weights).
    tabpfn = [(s, k) for f, _, _, s, _, k, _ in runs if f == "tabpfn"]
    assert tabpfn and all(s == "skipped" and k is not None for s, k in tabpfn)


def test_predictions_come_from_the_test_rows_of_the_runs_split(every_family):
    path, _ = every_family
    stray = _rows(path, """
        SELECT r.family, r.model, count(*) FROM ml.predictions p JOIN ml.runs r USING (run_id)
        WHERE p.split IN ('test', 'oof') AND NOT EXISTS (
            SELECT 1 FROM ml.splits s WHERE s.split_key = r.split_key AND s.fold = coalesce(p.fold, 0)
              AND s.track_id = p.track_id AND s.role = 'test')
        GROUP BY ALL""")
    assert stray == []
    deep = _rows(path, "SELECT count(DISTINCT r.run_id) FROM ml.predictions p JOIN ml.runs r USING (run_id) "
                       "WHERE r.family IN ('tabnet', 'tab_transformer')")
    assert deep[0][0] == 4


def test_importances_are_logged_under_one_split(every_family):
    path, _ = every_family
    splits = _rows(path, "SELECT DISTINCT r.family, m.split FROM ml.metrics m JOIN ml.runs r USING (run_id) "
                         "WHERE m.metric LIKE 'importance.%' ORDER BY ALL")
    assert splits == [("classification", "model"), ("tabnet", "model")]


def test_published_figures_come_from_one_table(every_family):
    from ml.study import PUBLISHED

    path, _ = every_family
    logged = _rows(path, """
        SELECT r.task, r.model, m.metric, m.value, m.step FROM ml.metrics m JOIN ml.runs r USING (run_id)
        WHERE m.split = 'published' ORDER BY ALL""")
    assert logged
    for task, model, metric, value, step in logged:
        assert any(p.metric == metric and p.value == value and p.step == step
                   for p in PUBLISHED[(task, model)]), (task, model, metric)
    # Only under the replication protocol (the study's own protocol).
    protocols = _rows(path, "SELECT DISTINCT r.protocol FROM ml.metrics m JOIN ml.runs r USING (run_id) "
                            "WHERE m.split = 'published'")
    assert protocols == [("replication",)]
    # The deep models' figures are in the same table.
    assert ("stream_gap_label", "tabnet_classifier", "accuracy", 0.695, None) in logged


def test_results_are_plain_data_matching_ml_runs(every_family):
    path, results = every_family
    stored = dict(_rows(path, "SELECT run_id, status FROM ml.runs"))
    records = [rec for result in results.values() for rec in result.to_records()]
    assert json.loads(json.dumps(records)) == records  # JSON-able as it is
    assert {rec["run_id"]: rec["status"] for rec in records} == stored
    xgb = results["classification"].run("xgboost", "honest")
    assert 0 < xgb.metrics["cv_mean/accuracy"] <= 1
    assert {"xgboost_shap", "stream_gap_label_xgboost_confusion"} <= set(xgb.figures)
    assert all(p.exists() for r in results.values() for p in r.figures.values())
    tabpfn = results["tabpfn"].run("tabpfn_classifier", "replication")
    assert tabpfn.status_text.startswith("skipped: no TabPFN weights at")


def test_legacy_report_protocol_rows_are_migrated(every_family, tmp_path):
    """Rows written as protocol 'report' before the rename become 'replication' on the next write."""
    import shutil

    from warehouse import ensure_schema, write_connection

    path = tmp_path / "old.duckdb"
    shutil.copyfile(every_family[0], path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE ml.runs SET protocol = 'report' WHERE protocol = 'replication'")
    con.execute("UPDATE ml.splits SET protocol = 'report' WHERE protocol = 'replication'")
    con.close()
    with write_connection(path) as con:
        ensure_schema(con)
    for table in ("ml.runs", "ml.splits"):
        assert {p for (p,) in _rows(path, f"SELECT DISTINCT protocol FROM {table}")} == {"replication", "honest"}
