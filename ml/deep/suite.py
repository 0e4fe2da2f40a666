"""The deep suite on the warehouse: each model under each protocol, tracked in ml.*.

Supervised models go through ML suite I's path (``ml.datasets`` task + protocol →
``make_split`` → ``ml.evaluation.evaluate`` → ``log_evaluation``), so their metrics,
splits and out-of-sample predictions are stored exactly like the classical models'
and show up beside them (and beside the report's published figure) in the report.
On top of that each deep run stores its training curves (``train_loss``/``val_loss``
per epoch: split ``curve`` for the report protocol's hold-out, ``curve_fold_<k>`` for
fold k of the honest CV; step = epoch), its best epoch, its figures, and its
training time and throughput in ``ml.runs.params``.

Clustering (autoencoder / VAE + K-Means) has no target: the report protocol fits on
all rows and scores silhouette on them (split ``full``); the honest protocol fits on
the training artists of each grouped fold and scores the held-out artists' tracks
(``cv_fold``/``cv_mean``/``cv_std``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score
from sklearn.pipeline import Pipeline

from ml.datasets import (
    LeakyFeatureError,
    Protocol,
    Split,
    TaskData,
    TrackData,
    make_split,
    prepare,
    split_frame,
)
from ml.deep import plots
from ml.deep.autoencoders import AutoencoderKMeans, VAEKMeans
from ml.deep.budget import DeepBudget
from ml.deep.device import configure_torch_threads
from ml.deep.tab_transformer import TabTransformerClassifier, TabTransformerRegressor
from ml.deep.tabnet import REPORT_REGRESSION_CONFIG, OptunaTabNetRegressor, TabNetClassifier
from ml.deep.tabpfn_models import (
    TabPFNSubsampleClassifier,
    TabPFNSubsampleRegressor,
    locate_tabpfn_weights,
)
from ml.evaluation import Evaluation, evaluate, log_evaluation
from ml.plots import figure_path
from ml.tracking import Run, save_split, tracked_run
from tunehouse.settings import get_settings

FAMILY = "deep"
CLUSTER_TASK = "music_clusters"
REGRESSION_TASK = "views_knn"
CLASSIFICATION_TASK = "stream_gap_label"


@dataclass(frozen=True)
class PublishedFigure:
    metric: str
    value: float
    source: str


#: The report's own figures for its deep models (logged as split ``published``).
DEEP_PUBLISHED: dict[tuple[str, str], tuple[PublishedFigure, ...]] = {
    (REGRESSION_TASK, "tabnet_regressor"): (
        PublishedFigure("r2", 0.4252, "ch. 4-2-1 / 6-3: TabNetRegressor after Optuna (from -0.1622)"),
        PublishedFigure("nrmse", 0.0385, "ch. 4-2-1 / 6-3: TabNetRegressor after Optuna (from 0.0548)"),
    ),
    (REGRESSION_TASK, "tab_transformer_regressor"): (
        PublishedFigure("r2", 0.8487, "ch. 4-2-2: the report's single-token 'TabTransformer'"),
        PublishedFigure("nrmse", 0.0353, "ch. 4-2-2: the report's single-token 'TabTransformer'"),
    ),
    (CLASSIFICATION_TASK, "tabnet_classifier"): (
        PublishedFigure("accuracy", 0.695, "ch. 5-2-1: TabNetClassifier, early stop at epoch 53"),
    ),
    (CLASSIFICATION_TASK, "tabpfn_classifier"): (
        PublishedFigure("accuracy", 0.703, "ch. 5-2-2: trained on 5 % of rows, scored on 100 test rows"),
    ),
}

#: Columns the TabTransformer embeds as categorical tokens when they are features.
CATEGORICAL_COLUMNS = ("artist_code", "album_type_code", "key", "licensed", "is_official_video", "is_children")


@dataclass
class DeepRun:
    """What one model under one protocol produced (also what the Dagster asset reports)."""

    model: str
    protocol: str
    task: str
    status: str
    reason: str | None
    run_id: str
    metrics: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    fit_seconds: float = 0.0
    train_row_epochs: int = 0

    @property
    def status_text(self) -> str:
        """'succeeded', or the status with its reason ('skipped: no TabPFN weights at ...')."""
        if not self.reason:
            return self.status
        return self.reason if self.reason.startswith(self.status) else f"{self.status}: {self.reason}"

    @property
    def rows_per_s(self) -> float:
        return self.train_row_epochs / self.fit_seconds if self.fit_seconds > 0 else math.nan

    @staticmethod
    def from_run(run: Run, figures: Mapping[str, Path] | None = None) -> DeepRun:
        return DeepRun(
            model=run.model,
            protocol=run.protocol,
            task=run.task or "",
            status=run.status,
            reason=run.status_reason,
            run_id=run.run_id,
            metrics=run.summary(),
            figures=dict(figures or {}),
            fit_seconds=float(run.params.get("fit_seconds", 0.0)),
            train_row_epochs=int(run.params.get("train_row_epochs", 0)),
        )


def _protocols(protocols) -> list[Protocol]:
    configure_torch_threads()
    return [Protocol(p) for p in (protocols or (Protocol.REPORT, Protocol.HONEST))]


def _seed(seed: int | None) -> int:
    return get_settings().ml_seed if seed is None else seed


def _inner(model):
    """The deep estimator inside an evaluation's fitted model (maybe a Pipeline)."""
    return model.named_steps["model"] if isinstance(model, Pipeline) else model


