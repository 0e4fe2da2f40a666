"""ML suite II as Dagster assets: the report's deep tabular models on marts/track_features.

Thin wrappers over ml.deep.suite: read the mart, train under each protocol (tracked in
ml.runs / ml.metrics / ml.predictions), and report metrics, statuses and figures as
asset metadata.
"""

import math
from collections.abc import Sequence

import dagster as dg

from ml.datasets import load_track_features
from ml.deep.budget import DeepBudget
from ml.deep.suite import (
    DeepRun,
    run_deep_clustering,
    run_tab_transformer,
    run_tabnet,
    run_tabpfn,
)
from orchestration.resources import WarehouseResource

TRACK_FEATURES = dg.AssetKey(["marts", "track_features"])
GROUP = "ml_deep"


class DeepConfig(dg.Config):
    protocols: list[str] = ["report", "honest"]
    """Protocols to run: 'report' (the report's split) and/or 'honest' (grouped CV by artist)."""
    max_epochs: int | None = None
    """Max epochs of the final fits (unset: the suite's default budget, docs/ml_deep.md)."""


class TabNetConfig(DeepConfig):
    trials: int | None = None
    """Optuna trials per study for TabNetRegressor (1..50; trial 0 = the report's start)."""
    trial_max_epochs: int | None = None
    """Max epochs per Optuna trial."""


class TabTransformerConfig(DeepConfig):
    depth: int | None = None
    """Transformer blocks (report: 4)."""
    dim: int | None = None
    """Token width (report: 32)."""


class TabPFNConfig(dg.Config):
    protocols: list[str] = ["report", "honest"]
    """Protocols to run."""
    max_train_rows: int | None = None
    """Training subsample size (default 1,000: TabPFN's CPU limit for v2 weights)."""
    model_path: str | None = None
    """TabPFN checkpoint file or folder (unset: TABPFN_MODEL_PATH, else TabPFN's cache)."""


def _budget(**overrides) -> DeepBudget:
    return DeepBudget(**{k: v for k, v in overrides.items() if v is not None})


def _markdown(runs: Sequence[DeepRun]) -> str:
    lines = ["| model | protocol | status | headline | fit s | rows/s |", "|---|---|---|---|---|---|"]
    for r in runs:
        headline = ", ".join(
            f"{k.split('/')[-1]} {v:.4g}" for k, v in r.metrics.items()
            if k.split("/")[-1] in ("r2", "accuracy", "silhouette") and k.startswith(("test/", "cv_mean/", "full/"))
        )
        status = r.status_text
        rate = "" if math.isnan(r.rows_per_s) else f"{r.rows_per_s:,.0f}"
        lines.append(f"| {r.model} | {r.protocol} | {status.replace('|', '/')} | {headline} | {r.fit_seconds:.1f} | {rate} |")
    return "\n".join(lines)


def _result(runs: Sequence[DeepRun], context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    metadata: dict = {"results": dg.MetadataValue.md(_markdown(runs))}
    for r in runs:
        prefix = f"{r.model}/{r.protocol}"
        metadata[f"{prefix}/status"] = r.status_text
        metadata[f"{prefix}/run_id"] = r.run_id
        for key, value in r.metrics.items():
            if key.startswith(("test/", "cv_mean/", "cv_std/", "full/")) and value is not None and math.isfinite(value):
                metadata[f"{prefix}/{key}"] = dg.MetadataValue.float(float(value))
        for name, path in r.figures.items():
            metadata[f"{prefix}/figure/{name}"] = dg.MetadataValue.path(str(path))
        if r.status == "skipped":
            context.log.warning(f"{prefix}: {r.reason}")
    return dg.MaterializeResult(metadata=metadata)


def _asset(name: str, description: str):
    return dg.asset(
        key=["ml", name],
        deps=[TRACK_FEATURES],
        group_name=GROUP,
        kinds={"pytorch", "duckdb"},
        description=description,
    )


@_asset("autoencoder_clusters", "Self-supervised MLP autoencoder (in→128→64→in, ReLU) + K-Means on the "
        "64-d code (report ch. 3-2-1); silhouette vs K-Means on raw features; PCA/t-SNE views.")
def autoencoder_clusters(context: dg.AssetExecutionContext, config: DeepConfig, warehouse: WarehouseResource):
    data = load_track_features(warehouse.path)
    runs = run_deep_clustering(warehouse.path, data, kind="autoencoder", protocols=config.protocols,
                               budget=_budget(autoencoder_epochs=config.max_epochs))
    return _result(runs, context)


@_asset("vae_clusters", "Variational autoencoder + K-Means on the latent means (report ch. 3-2-2); "
        "the same views and silhouette comparison as the MLP autoencoder.")
def vae_clusters(context: dg.AssetExecutionContext, config: DeepConfig, warehouse: WarehouseResource):
    data = load_track_features(warehouse.path)
    runs = run_deep_clustering(warehouse.path, data, kind="vae", protocols=config.protocols,
                               budget=_budget(vae_epochs=config.max_epochs))
    return _result(runs, context)


@_asset("tabnet", "TabNetRegressor (views; nested Optuna study from the report's start config) and "
        "TabNetClassifier (the report's label), early stopping, importances and attention masks.")
def tabnet(context: dg.AssetExecutionContext, config: TabNetConfig, warehouse: WarehouseResource):
    data = load_track_features(warehouse.path)
    budget = _budget(tabnet_epochs=config.max_epochs, tabnet_trials=config.trials,
                     tabnet_trial_epochs=config.trial_max_epochs)
    runs = run_tabnet(warehouse.path, data, protocols=config.protocols, budget=budget)
    return _result(runs, context)


@_asset("tab_transformer", "TabTransformer (Huang et al. 2020: column embeddings of categorical features, "
        "transformer blocks over them, layer-normed continuous features) for views and the label.")
def tab_transformer(context: dg.AssetExecutionContext, config: TabTransformerConfig, warehouse: WarehouseResource):
    data = load_track_features(warehouse.path)
    budget = _budget(tab_transformer_epochs=config.max_epochs, tab_transformer_depth=config.depth,
                     tab_transformer_dim=config.dim)
    runs = run_tab_transformer(warehouse.path, data, protocols=config.protocols, budget=budget)
    return _result(runs, context)


@_asset("tabpfn", "TabPFN classification (the report's label) and regression (views) on a training "
        "subsample, scored on the full test split; skipped (with the reason) without local weights.")
def tabpfn(context: dg.AssetExecutionContext, config: TabPFNConfig, warehouse: WarehouseResource):
    from pathlib import Path

    data = load_track_features(warehouse.path)
    runs = run_tabpfn(warehouse.path, data, protocols=config.protocols,
                      budget=_budget(tabpfn_max_train_rows=config.max_train_rows),
                      model_path=Path(config.model_path) if config.model_path else None)
    return _result(runs, context)


assets = [autoencoder_clusters, vae_clusters, tabnet, tab_transformer, tabpfn]

train_deep_job = dg.define_asset_job(
    "train_deep",
    selection=dg.AssetSelection.assets(*assets),
    description="ML suite II: autoencoder/VAE clustering, TabNet, TabTransformer, TabPFN.",
)
jobs = [train_deep_job]
