"""Family ``tabnet``: TabNetRegressor (views) tuned by a nested Optuna study per fit and
TabNetClassifier (the study's label), each run through :class:`ml.pipeline.Pipeline`.

Trial 0 of the regressor's study is the study's starting configuration; under the honest
protocol each fold runs its own study on that fold's training artists only. Besides the
deep runs' curves, each run stores TabNet's feature importances (split ``model``), the
attention masks of 60 test tracks and (regressor) the Optuna study per fold.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline as SkPipeline

from ml.datasets import TrackData
from ml.deep import figures
from ml.deep.device import configure_torch_threads
from ml.deep.run_steps import deep_after, inner
from ml.deep.tabnet import REPORT_REGRESSION_CONFIG, OptunaTabNetRegressor, TabNetClassifier
from ml.evaluation import Evaluation
from ml.options import TrainOptions
from ml.pipeline import Pipeline, RunContext
from ml.results import FamilyResult

FAMILY = "tabnet"
REGRESSION_TASK = "views_knn"
CLASSIFICATION_TASK = "stream_gap_label"


def _explain(model: str):
    def extra(ctx: RunContext, ev: Evaluation) -> None:
        fitted = ev.folds[0].model
        est = inner(fitted)
        features = list(ctx.td.features)
        studies = [(f.index, inner(f.model).study_) for f in ev.folds if hasattr(inner(f.model), "study_")]
        for index, study in studies:
            values = [math.nan if t.value is None else t.value for t in study.trials]
            split_name = "tuning" if len(ev.folds) == 1 else f"tuning_fold_{index}"
            ctx.run.log_curve("optuna_val_loss", range(len(values)), values, split=split_name)
        if studies:
            ctx.run.params["best_params"] = {str(i): dict(st.best_params) for i, st in studies}
            index, first = studies[0]
            name = f"{model}_optuna"
            path = figures.optuna_history([t.value for t in first.trials], ctx.figure_path(name),
                                          f"{model}: Optuna study ({ctx.protocol.value}, fold {index})")
            ctx.add_figure(name, path, title="Optuna: validation loss per trial")
        importances = np.asarray(est.feature_importances_, dtype=float)
        for feature, value in zip(features, importances, strict=True):
            ctx.run.log_metric(f"importance.{feature}", value, split="model")
        name = f"{model}_importances"
        path = figures.feature_importances(features, importances, ctx.figure_path(name),
                                           f"{model}: feature importances ({ctx.protocol.value})")
        ctx.add_figure(name, path, title="TabNet feature importances")
        rows = ctx.split.folds[0].test[:60]
        X = ctx.td.X[rows]
        if isinstance(fitted, SkPipeline):
            X = fitted.named_steps["scale"].transform(X)
        _, masks = est.explain(X)
        name = f"{model}_masks"
        path = figures.attention_masks(features, masks, ctx.figure_path(name),
                                       f"{model}: attention masks of {len(rows)} test tracks ({ctx.protocol.value})")
        ctx.add_figure(name, path, title="TabNet attention masks per step")
    return extra


def train(warehouse: Path, data: TrackData, options: TrainOptions) -> FamilyResult:
    """Both TabNet models under each protocol (folds one after another: torch's RNG is per process)."""
    configure_torch_threads(options.torch_threads)
    budget, seed = options.deep_budget(), options.seed
    pipe = Pipeline(FAMILY, warehouse, data, options)
    for protocol in options.protocols:
        if options.wants("tabnet_regressor"):
            pipe.supervised(
                REGRESSION_TASK, "tabnet_regressor", protocol,
                params={"start_config": REPORT_REGRESSION_CONFIG, "trials": budget.tabnet_trials,
                        "trial_max_epochs": budget.tabnet_trial_epochs, "max_epochs": budget.tabnet_epochs,
                        "patience": budget.tabnet_patience},
                factory=lambda: OptunaTabNetRegressor(
                    n_trials=budget.tabnet_trials, trial_max_epochs=budget.tabnet_trial_epochs,
                    max_epochs=budget.tabnet_epochs, patience=budget.tabnet_patience, random_state=seed),
                parallel_folds=False, after=deep_after("tabnet_regressor", _explain("tabnet_regressor")),
            )
        if options.wants("tabnet_classifier"):
            pipe.supervised(
                CLASSIFICATION_TASK, "tabnet_classifier", protocol,
                params={**TabNetClassifier().get_params(), "max_epochs": budget.tabnet_epochs,
                        "patience": budget.tabnet_patience, "random_state": seed},
                factory=lambda: TabNetClassifier(max_epochs=budget.tabnet_epochs, patience=budget.tabnet_patience,
                                                 random_state=seed),
                parallel_folds=False, after=deep_after("tabnet_classifier", _explain("tabnet_classifier")),
            )
    return pipe.result()
