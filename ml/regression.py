"""Regression (report ch. 4): OLS of YouTube counts on streams, Linear/Ridge/Lasso of streams on
YouTube counts, KNN regression of views with a K sweep and the report's feature ablation,
plus the correlation heatmap (|r| ≥ 0.2) and the interactive Stream-vs-views scatter.

Every model runs under both protocols beside a ``mean_predictor`` baseline. The report's
OLS is descriptive (fitted on all rows, full statsmodels summary kept as a text artifact);
its honest counterpart is the same least-squares line scored out of sample by grouped CV.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LassoLars, LinearRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor, NearestNeighbors

from ml import plots
from ml.datasets import Protocol, TrackData, get_task, load_track_features, make_split, prepare, split_frame
from ml.evaluation import nrmse, regression_metrics
from ml.published import FIGURES, KNN_ABLATION, for_run
from ml.runner import FamilyResult, run_supervised
from ml.tracking import save_split, tracked_run
from tunehouse.settings import get_settings

FAMILY = "regression"
ASSET = "ml/regression"
OLS_TASKS = ("ols_view_count", "ols_like_count", "ols_comment_count")
KNN_TASK = "views_knn"
KNN_KS = tuple(range(1, 51))
MODELS = ("ols", "linear_regression", "ridge", "lasso", "knn_regression", "mean_predictor", "exploration")


def _mean():
    return DummyRegressor(strategy="mean")


# --------------------------------------------------------------------------- OLS


def ols_report(warehouse, data: TrackData, seed: int, reports_dir, asset: str, result: FamilyResult) -> None:
    """statsmodels OLS of each count on Stream over all rows (the report's descriptive fit)."""
    import statsmodels.api as sm

    fig, axes = plots.new_figure(12, 3.8)
    fig.clf()
    axes = fig.subplots(1, len(OLS_TASKS))
    for ax, task in zip(axes, OLS_TASKS, strict=True):
        with tracked_run(warehouse, asset=asset, family=FAMILY, model="ols", protocol="report", task=task,
                         data_version=data.version, seed=seed) as run:
            for p in for_run(task, "ols"):
                run.log_published(p.metric, p.value, p.source)
            td = prepare(task, Protocol.REPORT, data)
            split = make_split(td, seed=seed)
            run.split_key = split.key
            save_split(warehouse, split_frame(td, split))
            y = td.score
            X = sm.add_constant(td.X[:, 0])
            fit = sm.OLS(y, X).fit()
            run.params.update(features=list(td.features), rows=td.n, split=split.description,
                              library="statsmodels OLS")
            run.log_metrics({"r2": fit.rsquared, "adj_r2": fit.rsquared_adj, "f_pvalue": fit.f_pvalue,
                             "coef_const": fit.params[0], "coef_stream": fit.params[1],
                             "p_stream": fit.pvalues[1], "n": fit.nobs}, split="full")
            in_sample = regression_metrics(y, fit.fittedvalues)
            run.log_metrics({k: v for k, v in in_sample.items() if k != "r2"}, split="full")
            run.log_predictions(td.track_ids, fit.fittedvalues, actual=y, video_ids=td.video_ids, split="fit")
            summary_path = plots.figure_path(FAMILY, "report", f"{task}_summary", ext="txt", base=reports_dir)
            summary_path.write_text(str(fit.summary()), encoding="utf-8")
            run.log_artifact(f"{task}_summary", summary_path, title=f"OLS summary: {td.task.target} ~ stream")
            result.figures[f"report/{task}_summary"] = summary_path
            result.runs.append(run)
            # Fit line on a random subset of points (all 15k points make an unreadable blob).
            rng = np.random.default_rng(seed)
            show = rng.choice(td.n, size=min(td.n, 4000), replace=False)
            ax.scatter(td.X[show, 0], y[show], s=3, alpha=0.3)
            xs = np.linspace(td.X[:, 0].min(), td.X[:, 0].max(), 50)
            ax.plot(xs, fit.params[0] + fit.params[1] * xs, color="red")
            ax.set_xlabel("stream")
            ax.set_ylabel(td.task.target)
            ax.set_title(f"{td.task.target} ~ stream: R² = {fit.rsquared:.3f}", fontsize=9)
    path = plots.figure_path(FAMILY, "report", "ols_fits", base=reports_dir)
    plots.save_png(fig, path)
    result.figures["report/ols_fits"] = path
    for run in result.runs[-len(OLS_TASKS):]:
        _add_artifact(warehouse, run, "ols_fits", path, "OLS fit lines", FIGURES["ols_fits"])


def _add_artifact(warehouse, run, name, path, title, published=None) -> None:
    """Attach a figure made after a run finished (ml.artifacts insert, short transaction)."""
    from datetime import UTC, datetime

    from warehouse import transaction, write_connection

    with write_connection(warehouse) as con, transaction(con):
        con.execute("INSERT INTO ml.artifacts VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [run.run_id, name, Path(path).suffix.lstrip("."), str(path), title, published,
                     datetime.now(UTC)])


