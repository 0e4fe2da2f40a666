"""Clustering (study ch. 3): K-Means with an elbow + silhouette sweep, DBSCAN with a k-distance
plot, PCA and t-SNE views coloured by cluster, per-cluster mean views and feature means.

Clustering has no target, so the two protocols differ in how parameters are chosen:

* ``replication``: the study's values, read off its plots by eye (K-Means k = 4; DBSCAN
  minPts = 100, eps = 6);
* ``honest``: chosen by a stated criterion (k with the highest silhouette; eps at the knee
  of the k-distance curve, the point farthest from the chord), and each partition's
  silhouette is compared with that of random labels with the same cluster sizes (the
  trivial baseline, ≈ 0).

Both protocols fit on every row (a split with all rows in train, stored in ``ml.splits``
like any other). Labels per track go to ``ml.track_clusters`` (-1 = DBSCAN noise). Every
run goes through :class:`ml.pipeline.Pipeline`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.cluster import DBSCAN, KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors

from ml import plots
from ml.datasets import Protocol, TaskData, TrackData
from ml.options import TrainOptions
from ml.pipeline import Pipeline, RunContext
from ml.results import FamilyResult

FAMILY = "clustering"
TASK = "music_clusters"
KS = tuple(range(2, 11))
STUDY_K = 4
STUDY_MIN_PTS = 100
STUDY_EPS = 6.0
SILHOUETTE_ROWS = 3000


def silhouette(X: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Silhouette on a seeded sample (exact silhouette is O(n²)); NaN for < 2 clusters."""
    mask = labels >= 0
    if len(np.unique(labels[mask])) < 2:
        return float("nan")
    n = int(mask.sum())
    return float(silhouette_score(X[mask], labels[mask], sample_size=min(n, SILHOUETTE_ROWS), random_state=seed))


def random_label_silhouette(X: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """The trivial baseline: the same cluster sizes, assigned at random."""
    rng = np.random.default_rng(seed)
    return silhouette(X, rng.permutation(labels), seed)


def elbow(X: np.ndarray, seed: int) -> tuple[list[float], list[float]]:
    inertias, sils = [], []
    for k in KS:
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(X)
        inertias.append(float(km.inertia_))
        sils.append(silhouette(X, km.labels_, seed))
    return inertias, sils


def k_distance(X: np.ndarray, min_pts: int) -> np.ndarray:
    """Sorted distance of every point to its min_pts-th neighbour (the k-distance plot)."""
    k = min(min_pts, len(X) - 1)
    dist, _ = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)
    return np.sort(dist[:, -1])


def knee(curve: np.ndarray) -> float:
    """Value at the knee: the point of the sorted curve farthest from the first–last chord."""
    n = len(curve)
    x = np.linspace(0, 1, n)
    span = curve[-1] - curve[0]
    y = (curve - curve[0]) / span if span > 0 else np.zeros(n)
    return float(curve[int(np.argmax(x - y))])


def _scatter(xy: np.ndarray, labels: np.ndarray, title: str, path: Path) -> Path:
    fig, ax = plots.new_figure(6, 5)
    for lab in np.unique(labels):
        m = labels == lab
        ax.scatter(xy[m, 0], xy[m, 1], s=3, alpha=0.5, label="noise" if lab < 0 else f"cluster {lab}")
    ax.legend(markerscale=4, fontsize=7)
    ax.set_title(title, fontsize=9)
    return plots.save_png(fig, path)


def _profiles(frame, features, labels, title, path) -> tuple[Path, dict]:
    """Mean views per cluster, and each feature's per-cluster mean (min-max scaled across clusters)."""
    clusters = [c for c in np.unique(labels) if c >= 0]
    views = frame["view_count"].to_numpy()
    mean_views = {int(c): float(np.nanmean(views[labels == c])) for c in clusters}
    fig, axes = plots.new_figure(11, 4)
    fig.clf()
    ax1, ax2 = fig.subplots(1, 2)
    ax1.bar([str(c) for c in clusters], [mean_views[int(c)] for c in clusters], color="#DD8452")
    ax1.set_xlabel("cluster")
    ax1.set_ylabel("mean views")
    ax1.set_title("Mean YouTube views per cluster", fontsize=9)
    for f in features:
        vals = frame[f].cast(float).to_numpy()
        means = np.array([np.nanmean(vals[labels == c]) for c in clusters])
        span = means.max() - means.min()
        ax2.plot([str(c) for c in clusters], (means - means.min()) / span if span > 0 else means * 0,
                 marker="o", lw=1, label=f)
    ax2.set_xlabel("cluster")
    ax2.set_ylabel("feature mean (scaled 0–1 across clusters)")
    ax2.legend(fontsize=6, ncol=2)
    ax2.set_title(title, fontsize=9)
    return plots.save_png(fig, path), mean_views


