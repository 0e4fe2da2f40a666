"""Clustering (report ch. 3): K-Means with an elbow + silhouette sweep, DBSCAN with a k-distance
plot, PCA and t-SNE views coloured by cluster, per-cluster mean views and feature means.

Clustering has no target, so the two protocols differ in how parameters are chosen:

* ``report``: the report's values, read off its plots by eye (K-Means k = 4; DBSCAN
  minPts = 100, eps = 6);
* ``honest``: chosen by a stated criterion (k with the highest silhouette; eps at the knee
  of the k-distance curve, the point farthest from the chord), and each partition's
  silhouette is compared with that of random labels with the same cluster sizes (the
  trivial baseline, ≈ 0).

Labels per track go to ``ml.track_clusters`` (-1 = DBSCAN noise).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from sklearn.cluster import DBSCAN, KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors

from ml import plots
from ml.datasets import Protocol, TrackData, load_track_features, make_split, prepare, split_frame
from ml.published import FIGURES
from ml.runner import FamilyResult
from ml.tracking import save_split, tracked_run
from tunehouse.settings import get_settings

FAMILY = "clustering"
ASSET = "ml/clustering"
TASK = "music_clusters"
KS = tuple(range(2, 11))
REPORT_K = 4
REPORT_MIN_PTS = 100
REPORT_EPS = 6.0
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


def run_clustering(
    warehouse: Path | str | None = None,
    protocols: tuple[Protocol, ...] = (Protocol.REPORT, Protocol.HONEST),
    *,
    data: TrackData | None = None,
    seed: int | None = None,
    only: set[str] | None = None,
    reports_dir: Path | None = None,
    asset: str = ASSET,
) -> FamilyResult:
    started = time.perf_counter()
    settings = get_settings()
    seed = settings.ml_seed if seed is None else seed
    data = data if data is not None else load_track_features(warehouse)
    result = FamilyResult(FAMILY)
    td = prepare(TASK, Protocol.REPORT, data)
    split = make_split(td, seed=seed)
    save_split(warehouse, split_frame(td, split))
    X = td.task.make_scaler().fit_transform(td.X)
    want = (lambda name: not only or name in only)

    t0 = time.perf_counter()
    pca_xy = PCA(n_components=2, random_state=seed).fit_transform(X)
    rng = np.random.default_rng(seed)
    tsne_rows = np.sort(rng.choice(td.n, size=min(td.n, settings.ml_tsne_rows), replace=False))
    tsne_xy = TSNE(n_components=2, random_state=seed, init="pca", perplexity=min(30, len(tsne_rows) - 1)
                   ).fit_transform(X[tsne_rows])
    result.timings["projections (PCA, t-SNE)"] = round(time.perf_counter() - t0, 2)

    def figures_for(run, protocol, model, labels, desc):
        pca_path = plots.figure_path(FAMILY, protocol.value, f"{model}_pca", base=reports_dir)
        _scatter(pca_xy, labels, f"PCA of music features: {desc}", pca_path)
        run.log_artifact(f"{model}_pca", pca_path, title=f"PCA: {desc}", published=FIGURES.get(f"{model}_pca"))
        tsne_path = plots.figure_path(FAMILY, protocol.value, f"{model}_tsne", base=reports_dir)
        _scatter(tsne_xy, labels[tsne_rows], f"t-SNE ({len(tsne_rows)} rows): {desc}", tsne_path)
        run.log_artifact(f"{model}_tsne", tsne_path, title=f"t-SNE: {desc}")
        prof_path = plots.figure_path(FAMILY, protocol.value, f"{model}_profiles", base=reports_dir)
        _, mean_views = _profiles(td.frame, td.features, labels, f"Feature means per cluster: {desc}", prof_path)
        run.log_artifact(f"{model}_profiles", prof_path, title=f"Cluster profiles: {desc}",
                         published=FIGURES["cluster_profiles"] if model == "kmeans" else None)
        for c, v in mean_views.items():
            run.log_metric("mean_views", v, split="cluster", step=c)
        for name, path in ((f"{model}_pca", pca_path), (f"{model}_tsne", tsne_path), (f"{model}_profiles", prof_path)):
            result.figures[f"{protocol.value}/{name}"] = path

    if want("kmeans"):
        t0 = time.perf_counter()
        inertias, sils = elbow(X, seed)
        best_k = KS[int(np.nanargmax(sils))]
        elbow_path = plots.figure_path(FAMILY, "report", "kmeans_elbow", base=reports_dir)
        fig, ax = plots.new_figure(6.5, 4)
        ax.plot(KS, inertias, marker="o")
        ax.set_xlabel("k")
        ax.set_ylabel("inertia")
        ax2 = ax.twinx()
        ax2.plot(KS, sils, marker="s", color="green")
        ax2.set_ylabel("silhouette", color="green")
        ax.set_title(f"K-Means elbow (inertia) and silhouette; report k={REPORT_K}, best silhouette k={best_k}",
                     fontsize=8)
        plots.save_png(fig, elbow_path)
        result.figures["report/kmeans_elbow"] = elbow_path
        for protocol in protocols:
            k = REPORT_K if protocol is Protocol.REPORT else best_k
            with tracked_run(warehouse, asset=asset, family=FAMILY, model="kmeans", protocol=protocol.value,
                             task=TASK, data_version=data.version, seed=seed,
                             params={"k": k, "n_init": 4, "features": list(td.features), "scaler": "standard",
                                     "k_choice": "report (by eye)" if protocol is Protocol.REPORT
                                     else "highest silhouette over k=2..10"}) as run:
                run.split_key = split.key
                run.log_curve("inertia", KS, inertias, split="elbow")
                run.log_curve("silhouette", KS, sils, split="elbow")
                km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(X)
                labels = km.labels_.astype(int)
                run.log_metrics({"k": k, "inertia": km.inertia_, "silhouette": silhouette(X, labels, seed),
                                 "silhouette_random_labels": random_label_silhouette(X, labels, seed)}, split="full")
                run.log_clusters("kmeans", td.track_ids, labels)
                run.log_artifact("kmeans_elbow", elbow_path, title="K-Means elbow", published=FIGURES["kmeans_elbow"])
                figures_for(run, protocol, "kmeans", labels, f"K-Means k={k}")
            result.runs.append(run)
        result.timings["kmeans"] = round(time.perf_counter() - t0, 2)

    if want("dbscan"):
        t0 = time.perf_counter()
        min_pts = min(REPORT_MIN_PTS, max(2, td.n // 20))
        kd = k_distance(X, min_pts)
        knee_eps = knee(kd)
        kd_path = plots.figure_path(FAMILY, "report", "dbscan_k_distance", base=reports_dir)
        fig, ax = plots.new_figure(6.5, 4)
        ax.plot(np.arange(len(kd)), kd)
        ax.axhline(REPORT_EPS, color="red", ls="--", label=f"report eps={REPORT_EPS}")
        ax.axhline(knee_eps, color="green", ls="--", label=f"knee eps={knee_eps:.2f}")
        ax.set_xlabel("points sorted by distance")
        ax.set_ylabel(f"distance to {min_pts}-th neighbour")
        ax.legend()
        ax.set_title(f"DBSCAN k-distance plot (minPts={min_pts})", fontsize=9)
        plots.save_png(fig, kd_path)
        result.figures["report/dbscan_k_distance"] = kd_path
        for protocol in protocols:
            eps = REPORT_EPS if protocol is Protocol.REPORT else knee_eps
            with tracked_run(warehouse, asset=asset, family=FAMILY, model="dbscan", protocol=protocol.value,
                             task=TASK, data_version=data.version, seed=seed,
                             params={"eps": eps, "min_samples": min_pts, "features": list(td.features),
                                     "eps_choice": "report (by eye)" if protocol is Protocol.REPORT
                                     else "knee of the k-distance curve"}) as run:
                run.split_key = split.key
                labels = DBSCAN(eps=eps, min_samples=min_pts, algorithm="brute", n_jobs=2).fit_predict(X).astype(int)
                n_clusters = len(set(labels.tolist()) - {-1})
                run.log_metrics({"eps": eps, "min_samples": min_pts, "n_clusters": n_clusters,
                                 "noise_share": float(np.mean(labels == -1)),
                                 "silhouette": silhouette(X, labels, seed),
                                 "silhouette_random_labels": random_label_silhouette(X, labels, seed)},
                                split="full")
                run.log_clusters("dbscan", td.track_ids, labels)
                run.log_artifact("dbscan_k_distance", kd_path, title="DBSCAN k-distance plot",
                                 published=FIGURES["dbscan_k_distance"])
                figures_for(run, protocol, "dbscan", labels, f"DBSCAN eps={eps:.2f}, minPts={min_pts}")
            result.runs.append(run)
        result.timings["dbscan"] = round(time.perf_counter() - t0, 2)
    result.seconds = time.perf_counter() - started
    return result