# --------------------------------------------------------------------------- KNN


def knn_sweep(X_train, y_train, X_test, y_test, ks=KNN_KS) -> tuple[np.ndarray, np.ndarray]:
    """NRMSE and R² of uniform KNN regression for every K in one neighbour query.

    The prediction for K is the mean target of the K nearest training rows, so one
    ``kneighbors(max K)`` call gives every K (same result as fitting KNeighborsRegressor
    per K, up to distance ties).
    """
    # Brute force (one BLAS distance matrix) beats the KD-tree ~3x at 14 dimensions.
    nn = NearestNeighbors(n_neighbors=max(ks), algorithm="brute").fit(X_train)
    idx = nn.kneighbors(X_test, return_distance=False)
    cum = np.cumsum(y_train[idx], axis=1)
    nrmses, r2s = [], []
    for k in ks:
        pred = cum[:, k - 1] / k
        nrmses.append(nrmse(y_test, pred))
        ss_res = np.sum((y_test - pred) ** 2)
        ss_tot = np.sum((y_test - y_test.mean()) ** 2)
        r2s.append(1 - ss_res / ss_tot if ss_tot > 0 else np.nan)
    return np.array(nrmses), np.array(r2s)


def _ablation_configs(features: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    out = {}
    for removed in KNN_ABLATION:
        label = "all" if not removed else "without " + "/".join(removed)
        out[label] = tuple(f for f in features if f not in removed)
    return out


def knn(warehouse, data, protocol: Protocol, seed, reports_dir, asset, result: FamilyResult) -> None:
    """K sweep × the report's ablation; the best (features, K) is then scored and tracked.

    The best pair is chosen by NRMSE on the hold-out (report, as the report did) or by the
    mean over the grouped CV folds (honest; like GridSearchCV's best_score_, so mildly
    optimistic for 6 × 30 candidates).
    """
    td_all = prepare(KNN_TASK, protocol, data)
    split = make_split(td_all, seed=seed)
    scaler = td_all.task.make_scaler()
    configs = _ablation_configs(td_all.features)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for label, cols in configs.items():
        pos = [td_all.features.index(c) for c in cols]
        n_list, r_list = [], []
        for fold in split.folds:
            Xtr = scaler.fit_transform(td_all.X[fold.train][:, pos])
            Xte = scaler.transform(td_all.X[fold.test][:, pos])
            n_, r_ = knn_sweep(Xtr, td_all.score[fold.train], Xte, td_all.score[fold.test])
            n_list.append(n_)
            r_list.append(r_)
        curves[label] = (np.mean(n_list, axis=0), np.mean(r_list, axis=0))
    best_label, best_k = min(
        ((label, KNN_KS[int(np.argmin(c[0]))]) for label, c in curves.items()),
        key=lambda lk: curves[lk[0]][0][KNN_KS.index(lk[1])],
    )

    def after(run, td, split_, ev):
        for label, (n_curve, r_curve) in curves.items():
            run.log_curve(f"nrmse[{label}]", KNN_KS, n_curve)
            run.log_curve(f"r2[{label}]", KNN_KS, r_curve)
        run.log_metric("best_k", best_k, split="best")
        for removed, (k, n_pub, r_pub) in KNN_ABLATION.items():
            if protocol is Protocol.REPORT:
                label = "all" if not removed else "without " + "/".join(removed)
                run.log_metric(f"nrmse[{label}]", n_pub, split="published", step=k, note="ch. 4-1-3 ablation")
                run.log_metric(f"r2[{label}]", r_pub, split="published", step=k, note="ch. 4-1-3 ablation")
        fig, axes = plots.new_figure(11, 4)
        fig.clf()
        ax1, ax2 = fig.subplots(1, 2)
        for label, (n_curve, r_curve) in curves.items():
            ax1.plot(KNN_KS, n_curve, label=label, lw=1)
            ax2.plot(KNN_KS, r_curve, label=label, lw=1)
        ax1.set_xlabel("K")
        ax1.set_ylabel("NRMSE")
        ax2.set_xlabel("K")
        ax2.set_ylabel("R²")
        ax1.set_title(f"KNN views: K sweep × ablation ({protocol.value}); best {best_label}, K={best_k}", fontsize=8)
        ax2.legend(fontsize=6)
        path = plots.figure_path(FAMILY, protocol.value, "knn_ablation", base=reports_dir)
        result.figures[f"{protocol.value}/knn_ablation"] = plots.save_png(fig, path)
        run.log_artifact("knn_ablation", path, title="KNN K sweep and feature ablation", published=FIGURES["knn_ablation"])

    sup = run_supervised(
        warehouse, data, asset=asset, family=FAMILY, task=KNN_TASK, model="knn_regression", protocol=protocol,
        estimator_factory=lambda: KNeighborsRegressor(n_neighbors=best_k, algorithm="brute"), features=configs[best_label],
        params={"k": best_k, "ablation": best_label, "ks": [min(KNN_KS), max(KNN_KS)], "weights": "uniform",
                "scaler": "minmax"},
        seed=seed, after=after,
    )
    result.runs.append(sup.run)


# --------------------------------------------------------------------------- exploration figures


def exploration(warehouse, data: TrackData, seed, reports_dir, asset, result: FamilyResult) -> None:
    """Correlation heatmap (|r| ≥ 0.2) and the interactive Stream-vs-views scatter."""
    import plotly.express as px

    frame = data.frame
    numeric = [c for c in (*get_task("views_knn").report_features, "view_count", "like_count", "comment_count")
               if c in frame.columns and frame[c].null_count() < frame.height and c != "artist_code"]
    with tracked_run(warehouse, asset=asset, family=FAMILY, model="exploration", protocol="report",
                     task=None, data_version=data.version, seed=seed, params={"columns": numeric}) as run:
        corr = frame.select(numeric).drop_nulls().to_pandas().corr()
        shown = corr.where(corr.abs() >= 0.2)
        fig, ax = plots.new_figure(9, 7.5)
        im = ax.imshow(shown.to_numpy(), cmap="coolwarm", vmin=-1, vmax=1)
        ax.set_xticks(range(len(numeric)), numeric, rotation=70, fontsize=7)
        ax.set_yticks(range(len(numeric)), numeric, fontsize=7)
        for (i, j), v in np.ndenumerate(shown.to_numpy()):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=5)
        fig.colorbar(im)
        ax.set_title("Correlation heatmap (only |r| >= 0.2)")
        path = plots.figure_path(FAMILY, "report", "correlation_heatmap", base=reports_dir)
        result.figures["report/correlation_heatmap"] = plots.save_png(fig, path)
        run.log_artifact("correlation_heatmap", path, title="Correlation heatmap (|r| ≥ 0.2)",
                         published=FIGURES["correlation_heatmap"])
        for a in numeric:
            for b in numeric:
                if a < b and abs(corr.loc[a, b]) >= 0.2:
                    run.log_metric(f"corr[{a},{b}]", float(corr.loc[a, b]), split="full")
        scatter = frame.drop_nulls(subset=["stream", "view_count"]).with_columns(
            pl.when(pl.col("is_children") > 0).then(pl.lit("children's music")).otherwise(pl.lit("other"))
            .alias("kind"))
        pfig = px.scatter(
            scatter.to_pandas(), x="stream", y="view_count", color="kind",
            hover_data=["artist", "track", "like_count", "comment_count", "channel"],
            labels={"stream": "Stream count (Spotify)", "view_count": "View count (YouTube)"},
            title="Stream vs view count (hover for artist and track)", render_mode="webgl",
        )
        path = plots.figure_path(FAMILY, "report", "stream_vs_views", ext="html", base=reports_dir)
        result.figures["report/stream_vs_views"] = plots.save_html(pfig, path)
        run.log_artifact("stream_vs_views", path, title="Interactive Stream vs views scatter",
                         published="ch. 4-1-1: interactive scatter used to find outliers (children's music)")
    result.runs.append(run)