def _fig(name: str, protocol: Protocol, ext: str = "png") -> Path:
    return figure_path(FAMILY, protocol.value, name, ext)


def _log_curves(run: Run, ev: Evaluation, model: str, protocol: Protocol) -> Path | None:
    """train_loss / val_loss per epoch of every fold into ml.metrics, plus one figure."""
    histories = []
    for fold in ev.folds:
        est = _inner(fold.model)
        history = getattr(est, "history_", None)
        if not history:
            continue
        split = "curve" if len(ev.folds) == 1 else f"curve_fold_{fold.index}"
        steps = list(range(len(history["val_loss"])))
        run.log_curve("train_loss", steps, history["train_loss"], split=split)
        run.log_curve("val_loss", steps, history["val_loss"], split=split)
        label = "hold-out" if len(ev.folds) == 1 else f"fold {fold.index}"
        histories.append((label, history, getattr(est, "best_epoch_", None)))
    if not histories:
        return None
    best = [h[2] for h in histories if h[2] is not None]
    run.log_metric("best_epoch", float(np.mean(best)) if best else None, split="train")
    run.log_metric("epochs_run", float(np.mean([len(h[1]["val_loss"]) for h in histories])), split="train")
    path = plots.loss_curves(histories, _fig(f"{model}_loss_curves", protocol), f"{model} ({protocol.value})")
    run.log_artifact(f"{model}_loss_curves", path, title=f"{model}: train/val loss per epoch")
    return path


def _row_epochs(ev: Evaluation, split: Split) -> int:
    total = 0
    for fold, result in zip(split.folds, ev.folds, strict=True):
        est = _inner(result.model)
        default = len(fold.train) * int(getattr(est, "n_epochs_", 1))
        total += int(getattr(est, "trained_row_epochs_", default))
    return total


# ------------------------------------------------------------------ supervised runner

FactoryBuilder = Callable[[TaskData, Split, Run], Callable[[], object]]
After = Callable[[Run, TaskData, Split, Evaluation], dict[str, Path]]


