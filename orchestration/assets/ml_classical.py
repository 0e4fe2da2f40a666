"""ml/clustering, ml/regression, ml/classification, ml/tuning and ml/report: the classical suite.

Each asset is a thin layer over one ``ml`` family function: it trains every model of the
family under the selected protocols on ``marts.track_features`` (tracked in ``ml.*``) and
returns the numeric metrics as asset metadata (so the UI plots them across
materializations) and the figures as paths. ml/report gathers ``ml.*`` into one HTML page.
"""


import dagster as dg

from ml import classification, clustering, regression, tuning
from ml.datasets import Protocol
from ml.report import build_report
from ml.registry import latest_results
from ml.runner import FamilyResult
from orchestration.resources import WarehouseResource

TRACK_FEATURES = dg.AssetKey(["marts", "track_features"])
GROUP = "ml"
#: Metric names worth a UI time series (the rest stay in ml.metrics).
_PLOTTED = {"accuracy", "roc_auc", "f1", "r2", "nrmse", "rmse", "silhouette", "noise_share", "n_clusters",
            "k", "eps", "best_k", "shap_seconds", "silhouette_random_labels"}


class MLRunConfig(dg.Config):
    protocols: list[str] = ["report", "honest"]
    """Which protocols to run: report (the report's splits/features) and/or honest (grouped CV)."""
    only: list[str] = []
    """Model names of this family to run (empty: all), e.g. ["random_forest", "xgboost"]."""
    seed: int | None = None
    """Seed of splits and models (default: TUNEHOUSE_ML_SEED)."""


def _protocols(config: MLRunConfig) -> tuple[Protocol, ...]:
    try:
        return tuple(Protocol(p) for p in config.protocols)
    except ValueError:
        raise dg.Failure(f"protocols must be 'report' and/or 'honest', got {config.protocols}") from None


def family_metadata(result: FamilyResult) -> dict[str, dg.MetadataValue]:
    """Numeric metrics (one float per model/protocol/split/metric), run statuses, figure paths."""
    meta: dict[str, dg.MetadataValue] = {}
    for key, value in sorted(result.metrics().items()):
        if key.rsplit("/", 1)[-1] in _PLOTTED:
            meta[key] = dg.MetadataValue.float(float(value))
    meta["seconds"] = dg.MetadataValue.float(round(result.seconds, 2))
    lines = ["| run | status | seconds |", "|---|---|---|"]
    for run_key, status in result.statuses().items():
        lines.append(f"| {run_key} | {status.replace('|', '/')} | {result.timings.get(run_key, '')} |")
    meta["runs"] = dg.MetadataValue.md("\n".join(lines))
    for name, path in sorted(result.figures.items()):
        meta[f"figure/{name}"] = dg.MetadataValue.path(str(path))
    meta["run_ids"] = dg.MetadataValue.json([r.run_id for r in result.runs])
    return meta


def _family_asset(name: str, fn, description: str):
    @dg.asset(
        key=["ml", name],
        deps=[TRACK_FEATURES],
        group_name=GROUP,
        kinds={"python", "duckdb"},
        description=description,
    )
    def _asset(context: dg.AssetExecutionContext, config: MLRunConfig, warehouse: WarehouseResource):
        result = fn(warehouse.path, _protocols(config), seed=config.seed, only=set(config.only) or None)
        context.log.info("%s: %d runs in %.1fs", name, len(result.runs), result.seconds)
        return dg.MaterializeResult(metadata=family_metadata(result))

    return _asset


ml_clustering = _family_asset(
    "clustering", clustering.run_clustering,
    "K-Means (elbow + silhouette, k=2..10), DBSCAN (k-distance), PCA/t-SNE views, cluster profiles; "
    "labels in ml.track_clusters.")
ml_regression = _family_asset(
    "regression", regression.run_regression,
    "OLS of YouTube counts on streams (statsmodels summary), Linear/Ridge/Lasso, KNN with K sweep and "
    "feature ablation, correlation heatmap, interactive Stream-vs-views scatter.")
ml_classification = _family_asset(
    "classification", classification.run_classification,
    "Stream-gap label: RF, GB, XGBoost, SVM (+ the kernel-trick SVM variant), confusion matrices, "
    "importances, exact TreeSHAP; majority-class baseline.")
ml_tuning = _family_asset(
    "tuning", tuning.run_tuning,
    "GridSearchCV for RF/GB/XGBoost (bounded report grids) and a resumable Optuna TPE study (pruning) "
    "for XGBoost, persisted in SQLite under reports_dir.")

FAMILY_ASSETS = [ml_clustering, ml_regression, ml_classification, ml_tuning]


@dg.asset(
    key=["ml", "report"],
    # The deep suite's assets (orchestration/assets/ml_deep.py) feed the same results table.
    deps=[a.key for a in FAMILY_ASSETS]
    + [dg.AssetKey(["ml", n]) for n in ("autoencoder_clusters", "vae_clusters", "tabnet", "tab_transformer", "tabpfn")],
    group_name=GROUP,
    kinds={"html"},
    description="One HTML page: every model × protocol, its trivial baseline, the report's published "
    "figure and this run's figures side by side (read from ml.*).",
)
def ml_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    path = build_report(warehouse.path)
    results = latest_results(warehouse.path)
    honest = [r for r in results if r.protocol == "honest" and not r.is_baseline
              and r.primary_metric in ("accuracy", "r2") and r.status == "succeeded"]
    lines = ["| family | task | model | protocol | metric | value | baseline | report's |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        split, value, _std = r.headline()
        base = r.baseline_value()
        pub = r.published_value()
        lines.append(
            f"| {r.family} | {r.task or ''} | {r.model} | {r.protocol} | {r.primary_metric or ''} | "
            f"{'' if value is None else f'{value:.4f}'} | {'' if base is None else f'{base:.4f}'} | "
            f"{'' if pub is None else f'{pub[0]:.4f}'} |")
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.path(str(path)),
        "results": dg.MetadataValue.md("\n".join(lines)),
        "runs_shown": dg.MetadataValue.int(len(results)),
        "honest_models_beating_baseline": dg.MetadataValue.int(sum(1 for r in honest if r.beats_baseline())),
        "honest_models": dg.MetadataValue.int(len(honest)),
    })


assets = [*FAMILY_ASSETS, ml_report]

ml_classical_job = dg.define_asset_job(
    "ml_classical",
    selection=dg.AssetSelection.assets(*assets),
    description="Train the classical suite (clustering, regression, classification, tuning) and build the report.",
)
ml_report_job = dg.define_asset_job(
    "ml_report", selection=dg.AssetSelection.assets(ml_report), description="Rebuild the ML HTML report from ml.*."
)
#: One job per family (`tunehouse train --only ...` runs just the selected ones).
family_jobs = {
    a.key.path[-1]: dg.define_asset_job(f"ml_{a.key.path[-1]}", selection=dg.AssetSelection.assets(a),
                                        description=f"Train the {a.key.path[-1]} family.")
    for a in FAMILY_ASSETS
}
jobs = [ml_classical_job, ml_report_job, *family_jobs.values()]
