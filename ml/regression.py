"""Regression (study ch. 4): OLS of YouTube counts on streams, Linear/Ridge/Lasso of streams on
YouTube counts, KNN regression of views with a K sweep and the study's feature ablation,
plus the correlation heatmap (|r| ≥ 0.2) and the interactive Stream-vs-views scatter.

Every model runs under both protocols beside a ``mean_predictor`` baseline, each run through
:class:`ml.pipeline.Pipeline`. The study's OLS is descriptive (fitted on all rows, full
statsmodels summary kept as a text artifact); its honest counterpart is the same
least-squares line scored out of sample by grouped CV.
"""

from __future__ import annotations

from pathlib import Path

from functools import partial

import numpy as np
import polars as pl
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LassoLars, LinearRegression, Ridge
from sklearn.model_selection import GroupKFold
from sklearn.neighbors import KNeighborsRegressor, NearestNeighbors
from sklearn.pipeline import Pipeline as SkPipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler

from ml import plots, study
from ml.datasets import Protocol, TrackData, make_split, prepare
from ml.evaluation import Evaluation, nrmse, regression_metrics
from ml.options import TrainOptions
from ml.pipeline import Pipeline, RunContext
from ml.results import FamilyResult
from ml.study import KNN_ABLATION, ablation_label

FAMILY = "regression"
OLS_TASKS = ("ols_view_count", "ols_like_count", "ols_comment_count")
LINEAR_TASK = "stream_from_youtube"
KNN_TASK = "views_knn"
EXPLORATION_TASK = "feature_correlations"
KNN_KS = tuple(range(1, 51))


def _mean():
    return DummyRegressor(strategy="mean")


# --------------------------------------------------------------------------- OLS


def _ols_fit(fits: dict):
    """Steps of one replication OLS run: statsmodels on all rows; the fit is kept for the shared figure."""
    def steps(ctx: RunContext) -> None:
        import statsmodels.api as sm

        td, run = ctx.td, ctx.run
        y = td.score
        fit = sm.OLS(y, sm.add_constant(td.X[:, 0])).fit()
        run.params.update(library="statsmodels OLS")
        run.log_metrics({"r2": fit.rsquared, "adj_r2": fit.rsquared_adj, "f_pvalue": fit.f_pvalue,
                         "coef_const": fit.params[0], "coef_stream": fit.params[1],
                         "p_stream": fit.pvalues[1], "n": fit.nobs}, split="full")
        in_sample = regression_metrics(y, fit.fittedvalues)
        run.log_metrics({k: v for k, v in in_sample.items() if k != "r2"}, split="full")
        run.log_predictions(td.track_ids, fit.fittedvalues, actual=y, video_ids=td.video_ids, split="fit")
        name = f"{td.task.name}_summary"
        summary_path = ctx.figure_path(name, ext="txt")
        plots.save_text(str(fit.summary()), summary_path)
        ctx.add_figure(name, summary_path, title=f"OLS summary: {td.task.target} ~ stream")
        fits[td.task.name] = (td, fit)
    return steps


def ols_replication(pipe: Pipeline) -> None:
    """The study's descriptive OLS of each count on Stream over all rows, and one figure of the three fits."""
    fits: dict = {}
    runs = [pipe.track(task, "ols", Protocol.REPLICATION, _ols_fit(fits)) for task in OLS_TASKS]
    if len(fits) != len(OLS_TASKS):
        return
    fig, _ = plots.new_figure(12, 3.8)
    fig.clf()
    axes = fig.subplots(1, len(OLS_TASKS))
    rng = np.random.default_rng(pipe.options.seed)
    for ax, task in zip(axes, OLS_TASKS, strict=True):
        td, fit = fits[task]
        # Fit line on a random subset of points (all 15k points make an unreadable blob).
        show = rng.choice(td.n, size=min(td.n, 4000), replace=False)
        ax.scatter(td.X[show, 0], td.score[show], s=3, alpha=0.3)
        xs = np.linspace(td.X[:, 0].min(), td.X[:, 0].max(), 50)
        ax.plot(xs, fit.params[0] + fit.params[1] * xs, color="red")
        ax.set_xlabel("stream")
        ax.set_ylabel(td.task.target)
        ax.set_title(f"{td.task.target} ~ stream: R² = {fit.rsquared:.3f}", fontsize=9)
    path = plots.save_png(fig, pipe.figure_path(Protocol.REPLICATION, "ols_fits"))
    for run in runs:
        pipe.attach(run, "ols_fits", path, title="OLS fit lines")