def run_deep_supervised(
    warehouse: Path | str | None,
    data: TrackData,
    *,
    asset: str,
    task: str,
    model: str,
    protocol: Protocol | str,
    factory_builder: FactoryBuilder,
    params: Mapping | None = None,
    scale: bool = True,
    features_to_X: Callable[[TaskData], tuple[np.ndarray, list[str]]] | None = None,
    skip_reason: str | None = None,
    seed: int | None = None,
    after: After | None = None,
) -> DeepRun:
    """Train and score one deep model under one protocol, tracked like ML suite I's runs.

    ``factory_builder`` sees the prepared data and split first (e.g. to run an Optuna
    study on the training rows) and returns the estimator factory; ``features_to_X``
    may widen the feature matrix (e.g. categorical codes for the TabTransformer).
    A ``skip_reason`` stores the run as skipped (e.g. no TabPFN weights).
    """
    protocol = Protocol(protocol)
    seed = _seed(seed)
    figures: dict[str, Path] = {}
    with tracked_run(
        warehouse, asset=asset, family=FAMILY, model=model, protocol=protocol.value, task=task,
        params=dict(params or {}), data_version=data.version, seed=seed,
    ) as run:
        if protocol is Protocol.REPORT:
            for p in DEEP_PUBLISHED.get((task, model), ()):
                run.log_published(p.metric, p.value, p.source)
        if skip_reason:
            run.skip(skip_reason)
        try:
            td = prepare(task, protocol, data)
        except LeakyFeatureError as exc:
            run.skip(str(exc))
        split = make_split(td, seed=seed)
        X, feature_names = features_to_X(td) if features_to_X else (td.X, list(td.features))
        run.params.update(features=feature_names, dropped_features=td.dropped_features,
                          split=split.description, split_key=split.key, rows=td.n)
        save_split(warehouse, split_frame(td, split))
        factory = factory_builder(td, split, run)
        started = time.perf_counter()
        # One fold at a time: torch's global RNG (init, dropout, TabNet's batch order)
        # is per process, so folds trained in parallel threads would not be repeatable.
        ev = evaluate(td, split, factory, X=X, scale=scale, parallel_folds=False)
        seconds = time.perf_counter() - started
        row_epochs = _row_epochs(ev, split)
        run.params.update(fit_seconds=round(seconds, 3), train_row_epochs=row_epochs,
                          train_rows_per_s=round(row_epochs / seconds, 1) if seconds > 0 else None)
        log_evaluation(run, td, ev)
        curves = _log_curves(run, ev, model, protocol)
        if curves is not None:
            figures["loss_curves"] = curves
        if after is not None:
            figures.update(after(run, td, split, ev) or {})
    return DeepRun.from_run(run, figures)


# ------------------------------------------------------------------ TabNet


def run_tabnet(
    warehouse: Path | str | None,
    data: TrackData,
    *,
    budget: DeepBudget | None = None,
    protocols=None,
    seed: int | None = None,
    asset: str = "ml/tabnet",
) -> list[DeepRun]:
    """TabNetRegressor (views) tuned by a nested Optuna study per fit (trial 0 = the
    report's starting configuration; under the honest protocol one study per fold, on
    that fold's training artists only) and TabNetClassifier (the report's label and
    configuration), under each protocol."""
    budget = budget or DeepBudget()
    seed = _seed(seed)
    results = []
    for protocol in _protocols(protocols):
        results.append(run_deep_supervised(
            warehouse, data, asset=asset, task=REGRESSION_TASK, model="tabnet_regressor",
            protocol=protocol, seed=seed,
            params={"start_config": REPORT_REGRESSION_CONFIG, "trials": budget.tabnet_trials,
                    "trial_max_epochs": budget.tabnet_trial_epochs, "max_epochs": budget.tabnet_epochs,
                    "patience": budget.tabnet_patience},
            factory_builder=lambda td, split, run: lambda: OptunaTabNetRegressor(
                n_trials=budget.tabnet_trials, trial_max_epochs=budget.tabnet_trial_epochs,
                max_epochs=budget.tabnet_epochs, patience=budget.tabnet_patience, random_state=seed,
            ),
            after=_tabnet_figures("tabnet_regressor", protocol),
        ))
        results.append(run_deep_supervised(
            warehouse, data, asset=asset, task=CLASSIFICATION_TASK, model="tabnet_classifier",
            protocol=protocol, seed=seed,
            params={**TabNetClassifier().get_params(), "max_epochs": budget.tabnet_epochs,
                    "patience": budget.tabnet_patience, "random_state": seed},
            factory_builder=lambda td, split, run: lambda: TabNetClassifier(
                max_epochs=budget.tabnet_epochs, patience=budget.tabnet_patience, random_state=seed
            ),
            after=_tabnet_figures("tabnet_classifier", protocol),
        ))
    return results