# --------------------------------------------------------------------------- family


def run_regression(
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
    seed = get_settings().ml_seed if seed is None else seed
    data = data if data is not None else load_track_features(warehouse)
    result = FamilyResult(FAMILY)

    def want(name):
        return not only or name in only

    def timed(label, fn):
        t0 = time.perf_counter()
        fn()
        result.timings[label] = round(time.perf_counter() - t0, 2)

    if Protocol.REPORT in protocols and want("exploration"):
        timed("exploration/report", lambda: exploration(warehouse, data, seed, reports_dir, asset, result))
    linear = {
        "linear_regression": (LinearRegression, {}),
        "ridge": (lambda: Ridge(alpha=1.0), {"alpha": 1.0}),
        # LARS solves the same L1 problem exactly; coordinate descent needed ~30 s to converge
        # on the unscaled counts.
        "lasso": (lambda: LassoLars(alpha=0.1, random_state=seed), {"alpha": 0.1, "solver": "lars"}),
        "mean_predictor": (_mean, {"strategy": "mean"}),
    }
    for protocol in protocols:
        if want("ols"):
            if protocol is Protocol.REPORT:
                timed("ols/report", lambda: ols_report(warehouse, data, seed, reports_dir, asset, result))
            else:
                for task in OLS_TASKS:
                    for name, factory in (("ols", LinearRegression), ("mean_predictor", _mean)):
                        t0 = time.perf_counter()
                        sup = run_supervised(warehouse, data, asset=asset, family=FAMILY, task=task, model=name,
                                             protocol=protocol, estimator_factory=factory, seed=seed,
                                             params={"least_squares": "sklearn LinearRegression (= OLS)"})
                        result.runs.append(sup.run)
                        result.timings[f"{task}.{name}/{protocol.value}"] = round(time.perf_counter() - t0, 2)
        for name, (factory, params) in linear.items():
            if want(name) or (name == "mean_predictor" and (want("linear_regression") or want("ridge") or want("lasso"))):
                t0 = time.perf_counter()
                sup = run_supervised(warehouse, data, asset=asset, family=FAMILY, task="stream_from_youtube",
                                     model=name, protocol=protocol, estimator_factory=factory, params=params,
                                     seed=seed)
                result.runs.append(sup.run)
                result.timings[f"stream_from_youtube.{name}/{protocol.value}"] = round(time.perf_counter() - t0, 2)
        if want("knn_regression"):
            timed(f"views_knn.knn_regression/{protocol.value}",
                  lambda p=protocol: knn(warehouse, data, p, seed, reports_dir, asset, result))
            t0 = time.perf_counter()
            sup = run_supervised(warehouse, data, asset=asset, family=FAMILY, task=KNN_TASK, model="mean_predictor",
                                 protocol=protocol, estimator_factory=_mean, params={"strategy": "mean"}, seed=seed)
            result.runs.append(sup.run)
            result.timings[f"views_knn.mean_predictor/{protocol.value}"] = round(time.perf_counter() - t0, 2)
    result.seconds = time.perf_counter() - started
    return result