# --------------------------------------------------------------------------- KNN

#: The study's own configuration (ch. 4-1-3): K = 7 without Danceability, Key,
#: Instrumentalness, Tempo — scored beside whatever configuration a protocol selects.
STUDY_KNN_REMOVED: tuple[str, ...] = ("danceability", "key", "instrumentalness", "tempo")
STUDY_KNN_K = 7
#: Inner folds of the honest protocol's nested selection (grouped by track group).
KNN_INNER_FOLDS = 3


def knn_sweep(X_train, y_train, X_test, y_test, ks=KNN_KS) -> tuple[np.ndarray, np.ndarray]:
    """NRMSE and R² of uniform KNN regression for every K in one neighbour query.

    The prediction for K is the mean target of the K nearest training rows, so one
    ``kneighbors(max K)`` call gives every K (same result as fitting KNeighborsRegressor
    per K, up to distance ties).
    """
    # Brute force (one BLAS distance matrix) beats the KD-tree ~3x at 14 dimensions.
    nn = NearestNeighbors(n_neighbors=min(max(ks), len(X_train)), algorithm="brute").fit(X_train)
    idx = nn.kneighbors(X_test, return_distance=False)
    cum = np.cumsum(y_train[idx], axis=1)
    nrmses, r2s = [], []
    for k in ks:
        kk = min(k, idx.shape[1])
        pred = cum[:, kk - 1] / kk
        nrmses.append(nrmse(y_test, pred))
        ss_res = np.sum((y_test - pred) ** 2)
        ss_tot = np.sum((y_test - y_test.mean()) ** 2)
        r2s.append(1 - ss_res / ss_tot if ss_tot > 0 else np.nan)
    return np.array(nrmses), np.array(r2s)