def _tabnet_figures(model: str, protocol: Protocol) -> After:
    def after(run: Run, td: TaskData, split: Split, ev: Evaluation) -> dict[str, Path]:
        fitted = ev.folds[0].model
        est = _inner(fitted)
        features = list(td.features)
        out = {}
        studies = [(f.index, _inner(f.model).study_) for f in ev.folds if hasattr(_inner(f.model), "study_")]
        for index, study in studies:
            values = [math.nan if t.value is None else t.value for t in study.trials]
            split_name = "tuning" if len(ev.folds) == 1 else f"tuning_fold_{index}"
            run.log_curve("optuna_val_loss", range(len(values)), values, split=split_name)
        if studies:
            run.params["best_params"] = {str(i): dict(st.best_params) for i, st in studies}
            first = studies[0][1]
            out["optuna"] = plots.optuna_history(
                [t.value for t in first.trials], _fig(f"{model}_optuna", protocol),
                f"{model}: Optuna study ({protocol.value}, fold {studies[0][0]})")
            run.log_artifact(f"{model}_optuna", out["optuna"], title="Optuna: validation loss per trial",
                             published="ch. 6-3: RMSE 351.5M -> 247.2M, R² -0.1622 -> 0.4252")
        importances = np.asarray(est.feature_importances_, dtype=float)
        for name, value in zip(features, importances, strict=True):
            run.log_metric(f"importance.{name}", value, split="train")
        out["importances"] = plots.feature_importances(
            features, importances, _fig(f"{model}_importances", protocol),
            f"{model}: feature importances ({protocol.value})")
        rows = split.folds[0].test[:60]
        X = td.X[rows]
        if isinstance(fitted, Pipeline):
            X = fitted.named_steps["scale"].transform(X)
        _, masks = est.explain(X)
        out["attention_masks"] = plots.attention_masks(
            features, masks, _fig(f"{model}_masks", protocol),
            f"{model}: attention masks of {len(rows)} test tracks ({protocol.value})")
        published = "ch. 5-2-1: Loudness, Valence, Energy contribute most" if model == "tabnet_classifier" else None
        run.log_artifact(f"{model}_importances", out["importances"], title="TabNet feature importances",
                         published=published)
        run.log_artifact(f"{model}_masks", out["attention_masks"], title="TabNet attention masks per step")
        return out

    return after


# ------------------------------------------------------------------ TabTransformer


def tab_transformer_matrix(td: TaskData) -> tuple[np.ndarray, list[str]]:
    """The task's features plus album type as codes; which columns are categorical is
    decided by name (CATEGORICAL_COLUMNS)."""
    frame = td.frame.with_columns(
        pl.col("album_type").rank("dense").cast(pl.Float64).alias("album_type_code")
    )
    names = [*td.features, "album_type_code"]
    X = frame.select([pl.col(c).cast(pl.Float64) for c in names]).to_numpy()
    return np.ascontiguousarray(X), names


def _tab_transformer_params(budget: DeepBudget, seed: int) -> dict:
    return dict(dim=budget.tab_transformer_dim, depth=budget.tab_transformer_depth,
                heads=budget.tab_transformer_heads, max_epochs=budget.tab_transformer_epochs,
                batch_size=budget.tab_transformer_batch_size,
                patience=budget.tab_transformer_patience, random_state=seed)


