"""The one registry of model families: what each Dagster asset ``ml/<family>`` trains.

Light on purpose (no sklearn, torch, xgboost, dagster, statsmodels, optuna): the CLI and
the Dagster definitions read it to build commands and asset specs; a family's code is
imported only when :meth:`Family.load` is called to run it.

Every family entry has the signature ``train(warehouse, data, options) -> FamilyResult``
and sends each of its runs through :mod:`ml.pipeline`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ml.options import TrainOptions
from ml.results import FamilyResult

if TYPE_CHECKING:
    from ml.datasets import TrackData

SUITES = ("classical", "deep")

FamilyEntry = Callable[[Path, "TrackData", TrainOptions], FamilyResult]


@dataclass(frozen=True)
class Family:
    name: str  # asset key ["ml", name], job f"ml_{name}", ml.runs.family
    suite: str  # "classical" | "deep"
    entry: str  # "module:function", imported only when run
    models: tuple[str, ...]  # the ml.runs.model names it writes (what --only accepts)
    description: str
    kinds: frozenset[str]  # Dagster kinds

    @property
    def asset(self) -> str:
        """The asset path as stored in ``ml.runs.asset`` (``ml/<name>``)."""
        return f"ml/{self.name}"

    @property
    def job(self) -> str:
        return f"ml_{self.name}"

    @property
    def compared_models(self) -> tuple[str, ...]:
        """Its models whose honest runs get a verdict against their baseline (and an asset check)."""
        return tuple(m for m in self.models if m not in BASELINE_MODELS and m not in UNCOMPARED_MODELS)

    def load(self) -> FamilyEntry:
        """Import the family's code and return its ``train(warehouse, data, options)``."""
        module, _, function = self.entry.partition(":")
        return getattr(importlib.import_module(module), function)


#: The trivial baselines: runs of their own, never verdict-checked themselves.
BASELINE_MODELS: tuple[str, ...] = ("majority_class", "mean_predictor")

#: Models with no held-out score to compare with a baseline, and why (no asset check, the
#: report says why instead of giving a verdict).
UNCOMPARED_MODELS: dict[str, str] = {
    "exploration": "descriptive figures, no model",
    "kmeans": "fitted and scored on every row: its silhouette is in-sample",
    "dbscan": "fitted and scored on every row: its silhouette is in-sample",
}

#: Families tracked in ml.* beside the model families but judged in a section of their own
#: (not by the one rule's single verdict), and where. Name = ml.runs.family.
OWN_SECTION_FAMILIES: dict[str, str] = {
    "forecasting": "compared with its two baselines at each horizon (median error, paired bootstrap intervals "
                   "over track groups): asset ml/forecasts and the report's forecasting section",
}


_CLASSICAL = frozenset({"scikit-learn", "duckdb"})
_DEEP = frozenset({"pytorch", "duckdb"})