def _ablation_configs(features: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {ablation_label(removed): tuple(f for f in features if f not in removed) for removed in KNN_ABLATION}


def sweep_configs(X_train, y_train, X_test, y_test, features, configs) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(NRMSE, R²) over K for each ablation configuration; min-max scaling fitted on the training rows."""
    out = {}
    for label, cols in configs.items():
        pos = [features.index(c) for c in cols]
        scaler = MinMaxScaler().fit(X_train[:, pos])
        out[label] = knn_sweep(scaler.transform(X_train[:, pos]), y_train, scaler.transform(X_test[:, pos]), y_test)
    return out


def best_config(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[str, int, float]:
    """(configuration, K, NRMSE) with the lowest NRMSE among 6 configurations × 50 K."""
    label, k = min(((lab, KNN_KS[int(np.nanargmin(c[0]))]) for lab, c in curves.items()),
                   key=lambda lk: curves[lk[0]][0][KNN_KS.index(lk[1])])
    return label, k, float(curves[label][0][KNN_KS.index(k)])


def select_on_inner_folds(X, y, groups, features, configs, seed, n_folds=KNN_INNER_FOLDS) -> tuple[str, int, float]:
    """Nested selection: (configuration, K, mean inner NRMSE) chosen on grouped inner folds of
    the given (outer training) rows only, so the outer test rows never choose their model."""
    k = min(n_folds, len(np.unique(groups)))
    inner = GroupKFold(n_splits=k, shuffle=True, random_state=seed).split(X, groups=groups)
    per_fold = [sweep_configs(X[tr], y[tr], X[te], y[te], features, configs) for tr, te in inner]
    mean = {label: (np.mean([c[label][0] for c in per_fold], axis=0), None) for label in configs}
    return best_config(mean)


def knn_estimator(positions: list[int], k: int) -> SkPipeline:
    """KNN on a column subset (the task's min-max scaler runs before it, fitted per fold)."""
    return SkPipeline([
        ("columns", FunctionTransformer(partial(np.take, indices=positions, axis=1))),
        ("knn", KNeighborsRegressor(n_neighbors=k, algorithm="brute")),
    ])


def knn_curves(pipe: Pipeline, protocol: Protocol):
    """K sweep × the study's ablation on each fold of the protocol's split (the figure, and the
    study's configuration on the same folds): ({config: (mean NRMSE, mean R²) over folds},
    {config: [(NRMSE, R²) per fold]}, task data, split)."""
    td = prepare(KNN_TASK, protocol, pipe.data)
    split = make_split(td, seed=pipe.options.seed, n_folds=pipe.options.cv_folds)
    configs = _ablation_configs(td.features)
    per_fold = [sweep_configs(td.X[f.train], td.score[f.train], td.X[f.test], td.score[f.test], td.features, configs)
                for f in split.folds]
    curves = {label: (np.mean([c[label][0] for c in per_fold], axis=0), np.mean([c[label][1] for c in per_fold], axis=0))
              for label in configs}
    folds = {label: [c[label] for c in per_fold] for label in configs}
    return curves, folds, td, split


def _knn_figure(ctx: RunContext, curves, title: str) -> None:
    fig, _ = plots.new_figure(11, 4)
    fig.clf()
    ax1, ax2 = fig.subplots(1, 2)
    for label, (n_curve, r_curve) in curves.items():
        ax1.plot(KNN_KS, n_curve, label=label, lw=1)
        ax2.plot(KNN_KS, r_curve, label=label, lw=1)
    ax1.axvline(STUDY_KNN_K, color="grey", ls=":", lw=1)
    ax1.set_xlabel("K")
    ax1.set_ylabel("NRMSE")
    ax2.set_xlabel("K")
    ax2.set_ylabel("R²")
    ax1.set_title(title, fontsize=8)
    ax2.legend(fontsize=6)
    path = plots.save_png(fig, ctx.figure_path("knn_ablation"))
    ctx.add_figure("knn_ablation", path, title="KNN K sweep and feature ablation")


def knn(pipe: Pipeline, protocol: Protocol) -> None:
    """KNN of views: the K sweep × ablation, a selected configuration as the tracked run, and the
    study's own configuration (K=7 without danceability/key/instrumentalness/tempo) on the same split.

    * replication: the study's procedure — the (configuration, K) with the lowest NRMSE on
      the hold-out, scored on that same hold-out (selection on the scoring data: optimistic);
    * honest: nested — each outer fold picks (configuration, K) on grouped inner folds of its
      own training rows, then is scored on its test rows.
    """
    curves, fold_curves, td_all, split = knn_curves(pipe, protocol)
    study_label = ablation_label(STUDY_KNN_REMOVED)
    at = KNN_KS.index(STUDY_KNN_K)
    study_per_fold = [(c[0][at], c[1][at]) for c in fold_curves[study_label]]
    selected: dict[int, tuple[str, int, float]] = {}
    seed = pipe.options.seed

    def log_study_config(ctx: RunContext) -> None:
        ctx.run.params["study_config"] = {"ablation": study_label, "k": STUDY_KNN_K}
        nrmses = [n for n, _ in study_per_fold]
        r2s = [r for _, r in study_per_fold]
        ctx.run.log_metrics({"nrmse": float(np.mean(nrmses)), "r2": float(np.mean(r2s))}, split="study_config")
        if len(study_per_fold) > 1:
            ctx.run.log_metrics({"nrmse": float(np.std(nrmses)), "r2": float(np.std(r2s))}, split="study_config_std")
            for i, (n_, r_) in enumerate(study_per_fold):
                ctx.run.log_metrics({"nrmse": n_, "r2": r_}, split="study_config_fold", step=split.folds[i].index)

    def log_curves(ctx: RunContext) -> None:
        for label, (n_curve, r_curve) in curves.items():
            ctx.run.log_curve(f"nrmse[{label}]", KNN_KS, n_curve)
            ctx.run.log_curve(f"r2[{label}]", KNN_KS, r_curve)

    if protocol is Protocol.REPLICATION:
        best_label, best_k, _ = best_config(curves)
        features = _ablation_configs(td_all.features)[best_label]

        def after(ctx: RunContext, ev: Evaluation) -> None:
            log_curves(ctx)
            log_study_config(ctx)
            ctx.run.log_metric("best_k", best_k, split="best")
            _knn_figure(ctx, curves, f"KNN views: K sweep × ablation (replication hold-out); lowest NRMSE "
                                     f"{best_label}, K={best_k}; study K={STUDY_KNN_K}")

        pipe.supervised(
            KNN_TASK, "knn_regression", protocol,
            factory=lambda: KNeighborsRegressor(n_neighbors=best_k, algorithm="brute"), features=features,
            params={"k": best_k, "ablation": best_label, "ks": [min(KNN_KS), max(KNN_KS)], "weights": "uniform",
                    "scaler": "minmax",
                    "selection": "lowest NRMSE on the hold-out it is scored on, among 6 ablations x 50 K "
                                 "(the study's procedure: selection on the scoring data, optimistic)"},
            after=after,
        )
        return

    configs = _ablation_configs(td_all.features)

    def fold_factory(ctx: RunContext, fold) -> SkPipeline:
        td = ctx.td
        label, k, inner = select_on_inner_folds(td.X[fold.train], td.score[fold.train], td.groups[fold.train],
                                                td.features, configs, seed)
        selected[fold.index] = (label, k, inner)
        return knn_estimator([td.features.index(c) for c in configs[label]], k)

    def after(ctx: RunContext, ev: Evaluation) -> None:
        log_curves(ctx)
        log_study_config(ctx)
        ctx.run.params["selected"] = [{"fold": i, "ablation": lab, "k": k, "inner_nrmse": round(v, 6)}
                                      for i, (lab, k, v) in sorted(selected.items())]
        for i, (_lab, k, v) in sorted(selected.items()):
            ctx.run.log_metric("k", k, split="selected", step=i)
            ctx.run.log_metric("inner_nrmse", v, split="selected", step=i)
        picks = ", ".join(f"{lab} K={k}" for _, (lab, k, _) in sorted(selected.items()))
        _knn_figure(ctx, curves, f"KNN views: K sweep × ablation, mean over the outer grouped folds "
                                 f"(descriptive; each fold selected on its inner folds: {picks})")

    pipe.supervised(
        KNN_TASK, "knn_regression", protocol, fold_factory=fold_factory,
        params={"ks": [min(KNN_KS), max(KNN_KS)], "weights": "uniform", "scaler": "minmax",
                "selection": f"nested: each outer fold picks (ablation, K) by the lowest mean NRMSE over "
                             f"{KNN_INNER_FOLDS} inner folds of its training rows grouped by track group"},
        after=after,
    )


# --------------------------------------------------------------------------- exploration figures


def _exploration(pipe: Pipeline):
    def steps(ctx: RunContext) -> None:
        """Correlation heatmap (|r| ≥ 0.2) of the task's rows and the interactive Stream-vs-views scatter."""
        import plotly.express as px

        numeric = list(ctx.td.features)
        corr = ctx.td.frame.select(numeric).to_pandas().corr()
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
        path = plots.save_png(fig, ctx.figure_path("correlation_heatmap"))
        ctx.add_figure("correlation_heatmap", path, title="Correlation heatmap (|r| ≥ 0.2)")
        for a in numeric:
            for b in numeric:
                if a < b and abs(corr.loc[a, b]) >= 0.2:
                    ctx.run.log_metric(f"corr[{a},{b}]", float(corr.loc[a, b]), split="full")
        # The scatter shows every track with both counts (outliers included: that is its point).
        scatter = pipe.data.frame.drop_nulls(subset=["stream", "view_count"]).with_columns(
            pl.when(pl.col("is_children") > 0).then(pl.lit("children's music")).otherwise(pl.lit("other"))
            .alias("kind"))
        pfig = px.scatter(
            scatter.to_pandas(), x="stream", y="view_count", color="kind",
            hover_data=["artist", "track", "like_count", "comment_count", "channel"],
            labels={"stream": "Stream count (Spotify)", "view_count": "View count (YouTube)"},
            title="Stream vs view count (hover for artist and track)", render_mode="webgl",
        )
        path = plots.save_html(pfig, ctx.figure_path("stream_vs_views", ext="html"))
        ctx.add_figure("stream_vs_views", path, title="Interactive Stream vs views scatter")
        # Its static twin: what a report moved away from the reports folder still shows.
        fig, ax = plots.new_figure(6.5, 4.5)
        for kind, colour in (("other", "#4C72B0"), ("children's music", "#DD8452")):
            part = scatter.filter((pl.col("kind") == kind) & (pl.col("stream") > 0) & (pl.col("view_count") > 0))
            ax.scatter(part["stream"].to_numpy(), part["view_count"].to_numpy(), s=3, alpha=0.4, color=colour,
                       label=kind)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("Stream count (Spotify)")
        ax.set_ylabel("View count (YouTube)")
        ax.legend(markerscale=4, fontsize=7)
        ax.set_title("Stream vs view count (log scales)", fontsize=9)
        path = plots.save_png(fig, ctx.figure_path("stream_vs_views_static"))
        ctx.add_figure("stream_vs_views_static", path, title="Stream vs views (static)",
                       published=study.figure_note("stream_vs_views"))
    return steps


# --------------------------------------------------------------------------- family

#: The linear models of stream_from_youtube: name → (factory, params).
def _linear(seed: int) -> dict:
    return {
        "linear_regression": (LinearRegression, {}),
        "ridge": (lambda: Ridge(alpha=1.0), {"alpha": 1.0}),
        # LARS solves the same L1 problem exactly; coordinate descent needed ~30 s to converge
        # on the unscaled counts.
        "lasso": (lambda: LassoLars(alpha=0.1, random_state=seed), {"alpha": 0.1, "solver": "lars"}),
        "mean_predictor": (_mean, {"strategy": "mean"}),
    }


def train(warehouse: Path, data: TrackData, options: TrainOptions) -> FamilyResult:
    """The exploration figures, OLS, the linear models and KNN, each beside its mean predictor."""
    pipe = Pipeline(FAMILY, warehouse, data, options)
    want = options.wants
    if Protocol.REPLICATION in options.protocols and want("exploration"):
        pipe.track(EXPLORATION_TASK, "exploration", Protocol.REPLICATION, _exploration(pipe),
                   params={"method": "pearson"})
    linear = _linear(options.seed)
    any_linear = any(want(m) for m in ("linear_regression", "ridge", "lasso"))
    for protocol in options.protocols:
        if want("ols"):
            if protocol is Protocol.REPLICATION:
                ols_replication(pipe)
            else:
                for task in OLS_TASKS:
                    for name, factory in (("ols", LinearRegression), ("mean_predictor", _mean)):
                        pipe.supervised(task, name, protocol, factory=factory,
                                        params={"least_squares": "sklearn LinearRegression (= OLS)"})
        for name, (factory, params) in linear.items():
            if want(name) or (name == "mean_predictor" and any_linear):
                pipe.supervised(LINEAR_TASK, name, protocol, factory=factory, params=params)
        if want("knn_regression"):
            knn(pipe, protocol)
            pipe.supervised(KNN_TASK, "mean_predictor", protocol, factory=_mean, params={"strategy": "mean"})
    return pipe.result()