def run_tab_transformer(
    warehouse: Path | str | None,
    data: TrackData,
    *,
    budget: DeepBudget | None = None,
    protocols=None,
    seed: int | None = None,
    asset: str = "ml/tab_transformer",
) -> list[DeepRun]:
    """TabTransformer (Huang et al. 2020) with a regression head (views) and a
    classification head (the report's label), under each protocol."""
    budget = budget or DeepBudget()
    seed = _seed(seed)
    params = _tab_transformer_params(budget, seed)
    results = []
    for protocol in _protocols(protocols):
        for task, model, cls in (
            (REGRESSION_TASK, "tab_transformer_regressor", TabTransformerRegressor),
            (CLASSIFICATION_TASK, "tab_transformer_classifier", TabTransformerClassifier),
        ):
            def builder(td, split, run, cls=cls):
                _, names = tab_transformer_matrix(td)
                categorical = [i for i, n in enumerate(names) if n in CATEGORICAL_COLUMNS]
                run.params["categorical_features"] = [names[i] for i in categorical]
                return lambda: cls(categorical_features=categorical, **params)

            results.append(run_deep_supervised(
                warehouse, data, asset=asset, task=task, model=model, protocol=protocol, seed=seed,
                params={**params, "variant": "TabTransformer (Huang et al. 2020): column embeddings "
                        "+ transformer over categorical tokens; continuous features layer-normed"},
                factory_builder=builder, scale=False, features_to_X=tab_transformer_matrix,
            ))
    return results


# ------------------------------------------------------------------ TabPFN


def run_tabpfn(
    warehouse: Path | str | None,
    data: TrackData,
    *,
    budget: DeepBudget | None = None,
    protocols=None,
    seed: int | None = None,
    model_path: Path | None = None,
    asset: str = "ml/tabpfn",
) -> list[DeepRun]:
    """TabPFN classification (the report's label) and regression (views), trained on a
    subsample within TabPFN's limits and scored on the full test split / every fold.
    Without weights each run is stored as skipped with the reason."""
    budget = budget or DeepBudget()
    seed = _seed(seed)
    configured = model_path if model_path is not None else get_settings().tabpfn_model_path
    results = []
    for protocol in _protocols(protocols):
        for task, model, cls, kind in (
            (CLASSIFICATION_TASK, "tabpfn_classifier", TabPFNSubsampleClassifier, "classifier"),
            (REGRESSION_TASK, "tabpfn_regressor", TabPFNSubsampleRegressor, "regressor"),
        ):
            weights = locate_tabpfn_weights(kind, configured)
            params = dict(max_train_rows=budget.tabpfn_max_train_rows, n_estimators=budget.tabpfn_n_estimators,
                          random_state=seed, weights=str(weights.path) if weights.path else None)
            results.append(run_deep_supervised(
                warehouse, data, asset=asset, task=task, model=model, protocol=protocol, seed=seed,
                params=params, scale=False,
                skip_reason=None if weights.available else weights.skip_reason,
                factory_builder=lambda td, split, run, cls=cls, weights=weights: lambda: cls(
                    model_path=str(weights.path), max_train_rows=budget.tabpfn_max_train_rows,
                    n_estimators=budget.tabpfn_n_estimators, random_state=seed),
            ))
    return results


# ------------------------------------------------------------------ clustering


def run_deep_clustering(
    warehouse: Path | str | None,
    data: TrackData,
    *,
    kind: str,
    budget: DeepBudget | None = None,
    protocols=None,
    seed: int | None = None,
    asset: str | None = None,
) -> list[DeepRun]:
    """MLP autoencoder (`kind="autoencoder"`) or VAE (`kind="vae"`) + K-Means on the code,
    compared (silhouette in the scaled music-feature space) with K-Means on the raw
    scaled features; PCA and t-SNE views of the code."""
    if kind not in ("autoencoder", "vae"):
        raise ValueError(f"kind must be 'autoencoder' or 'vae', not {kind!r}")
    budget = budget or DeepBudget()
    seed = _seed(seed)
    model = "mlp_autoencoder_kmeans" if kind == "autoencoder" else "vae_kmeans"
    asset = asset or f"ml/{'autoencoder' if kind == 'autoencoder' else 'vae'}_clusters"
    results = []
    for protocol in _protocols(protocols):
        results.append(_cluster_run(warehouse, data, kind, model, asset, protocol, budget, seed))
    return results