class _Shared:
    """What both protocols' runs share, computed once per feature matrix: the scaled
    features, the PCA / t-SNE projections, the elbow sweep and the k-distance curve."""

    def __init__(self, pipe: Pipeline):
        self.pipe = pipe
        self.seed = pipe.options.seed
        self._cache: dict = {}

    def _key(self, td: TaskData):
        return td.features, td.n, int(td.track_ids.sum())

    def scaled(self, td: TaskData) -> np.ndarray:
        key = ("X", self._key(td))
        if key not in self._cache:
            self._cache[key] = td.task.make_scaler().fit_transform(td.X)
        return self._cache[key]

    def projections(self, td: TaskData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(PCA xy of every row, t-SNE row positions, their t-SNE xy)."""
        key = ("proj", self._key(td))
        if key not in self._cache:
            X = self.scaled(td)
            pca_xy = PCA(n_components=2, random_state=self.seed).fit_transform(X)
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(td.n, size=min(td.n, self.pipe.options.tsne_rows), replace=False))
            tsne_xy = TSNE(n_components=2, random_state=self.seed, init="pca",
                           perplexity=min(30, len(rows) - 1)).fit_transform(X[rows])
            self._cache[key] = (pca_xy, rows, tsne_xy)
        return self._cache[key]

    def elbow(self, td: TaskData) -> tuple[list[float], list[float], int, Path]:
        """(inertias, silhouettes over KS, best-silhouette k, the elbow figure)."""
        key = ("elbow", self._key(td))
        if key not in self._cache:
            inertias, sils = elbow(self.scaled(td), self.seed)
            best_k = KS[int(np.nanargmax(sils))]
            fig, ax = plots.new_figure(6.5, 4)
            ax.plot(KS, inertias, marker="o")
            ax.set_xlabel("k")
            ax.set_ylabel("inertia")
            ax2 = ax.twinx()
            ax2.plot(KS, sils, marker="s", color="green")
            ax2.set_ylabel("silhouette", color="green")
            ax.set_title(f"K-Means elbow (inertia) and silhouette; study k={STUDY_K}, best silhouette k={best_k}",
                         fontsize=8)
            path = plots.save_png(fig, self.pipe.figure_path(Protocol.REPLICATION, "kmeans_elbow"))
            self.pipe.shared_figure(Protocol.REPLICATION, "kmeans_elbow", path)
            self._cache[key] = (inertias, sils, best_k, path)
        return self._cache[key]

    def k_distance(self, td: TaskData) -> tuple[int, float, Path]:
        """(minPts, knee eps, the k-distance figure)."""
        key = ("kdist", self._key(td))
        if key not in self._cache:
            min_pts = min(STUDY_MIN_PTS, max(2, td.n // 20))
            kd = k_distance(self.scaled(td), min_pts)
            knee_eps = knee(kd)
            fig, ax = plots.new_figure(6.5, 4)
            ax.plot(np.arange(len(kd)), kd)
            ax.axhline(STUDY_EPS, color="red", ls="--", label=f"study eps={STUDY_EPS}")
            ax.axhline(knee_eps, color="green", ls="--", label=f"knee eps={knee_eps:.2f}")
            ax.set_xlabel("points sorted by distance")
            ax.set_ylabel(f"distance to {min_pts}-th neighbour")
            ax.legend()
            ax.set_title(f"DBSCAN k-distance plot (minPts={min_pts})", fontsize=9)
            path = plots.save_png(fig, self.pipe.figure_path(Protocol.REPLICATION, "dbscan_k_distance"))
            self.pipe.shared_figure(Protocol.REPLICATION, "dbscan_k_distance", path)
            self._cache[key] = (min_pts, knee_eps, path)
        return self._cache[key]

    def views(self, ctx: RunContext, model: str, labels: np.ndarray, desc: str) -> None:
        """PCA / t-SNE scatter and cluster profiles of one partition, as the run's figures."""
        td = ctx.td
        pca_xy, tsne_rows, tsne_xy = self.projections(td)
        path = _scatter(pca_xy, labels, f"PCA of music features: {desc}", ctx.figure_path(f"{model}_pca"))
        ctx.add_figure(f"{model}_pca", path, title=f"PCA: {desc}")
        path = _scatter(tsne_xy, labels[tsne_rows], f"t-SNE ({len(tsne_rows)} rows): {desc}",
                        ctx.figure_path(f"{model}_tsne"))
        ctx.add_figure(f"{model}_tsne", path, title=f"t-SNE: {desc}")
        path, mean_views = _profiles(td.frame, td.features, labels, f"Feature means per cluster: {desc}",
                                     ctx.figure_path(f"{model}_profiles"))
        ctx.add_figure(f"{model}_profiles", path, title=f"Cluster profiles: {desc}")
        for c, v in mean_views.items():
            ctx.run.log_metric("mean_views", v, split="cluster", step=c)


def _kmeans(shared: _Shared):
    def steps(ctx: RunContext) -> None:
        X, seed = shared.scaled(ctx.td), ctx.seed
        inertias, sils, best_k, elbow_path = shared.elbow(ctx.td)
        k = STUDY_K if ctx.protocol is Protocol.REPLICATION else best_k
        ctx.run.params.update(k=k, n_init=4, scaler="standard",
                              k_choice="the study's (by eye)" if ctx.protocol is Protocol.REPLICATION
                              else "highest silhouette over k=2..10")
        ctx.run.log_curve("inertia", KS, inertias, split="elbow")
        ctx.run.log_curve("silhouette", KS, sils, split="elbow")
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(X)
        labels = km.labels_.astype(int)
        ctx.run.log_metrics({"k": k, "inertia": km.inertia_, "silhouette": silhouette(X, labels, seed),
                             "silhouette_random_labels": random_label_silhouette(X, labels, seed)}, split="full")
        ctx.run.log_clusters("kmeans", ctx.td.track_ids, labels)
        ctx.add_figure("kmeans_elbow", elbow_path, title="K-Means elbow")
        shared.views(ctx, "kmeans", labels, f"K-Means k={k}")
    return steps


def _dbscan(shared: _Shared):
    def steps(ctx: RunContext) -> None:
        X, seed = shared.scaled(ctx.td), ctx.seed
        min_pts, knee_eps, kd_path = shared.k_distance(ctx.td)
        eps = STUDY_EPS if ctx.protocol is Protocol.REPLICATION else knee_eps
        ctx.run.params.update(eps=eps, min_samples=min_pts,
                              eps_choice="the study's (by eye)" if ctx.protocol is Protocol.REPLICATION
                              else "knee of the k-distance curve")
        labels = DBSCAN(eps=eps, min_samples=min_pts, algorithm="brute", n_jobs=2).fit_predict(X).astype(int)
        n_clusters = len(set(labels.tolist()) - {-1})
        ctx.run.log_metrics({"eps": eps, "min_samples": min_pts, "n_clusters": n_clusters,
                             "noise_share": float(np.mean(labels == -1)),
                             "silhouette": silhouette(X, labels, seed),
                             "silhouette_random_labels": random_label_silhouette(X, labels, seed)},
                            split="full")
        ctx.run.log_clusters("dbscan", ctx.td.track_ids, labels)
        ctx.add_figure("dbscan_k_distance", kd_path, title="DBSCAN k-distance plot")
        shared.views(ctx, "dbscan", labels, f"DBSCAN eps={eps:.2f}, minPts={min_pts}")
    return steps


def train(warehouse: Path, data: TrackData, options: TrainOptions) -> FamilyResult:
    """K-Means and DBSCAN under each protocol (parameters: the study's, or chosen by a criterion)."""
    pipe = Pipeline(FAMILY, warehouse, data, options)
    shared = _Shared(pipe)
    why = "no target: every row is clustered; parameters are the study's or chosen by a stated criterion"
    for model, steps in (("kmeans", _kmeans(shared)), ("dbscan", _dbscan(shared))):
        if options.wants(model):
            for protocol in options.protocols:
                pipe.track(TASK, model, protocol, steps, all_rows=why)
    return pipe.result()
