"""The deep families through the one pipeline: a warehouse built from the sample by dbt,
models trained under both protocols, rows in ml.runs / ml.metrics / ml.predictions /
ml.track_clusters checked against values recomputed here, and the Dagster assets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, r2_score, silhouette_score
from sklearn.preprocessing import StandardScaler

from ml.datasets import load_track_features, make_split, prepare
from ml.deep.budget import DeepBudget
from ml.families import FAMILIES
from ml.options import TrainOptions
from warehouse import read_connection

pytestmark = [
    pytest.mark.xdist_group("ml_deep_pipeline"),
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

TINY = DeepBudget(
    autoencoder_epochs=3, vae_epochs=3, silhouette_rows=100_000,
    tabnet_epochs=2, tabnet_trials=2, tabnet_trial_epochs=1,
    tab_transformer_epochs=2, tab_transformer_depth=1, tab_transformer_dim=8, tab_transformer_heads=2,
    tabpfn_max_train_rows=100, tabpfn_n_estimators=1,
)


SEED, FOLDS = 42, 5


@pytest.fixture
def deep_env(built_warehouse):
    return built_warehouse


def train(family, warehouse, data, tmp_path, **overrides):
    """One deep family with the tiny budget, as an entry point would run it; → its RunSummary list."""
    values = dict(reports_dir=tmp_path / "reports", seed=SEED, cv_folds=FOLDS, tsne_rows=150,
                  budget=TINY.model_dump())
    values.update(overrides)
    return FAMILIES[family].load()(warehouse, data, TrainOptions(**values)).runs


def split_of(td):
    return make_split(td, seed=SEED, n_folds=FOLDS)


def rows(warehouse, sql, params=()):
    with read_connection(warehouse) as con:
        return con.execute(sql, list(params)).fetchall()


def metric(warehouse, run_id, name, split, step=None):
    clause = "step IS NULL" if step is None else f"step = {int(step)}"
    found = rows(warehouse, f"SELECT value FROM ml.metrics WHERE run_id = ? AND metric = ? AND split = ? AND {clause}",
                 (run_id, name, split))
    assert len(found) == 1, (run_id, name, split, found)
    return found[0][0]


def test_supervised_models_are_tracked_under_both_protocols(deep_env, tmp_path):
    data = load_track_features(deep_env)
    runs = train("tab_transformer", deep_env, data, tmp_path) + train("tabnet", deep_env, data, tmp_path)
    assert [(r.model, r.protocol) for r in runs] == [
        ("tab_transformer_regressor", "replication"), ("tab_transformer_classifier", "replication"),
        ("tab_transformer_regressor", "honest"), ("tab_transformer_classifier", "honest"),
        ("tabnet_regressor", "replication"), ("tabnet_classifier", "replication"),
        ("tabnet_regressor", "honest"), ("tabnet_classifier", "honest"),
    ]
    assert all(r.status == "succeeded" for r in runs), [(r.model, r.reason) for r in runs]
    stored = dict(rows(deep_env, "SELECT run_id, status FROM ml.runs WHERE family IN ('tabnet', 'tab_transformer')"))
    assert all(stored[r.run_id] == "succeeded" for r in runs)

    for r in runs:
        task = "views_knn" if r.model.endswith("regressor") else "stream_gap_label"
        td = prepare(task, r.protocol, data)
        split = split_of(td)
        preds = rows(deep_env, "SELECT track_id, actual, prediction, fold FROM ml.predictions WHERE run_id = ? "
                     "ORDER BY track_id", (r.run_id,))
        ids = np.array([p[0] for p in preds])
        actual = np.array([p[1] for p in preds])
        predicted = np.array([p[2] for p in preds])
        score = r2_score if task == "views_knn" else accuracy_score
        name = "r2" if task == "views_knn" else "accuracy"
        if r.protocol == "replication":
            assert sorted(ids) == sorted(td.track_ids[split.folds[0].test])
            assert metric(deep_env, r.run_id, name, "test") == pytest.approx(score(actual, predicted))
            epochs = int(metric(deep_env, r.run_id, "epochs_run", "train"))
            curve = rows(deep_env, "SELECT step FROM ml.metrics WHERE run_id = ? AND metric = 'val_loss' "
                         "AND split = 'curve' ORDER BY step", (r.run_id,))
            assert [c[0] for c in curve] == list(range(epochs))
        else:
            # Out-of-fold: every row predicted exactly once, by the fold that held it out.
            assert sorted(ids) == sorted(td.track_ids)
            folds = np.array([p[3] for p in preds])
            per_fold = [score(actual[folds == f.index], predicted[folds == f.index]) for f in split.folds]
            for f, value in zip(split.folds, per_fold, strict=True):
                assert metric(deep_env, r.run_id, name, "cv_fold", f.index) == pytest.approx(value)
            assert metric(deep_env, r.run_id, name, "cv_mean") == pytest.approx(np.mean(per_fold))
            splits = {s[0] for s in rows(deep_env, "SELECT DISTINCT split FROM ml.metrics WHERE run_id = ? "
                                         "AND metric = 'train_loss'", (r.run_id,))}
            assert splits == {f"curve_fold_{f.index}" for f in split.folds}
        assert r.figures[f"{r.model}_loss_curves"].exists()
        params, split_key = rows(deep_env, "SELECT params, split_key FROM ml.runs WHERE run_id = ?", (r.run_id,))[0]
        params = json.loads(params)
        assert params["train_rows_per_s"] > 0 and params["rows"] == td.n
        assert r.train_rows_per_s == params["train_rows_per_s"]
        assert split_key == split.key  # the documented join to ml.splits

    published = dict(rows(deep_env, "SELECT r.model || '/' || m.metric, m.value FROM ml.metrics m JOIN ml.runs r "
                                    "USING (run_id) WHERE m.split = 'published' "
                                    "AND r.family IN ('tabnet', 'tab_transformer')"))
    assert published == {
        "tab_transformer_regressor/r2": 0.8487, "tab_transformer_regressor/nrmse": 0.0353,
        "tabnet_regressor/r2": 0.4252, "tabnet_regressor/nrmse": 0.0385, "tabnet_classifier/accuracy": 0.695,
    }
    tabnet_replication = next(r for r in runs if r.model == "tabnet_regressor" and r.protocol == "replication")
    trials = rows(deep_env, "SELECT count(*) FROM ml.metrics WHERE run_id = ? AND metric = 'optuna_val_loss'",
                  (tabnet_replication.run_id,))[0][0]
    assert trials == TINY.tabnet_trials
    assert {f"tabnet_regressor_{n}" for n in ("importances", "masks", "optuna", "loss_curves")} <= set(
        tabnet_replication.figures)


def test_clustering_runs_store_labels_and_honest_silhouettes(deep_env, tmp_path):
    data = load_track_features(deep_env)
    for family, model in (("autoencoder_clusters", "mlp_autoencoder_kmeans"), ("vae_clusters", "vae_kmeans")):
        replication, honest = train(family, deep_env, data, tmp_path)
        assert (replication.model, replication.status, honest.status) == (model, "succeeded", "succeeded")
        td = prepare("music_clusters", "replication", data)
        labels = dict(rows(deep_env, "SELECT track_id, cluster FROM ml.track_clusters WHERE run_id = ?",
                           (replication.run_id,)))
        assert sorted(labels) == sorted(td.track_ids)
        assert set(labels.values()) <= set(range(TINY.n_clusters))
        X = StandardScaler().fit_transform(td.X)
        ordered = np.array([labels[t] for t in td.track_ids])
        assert metric(deep_env, replication.run_id, "silhouette", "full") == pytest.approx(
            silhouette_score(X, ordered))
        assert set(replication.figures) >= {f"{model}_{n}" for n in ("pca", "tsne", "silhouette", "loss_curves")}
        folds = rows(deep_env, "SELECT count(*) FROM ml.metrics WHERE run_id = ? AND metric = 'silhouette' "
                     "AND split = 'cv_fold'", (honest.run_id,))[0][0]
        honest_split = split_of(prepare("music_clusters", "honest", data))
        assert folds == len(honest_split.folds)
        keys = dict(rows(deep_env, "SELECT protocol, split_key FROM ml.runs WHERE family = ?", (family,)))
        assert keys == {"replication": split_of(td).key, "honest": honest_split.key}


def test_tabpfn_skips_without_weights_and_runs_with_a_tiny_checkpoint(deep_env, tiny_tabpfn_dir, tmp_path):
    data = load_track_features(deep_env)
    empty = tmp_path / "no_weights"
    empty.mkdir()
    skipped = train("tabpfn", deep_env, data, tmp_path, tabpfn_model_path=empty)
    assert [r.status for r in skipped] == ["skipped"] * 4
    stored = rows(deep_env, "SELECT status, status_reason FROM ml.runs WHERE run_id = ?", (skipped[0].run_id,))
    assert stored[0][0] == "skipped" and stored[0][1].startswith(f"skipped: no TabPFN weights at {empty}")

    ran = train("tabpfn", deep_env, data, tmp_path, tabpfn_model_path=tiny_tabpfn_dir, protocols=["replication"])
    assert [(r.model, r.status) for r in ran] == [("tabpfn_classifier", "succeeded"), ("tabpfn_regressor", "succeeded")]
    td = prepare("stream_gap_label", "replication", data)
    test_rows = split_of(td).folds[0].test
    n_preds = rows(deep_env, "SELECT count(*) FROM ml.predictions WHERE run_id = ?", (ran[0].run_id,))[0][0]
    assert n_preds == len(test_rows)  # scored on the whole test split, not 100 rows
    assert metric(deep_env, ran[0].run_id, "accuracy", "published") == 0.703


def test_two_runs_with_the_same_seed_are_identical(deep_env, tmp_path):
    """Same seed, same data: identical predictions, metrics and curves (replication hold-out
    and all honest folds, TabNet's Optuna study included)."""
    data = load_track_features(deep_env)

    def once():
        return (train("tab_transformer", deep_env, data, tmp_path, protocols=["replication"])
                + train("tabnet", deep_env, data, tmp_path, protocols=["honest"]))

    first, second = once(), once()
    for a, b in zip(first, second, strict=True):
        pa = rows(deep_env, "SELECT track_id, prediction FROM ml.predictions WHERE run_id = ? ORDER BY track_id", (a.run_id,))
        pb = rows(deep_env, "SELECT track_id, prediction FROM ml.predictions WHERE run_id = ? ORDER BY track_id", (b.run_id,))
        assert pa == pb
        ma = rows(deep_env, "SELECT metric, split, step, value FROM ml.metrics WHERE run_id = ? ORDER BY ALL", (a.run_id,))
        mb = rows(deep_env, "SELECT metric, split, step, value FROM ml.metrics WHERE run_id = ? ORDER BY ALL", (b.run_id,))
        assert ma == mb


def test_dagster_assets_materialize_and_report_status(deep_env, tmp_path):
    import dagster as dg

    from orchestration.assets.ml import family_assets
    from orchestration.resources import MLResource, WarehouseResource

    empty = tmp_path / "no_weights"
    empty.mkdir()
    result = dg.materialize(
        [family_assets["vae_clusters"], family_assets["tabpfn"]],
        resources={"warehouse": WarehouseResource(database=str(deep_env)),
                   "ml": MLResource(reports_dir=str(tmp_path / "reports"), tabpfn_model_path=str(empty))},
        run_config={"ops": {
            "ml__vae_clusters": {"config": {"protocols": ["replication"], "budget": {"vae_epochs": 2}}},
            "ml__tabpfn": {"config": {"protocols": ["replication"]}},
        }},
    )
    assert result.success
    meta = {
        m.asset_key.to_user_string(): m.metadata
        for m in (e.event_specific_data.materialization for e in result.get_asset_materialization_events())
    }
    # The family's runs as JSON records (ml.results.FamilyResult.to_records), never Markdown.
    runs = {(r["model"], r["protocol"]): r for name in ("ml/tabpfn", "ml/vae_clusters") for r in meta[name]["runs"].value}
    tabpfn = runs[("tabpfn_classifier", "replication")]
    assert tabpfn["status"] == "skipped" and tabpfn["reason"].startswith(f"skipped: no TabPFN weights at {empty}")
    vae = runs[("vae_kmeans", "replication")]
    assert vae["status"] == "succeeded"
    assert 0 < vae["metrics"]["full/reconstruction_mse"]
    tabnet = family_assets["tabnet"]
    assert dg.AssetKey(["marts", "track_features"]) in tabnet.asset_deps[tabnet.key]