def _make_clusterer(kind: str, budget: DeepBudget, seed: int):
    common = dict(n_clusters=budget.n_clusters, patience=budget.clustering_patience, random_state=seed)
    if kind == "autoencoder":
        return AutoencoderKMeans(max_epochs=budget.autoencoder_epochs, **common)
    return VAEKMeans(max_epochs=budget.vae_epochs, **common)


def _silhouette(X: np.ndarray, labels: np.ndarray, rows: int, seed: int) -> float:
    if len(np.unique(labels)) < 2 or len(labels) < 3:
        return math.nan
    sample = min(rows, len(labels))
    return float(silhouette_score(X, labels, sample_size=sample if sample < len(labels) else None,
                                  random_state=seed))


def _random_labels(n: int, k: int, seed: int) -> np.ndarray:
    """The trivial baseline of a clustering: k labels drawn at random (seeded)."""
    return np.random.default_rng(seed).integers(0, k, size=n)


def _cluster_run(warehouse, data, kind, model, asset, protocol: Protocol, budget: DeepBudget, seed: int) -> DeepRun:
    figures: dict[str, Path] = {}
    with tracked_run(
        warehouse, asset=asset, family=FAMILY, model=model, protocol=protocol.value, task=CLUSTER_TASK,
        params=_make_clusterer(kind, budget, seed).get_params(), data_version=data.version, seed=seed,
    ) as run:
        td = prepare(CLUSTER_TASK, protocol, data)
        split = make_split(td, seed=seed)
        save_split(warehouse, split_frame(td, split))
        run.params.update(features=list(td.features), split=split.description, split_key=split.key, rows=td.n)
        fit_seconds, row_epochs, histories = 0.0, 0, []
        if protocol is Protocol.REPORT:
            # The report clustered every row: fit and score on all of them.
            scaler = td.task.make_scaler()
            X = scaler.fit_transform(td.X)
            clusterer = _make_clusterer(kind, budget, seed)
            started = time.perf_counter()
            clusterer.fit(X)
            fit_seconds = time.perf_counter() - started
            row_epochs = len(X) * clusterer.n_epochs_
            labels = clusterer.labels_
            raw = KMeans(n_clusters=budget.n_clusters, n_init=10, random_state=seed).fit(X)
            code = clusterer.transform(X)
            scores = {
                "silhouette": _silhouette(X, labels, budget.silhouette_rows, seed),
                "silhouette_code": _silhouette(code, labels, budget.silhouette_rows, seed),
                "silhouette_raw_kmeans": _silhouette(X, raw.labels_, budget.silhouette_rows, seed),
                "silhouette_random_labels": _silhouette(X, _random_labels(len(X), budget.n_clusters, seed),
                                                        budget.silhouette_rows, seed),
                "inertia": float(clusterer.kmeans_.inertia_),
                "reconstruction_mse": clusterer.reconstruction_error(X),
            }
            run.log_metrics(scores, split="full")
            run.log_clusters(model, td.track_ids, labels)
            histories.append(("all rows", clusterer.history_, clusterer.best_epoch_))
            run.log_curve("train_loss", range(clusterer.n_epochs_), clusterer.history_["train_loss"], split="curve")
            run.log_curve("val_loss", range(clusterer.n_epochs_), clusterer.history_["val_loss"], split="curve")
            run.log_metric("best_epoch", clusterer.best_epoch_, split="train")
            run.log_metric("epochs_run", clusterer.n_epochs_, split="train")
            figures.update(_cluster_views(run, td, code, labels, model, protocol, seed, scores))
        else:
            per_fold = []
            for fold in split.folds:
                scaler = td.task.make_scaler()
                X_train = scaler.fit_transform(td.X[fold.train])
                X_test = scaler.transform(td.X[fold.test])
                clusterer = _make_clusterer(kind, budget, seed)
                started = time.perf_counter()
                clusterer.fit(X_train)
                fit_seconds += time.perf_counter() - started
                row_epochs += len(X_train) * clusterer.n_epochs_
                labels = clusterer.predict(X_test)
                raw = KMeans(n_clusters=budget.n_clusters, n_init=10, random_state=seed).fit(X_train)
                scores = {
                    "silhouette": _silhouette(X_test, labels, budget.silhouette_rows, seed),
                    "silhouette_raw_kmeans": _silhouette(X_test, raw.predict(X_test), budget.silhouette_rows, seed),
                    "silhouette_random_labels": _silhouette(
                        X_test, _random_labels(len(X_test), budget.n_clusters, seed), budget.silhouette_rows, seed),
                    "reconstruction_mse": clusterer.reconstruction_error(X_test),
                }
                run.log_metrics(scores, split="cv_fold", step=fold.index)
                per_fold.append(scores)
                split_name = f"curve_fold_{fold.index}"
                run.log_curve("train_loss", range(clusterer.n_epochs_), clusterer.history_["train_loss"], split=split_name)
                run.log_curve("val_loss", range(clusterer.n_epochs_), clusterer.history_["val_loss"], split=split_name)
                histories.append((f"fold {fold.index}", clusterer.history_, clusterer.best_epoch_))
            for name in per_fold[0]:
                values = np.array([s[name] for s in per_fold], dtype=float)
                run.log_metric(name, float(np.nanmean(values)), split="cv_mean")
                run.log_metric(name, float(np.nanstd(values)), split="cv_std")
        run.params.update(fit_seconds=round(fit_seconds, 3), train_row_epochs=row_epochs,
                          train_rows_per_s=round(row_epochs / fit_seconds, 1) if fit_seconds > 0 else None)
        path = plots.loss_curves(histories, _fig(f"{model}_loss_curves", protocol), f"{model} ({protocol.value})")
        run.log_artifact(f"{model}_loss_curves", path, title=f"{model}: train/val reconstruction loss per epoch")
        figures["loss_curves"] = path
    return DeepRun.from_run(run, figures)


