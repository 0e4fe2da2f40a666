"""Families ``autoencoder_clusters`` and ``vae_clusters``: an MLP autoencoder or a VAE +
K-Means on the learned code, compared (silhouette in the scaled music-feature space) with
K-Means on the raw scaled features; PCA and t-SNE views of the code. Each run goes
through :class:`ml.pipeline.Pipeline`.

Clustering has no target: under the replication protocol the model is fitted on every
row (the task's all-rows split) and scored on them (split ``full``); under the honest
protocol it is fitted on the training artists of each grouped fold and scores the
held-out artists' tracks (``cv_fold``/``cv_mean``/``cv_std``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score

from ml import verdicts
from ml.datasets import Protocol, TrackData
from ml.deep import figures
from ml.deep.autoencoders import AutoencoderKMeans, VAEKMeans
from ml.deep.budget import DeepBudget
from ml.deep.device import configure_torch_threads
from ml.evaluation import log_comparison
from ml.options import TrainOptions
from ml.pipeline import Pipeline, RunContext
from ml.results import FamilyResult

TASK = "music_clusters"
#: family → (ml.runs.model, kind of network)
MODELS = {"autoencoder_clusters": ("mlp_autoencoder_kmeans", "autoencoder"), "vae_clusters": ("vae_kmeans", "vae")}


def make_clusterer(kind: str, budget: DeepBudget, seed: int):
    common = dict(n_clusters=budget.n_clusters, patience=budget.clustering_patience, random_state=seed)
    if kind == "autoencoder":
        return AutoencoderKMeans(max_epochs=budget.autoencoder_epochs, **common)
    if kind == "vae":
        return VAEKMeans(max_epochs=budget.vae_epochs, **common)
    raise ValueError(f"kind must be 'autoencoder' or 'vae', not {kind!r}")


def _silhouette(X: np.ndarray, labels: np.ndarray, rows: int, seed: int) -> float:
    if len(np.unique(labels)) < 2 or len(labels) < 3:
        return math.nan
    sample = min(rows, len(labels))
    return float(silhouette_score(X, labels, sample_size=sample if sample < len(labels) else None,
                                  random_state=seed))


def _random_labels(n: int, k: int, seed: int) -> np.ndarray:
    """The trivial baseline of a clustering: k labels drawn at random (seeded)."""
    return np.random.default_rng(seed).integers(0, k, size=n)


def _fit_all_rows(ctx: RunContext, model: str, kind: str, budget: DeepBudget, histories: list) -> tuple[float, int]:
    """Replication: the study clustered every row, so fit and score on all of them."""
    td, seed, run = ctx.td, ctx.seed, ctx.run
    X = td.task.make_scaler().fit_transform(td.X)
    clusterer = make_clusterer(kind, budget, seed)
    started = time.perf_counter()
    clusterer.fit(X)
    fit_seconds = time.perf_counter() - started
    labels = clusterer.labels_
    raw = KMeans(n_clusters=budget.n_clusters, n_init=10, random_state=seed).fit(X)
    code = clusterer.transform(X)
    rows = budget.silhouette_rows
    scores = {
        "silhouette": _silhouette(X, labels, rows, seed),
        "silhouette_code": _silhouette(code, labels, rows, seed),
        "silhouette_raw_kmeans": _silhouette(X, raw.labels_, rows, seed),
        "silhouette_random_labels": _silhouette(X, _random_labels(len(X), budget.n_clusters, seed), rows, seed),
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
    _views(ctx, code, labels, model, scores)
    return fit_seconds, len(X) * clusterer.n_epochs_


def _fit_folds(ctx: RunContext, model: str, kind: str, budget: DeepBudget, histories: list) -> tuple[float, int]:
    """Honest: fit on each fold's training artists, score the held-out artists' tracks."""
    td, seed, run = ctx.td, ctx.seed, ctx.run
    fit_seconds, row_epochs, per_fold = 0.0, 0, []
    rows = budget.silhouette_rows
    for fold in ctx.split.folds:
        scaler = td.task.make_scaler()
        X_train = scaler.fit_transform(td.X[fold.train])
        X_test = scaler.transform(td.X[fold.test])
        clusterer = make_clusterer(kind, budget, seed)
        started = time.perf_counter()
        clusterer.fit(X_train)
        fit_seconds += time.perf_counter() - started
        row_epochs += len(X_train) * clusterer.n_epochs_
        labels = clusterer.predict(X_test)
        raw = KMeans(n_clusters=budget.n_clusters, n_init=10, random_state=seed).fit(X_train)
        scores = {
            "silhouette": _silhouette(X_test, labels, rows, seed),
            "silhouette_raw_kmeans": _silhouette(X_test, raw.predict(X_test), rows, seed),
            "silhouette_random_labels": _silhouette(
                X_test, _random_labels(len(X_test), budget.n_clusters, seed), rows, seed),
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
    # The verdict's evidence: held-out silhouette vs random labels, paired by fold.
    log_comparison(run, verdicts.compare_folds(
        "silhouette", [s["silhouette"] for s in per_fold], [s["silhouette_random_labels"] for s in per_fold],
        n_train=[len(f.train) for f in ctx.split.folds], n_test=[len(f.test) for f in ctx.split.folds],
        scope=f"{len(per_fold)} grouped CV folds (held-out tracks; baseline: random labels)"))
    return fit_seconds, row_epochs


def _views(ctx: RunContext, code: np.ndarray, labels: np.ndarray, model: str, scores: Mapping[str, float]) -> None:
    """PCA and t-SNE of the learned code coloured by cluster, and the silhouette comparison."""
    seed = ctx.seed
    pca = PCA(n_components=2, random_state=seed).fit_transform(code)
    name = f"{model}_pca"
    ctx.add_figure(name, figures.cluster_scatter(pca, labels, ctx.figure_path(name),
                                                 f"{model}: PCA of the learned code", "PC"),
                   title="PCA of the code, coloured by cluster")
    n = min(ctx.options.tsne_rows, len(code))
    rows = np.sort(np.random.default_rng(seed).choice(len(code), size=n, replace=False))
    tsne = TSNE(n_components=2, random_state=seed, init="pca", perplexity=min(30.0, (n - 1) / 3)).fit_transform(code[rows])
    name = f"{model}_tsne"
    ctx.add_figure(name, figures.cluster_scatter(tsne, labels[rows], ctx.figure_path(name),
                                                 f"{model}: t-SNE of the learned code ({n} tracks)", "t-SNE"),
                   title="t-SNE of the code, coloured by cluster")
    name = f"{model}_silhouette"
    path = figures.silhouette_comparison(
        {model: scores["silhouette"], "kmeans (raw features)": scores["silhouette_raw_kmeans"]},
        ctx.figure_path(name), "Silhouette: learned code vs raw features")
    ctx.add_figure(name, path, title="Silhouette vs K-Means on raw features")


def _steps(model: str, kind: str, budget: DeepBudget):
    def steps(ctx: RunContext) -> None:
        histories: list = []
        fit = _fit_all_rows if ctx.protocol is Protocol.REPLICATION else _fit_folds
        fit_seconds, row_epochs = fit(ctx, model, kind, budget, histories)
        ctx.run.params.update(fit_seconds=round(fit_seconds, 3), train_row_epochs=row_epochs,
                              train_rows_per_s=round(row_epochs / fit_seconds, 1) if fit_seconds > 0 else None)
        name = f"{model}_loss_curves"
        path = figures.loss_curves(histories, ctx.figure_path(name), f"{model} ({ctx.protocol.value})")
        ctx.add_figure(name, path, title=f"{model}: train/val reconstruction loss per epoch")
    return steps


def _train(family: str, warehouse: Path, data: TrackData, options: TrainOptions) -> FamilyResult:
    configure_torch_threads(options.torch_threads)
    model, kind = MODELS[family]
    budget = options.deep_budget()
    pipe = Pipeline(family, warehouse, data, options)
    if options.wants(model):
        for protocol in options.protocols:
            pipe.track(TASK, model, protocol, _steps(model, kind, budget),
                       params=make_clusterer(kind, budget, options.seed).get_params())
    return pipe.result()


def train_autoencoder_clusters(warehouse: Path, data: TrackData, options: TrainOptions) -> FamilyResult:
    """The MLP autoencoder (in→128→64→in) + K-Means under each protocol."""
    return _train("autoencoder_clusters", warehouse, data, options)


def train_vae_clusters(warehouse: Path, data: TrackData, options: TrainOptions) -> FamilyResult:
    """The VAE (8-d latent) + K-Means on the latent means under each protocol."""
    return _train("vae_clusters", warehouse, data, options)