#: In training order (the order `tunehouse train` runs them).
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "clustering", "classical", "ml.clustering:train", ("kmeans", "dbscan"),
            "K-Means (elbow + silhouette, k=2..10), DBSCAN (k-distance), PCA/t-SNE views, cluster "
            "profiles; labels in ml.track_clusters.",
            _CLASSICAL,
        ),
        Family(
            "regression", "classical", "ml.regression:train",
            ("exploration", "ols", "linear_regression", "ridge", "lasso", "knn_regression", "mean_predictor"),
            "OLS of YouTube counts on streams (statsmodels summary), Linear/Ridge/Lasso, KNN with K sweep "
            "and feature ablation, correlation heatmap, interactive Stream-vs-views scatter.",
            _CLASSICAL | {"statsmodels"},
        ),
        Family(
            "classification", "classical", "ml.classification:train",
            ("majority_class", "random_forest", "gradient_boosting", "xgboost", "svm", "svm_kernel_trick"),
            "Stream-gap label: RF, GB, XGBoost, SVM (+ the kernel-trick SVM variant), confusion matrices, "
            "importances, exact TreeSHAP; majority-class baseline.",
            _CLASSICAL | {"xgboost"},
        ),
        Family(
            "tuning", "classical", "ml.tuning:train",
            ("random_forest_grid", "gradient_boosting_grid", "xgboost_grid", "xgboost_optuna"),
            "GridSearchCV for RF/GB/XGBoost (bounded study grids) and a resumable Optuna TPE study "
            "(pruning) for XGBoost, persisted in SQLite under reports_dir.",
            _CLASSICAL | {"optuna"},
        ),
        Family(
            "autoencoder_clusters", "deep", "ml.deep.cluster_families:train_autoencoder_clusters",
            ("mlp_autoencoder_kmeans",),
            "Self-supervised MLP autoencoder (in→128→64→in, ReLU) + K-Means on the 64-d code (study "
            "ch. 3-2-1); silhouette vs K-Means on raw features; PCA/t-SNE views.",
            _DEEP,
        ),
        Family(
            "vae_clusters", "deep", "ml.deep.cluster_families:train_vae_clusters", ("vae_kmeans",),
            "Variational autoencoder + K-Means on the latent means (study ch. 3-2-2); the same views "
            "and silhouette comparison as the MLP autoencoder.",
            _DEEP,
        ),
        Family(
            "tabnet", "deep", "ml.deep.tabnet_family:train", ("tabnet_regressor", "tabnet_classifier"),
            "TabNetRegressor (views; nested Optuna study from the study's start config) and "
            "TabNetClassifier (the study's label), early stopping, importances and attention masks.",
            _DEEP,
        ),
        Family(
            "tab_transformer", "deep", "ml.deep.tab_transformer_family:train",
            ("tab_transformer_regressor", "tab_transformer_classifier"),
            "TabTransformer (Huang et al. 2020: column embeddings of categorical features, transformer "
            "blocks over them, layer-normed continuous features) for views and the label.",
            _DEEP,
        ),
        Family(
            "tabpfn", "deep", "ml.deep.tabpfn_family:train", ("tabpfn_classifier", "tabpfn_regressor"),
            "TabPFN classification (the study's label) and regression (views) on a training subsample, "
            "scored on the full test split; skipped (with the reason) without local weights.",
            _DEEP,
        ),
    )
}

#: model name → family name.
MODELS: dict[str, str] = {m: f.name for f in FAMILIES.values() for m in f.models}
assert len(MODELS) == sum(len(f.models) for f in FAMILIES.values()), "a model name is in two families"
assert not set(MODELS) & (set(FAMILIES) | set(SUITES)), "a model is named like a family or suite"


class SelectionError(ValueError):
    """An unknown family, suite or model name (one line, lists what is known)."""


def suite_families(suite: str) -> list[Family]:
    return [f for f in FAMILIES.values() if f.suite == suite]


def resolve_only(names: Iterable[str] | None) -> dict[str, frozenset[str] | None]:
    """family name → its selected models (None = every model of the family), in training order.

    A name is a family (``tabnet``), a suite (``classical``, ``deep``) or a model
    (``random_forest``); a model selects its family with just that model (families add
    the model's trivial baseline themselves). No names = everything.
    """
    cleaned = [n.strip() for n in (names or ()) if n and n.strip()]
    if not cleaned:
        return {name: None for name in FAMILIES}
    plan: dict[str, set[str] | None] = {}
    for name in cleaned:
        if name in FAMILIES:
            plan[name] = None
        elif name in SUITES:
            for family in suite_families(name):
                plan[family.name] = None
        elif name in MODELS:
            family = MODELS[name]
            if family not in plan:
                plan[family] = {name}
            elif plan[family] is not None:
                plan[family].add(name)
        else:
            known = ", ".join([*SUITES, *FAMILIES, *sorted(MODELS)])
            raise SelectionError(f"unknown family or model {name!r}; known: {known}")
    return {name: (None if plan[name] is None else frozenset(plan[name])) for name in FAMILIES if name in plan}


def train(
    warehouse: Path | str,
    options: TrainOptions,
    only: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, FamilyResult]:
    """Run the selected families in training order; the mart is read once for all of them.

    ``only`` as in :func:`resolve_only`; ``options.only`` is ignored here (each family
    gets its own selection). ``progress(family)`` is called before each family starts.
    """
    from ml.datasets import load_track_features

    plan = resolve_only(only)
    data = load_track_features(Path(warehouse), official_only=options.official_only, children=options.children)
    out: dict[str, FamilyResult] = {}
    for name, models in plan.items():
        if progress is not None:
            progress(name)
        out[name] = FAMILIES[name].load()(Path(warehouse), data, options.with_only(models))
    return out