def _cluster_views(run: Run, td: TaskData, code: np.ndarray, labels: np.ndarray, model: str,
                   protocol: Protocol, seed: int, scores: Mapping[str, float]) -> dict[str, Path]:
    published = {
        "mlp_autoencoder_kmeans": "ch. 3-2-1: PCA shows cohesive clusters; t-SNE separates some clusters",
        "vae_kmeans": "ch. 3-2-2: PCA of VAE clusters: points not grouped, clustering judged worse than the MLP",
    }[model]
    out = {}
    pca = PCA(n_components=2, random_state=seed).fit_transform(code)
    out["pca"] = plots.cluster_scatter(pca, labels, _fig(f"{model}_pca", protocol),
                                       f"{model}: PCA of the learned code", "PC")
    run.log_artifact(f"{model}_pca", out["pca"], title="PCA of the code, coloured by cluster", published=published)
    n = min(get_settings().ml_tsne_rows, len(code))
    rows = np.sort(np.random.default_rng(seed).choice(len(code), size=n, replace=False))
    tsne = TSNE(n_components=2, random_state=seed, init="pca", perplexity=min(30.0, (n - 1) / 3)).fit_transform(code[rows])
    out["tsne"] = plots.cluster_scatter(tsne, labels[rows], _fig(f"{model}_tsne", protocol),
                                        f"{model}: t-SNE of the learned code ({n} tracks)", "t-SNE")
    run.log_artifact(f"{model}_tsne", out["tsne"], title="t-SNE of the code, coloured by cluster",
                     published=published)
    out["silhouette"] = plots.silhouette_comparison(
        {model: scores["silhouette"], "kmeans (raw features)": scores["silhouette_raw_kmeans"]},
        _fig(f"{model}_silhouette", protocol), "Silhouette: learned code vs raw features")
    run.log_artifact(f"{model}_silhouette", out["silhouette"], title="Silhouette vs K-Means on raw features")
    return out
