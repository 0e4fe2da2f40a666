"""The family registry and the training options: light to import, one-line selection errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ml.families import FAMILIES, MODELS, SelectionError, resolve_only
from ml.options import TrainOptions
from ml.protocol import Protocol

HEAVY = ("sklearn", "torch", "xgboost", "dagster", "statsmodels", "optuna")


def test_registry_imports_nothing_heavy():
    code = ("import sys, ml.families, ml.options, ml.results; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_families_are_the_contracts_and_load_their_entry():
    assert list(FAMILIES) == ["clustering", "regression", "classification", "tuning", "autoencoder_clusters",
                              "vae_clusters", "tabnet", "tab_transformer", "tabpfn"]
    assert {f.suite for f in FAMILIES.values()} == {"classical", "deep"}
    assert FAMILIES["tabnet"].asset == "ml/tabnet" and FAMILIES["tabnet"].job == "ml_tabnet"
    assert callable(FAMILIES["classification"].load())


def test_resolve_only_accepts_families_suites_and_models():
    assert resolve_only(None) == {name: None for name in FAMILIES}
    assert resolve_only(["random_forest", "xgboost_optuna", "tabnet"]) == {
        "classification": frozenset({"random_forest"}), "tuning": frozenset({"xgboost_optuna"}), "tabnet": None}
    assert resolve_only(["classical"]) == {n: None for n, f in FAMILIES.items() if f.suite == "classical"}
    assert list(resolve_only(["deep", "kmeans"])) == ["clustering", *(n for n, f in FAMILIES.items() if f.suite == "deep")]
    assert resolve_only(["knn_regression", "regression"]) == {"regression": None}
    assert resolve_only(["vae_kmeans", "tab_transformer_classifier"]) == {
        "vae_clusters": frozenset({"vae_kmeans"}), "tab_transformer": frozenset({"tab_transformer_classifier"})}
    assert set(MODELS) >= {"random_forest", "knn_regression", "xgboost_optuna", "tabnet_regressor", "vae_kmeans"}


def test_unknown_name_is_a_one_line_error_listing_what_is_known():
    with pytest.raises(SelectionError) as err:
        resolve_only(["nope"])
    message = str(err.value)
    assert "\n" not in message and "'nope'" in message
    assert all(name in message for name in ("classical", "deep", "tab_transformer", "random_forest", "vae_clusters"))


def test_options_normalise_and_come_from_settings(tmp_path):
    from tunehouse.settings import load_settings

    opts = TrainOptions(reports_dir=str(tmp_path), protocols=["honest"], only=["svm"])
    assert opts.protocols == (Protocol.HONEST,) and opts.only == frozenset({"svm"})
    assert opts.wants("svm") and not opts.wants("xgboost")
    assert TrainOptions(reports_dir=tmp_path).protocols == (Protocol.REPLICATION, Protocol.HONEST)
    with pytest.raises(ValueError):
        TrainOptions(reports_dir=tmp_path, protocols=["report"])
    settings = load_settings(reports_dir=tmp_path, ml_seed=7, ml_cv_folds=3)
    built = TrainOptions.from_settings(settings, optuna_trials=2, budget={"tabnet_epochs": 1})
    assert (built.seed, built.cv_folds, built.optuna_trials, built.reports_dir) == (7, 3, 2, tmp_path)
    assert built.deep_budget().tabnet_epochs == 1
    with pytest.raises(TypeError, match="nosuch"):
        TrainOptions.from_settings(settings, nosuch=1)
