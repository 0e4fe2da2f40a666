"""Scoring a model under a protocol: the loop every supervised model goes through.

:func:`evaluate` fits a fresh model per fold of a :class:`~ml.datasets.Split` (scaling
fitted on the fold's training rows only), predicts the fold's test rows and scores them:

* replication protocol: one hold-out → metrics under split ``test`` (and ``train``);
* honest protocol: grouped CV → per-fold metrics (split ``cv_fold``, step = fold) and their
  mean and standard deviation over folds (``cv_mean`` / ``cv_std``), with the out-of-fold
  predictions of every row.

:func:`log_evaluation` writes all of it to a tracked run, predictions included, so a SQL
user can recompute every metric from ``ml.predictions``.

:func:`compare_with_baseline` scores the task's trivial baseline (majority class / mean of
the training rows) on the very same folds and pairs it with the model
(:mod:`ml.verdicts`); :func:`log_comparison` stores both (splits ``baseline_fold``,
``baseline`` and ``vs_baseline``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from ml import verdicts
from ml.datasets import Fold, Protocol, Split, TaskData
from ml.tracking import Run

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION_METRICS = ("r2", "rmse", "nrmse", "mae")


def nrmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """RMSE / (max − min of the true values), the study's normalised error."""
    span = float(np.max(y_true) - np.min(y_true))
    rmse = float(np.sqrt(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2)))
    return rmse / span if span > 0 else float("nan")


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    return {
        "r2": float(r2_score(y_true, y_pred)),
        "rmse": float(np.sqrt(np.mean((y_true - y_pred) ** 2))),
        "nrmse": nrmse(y_true, y_pred),
        "mae": float(mean_absolute_error(y_true, y_pred)),
    }


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray | None) -> dict[str, float]:
    """Binary metrics; ``score`` (probability or decision value of class 1) gives ROC AUC."""
    out = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
    }
    if score is not None and len(np.unique(y_true)) == 2:
        out["roc_auc"] = float(roc_auc_score(y_true, score))
    else:
        out["roc_auc"] = float("nan")
    return out


def _positive_score(model, X: np.ndarray) -> tuple[np.ndarray | None, bool]:
    """(score of class 1, is_probability): predict_proba when the model has it, else decision values."""
    if hasattr(model, "predict_proba"):
        try:
            proba = model.predict_proba(X)
            return proba[:, 1] if proba.shape[1] > 1 else np.zeros(len(X)), True
        except AttributeError:  # e.g. SVC(probability=False) exposes the method but refuses
            pass
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(X), dtype=float), False
    return None, False


@dataclass
class FoldResult:
    index: int
    test_rows: np.ndarray
    actual: np.ndarray
    prediction: np.ndarray
    score: np.ndarray | None
    metrics: dict[str, float]
    train_metrics: dict[str, float]
    model: object


@dataclass
class Evaluation:
    """Everything one model scored under one split."""

    kind: str
    protocol: Protocol
    folds: list[FoldResult] = field(default_factory=list)
    score_is_probability: bool = False

    @property
    def metric_names(self) -> tuple[str, ...]:
        return CLASSIFICATION_METRICS if self.kind == "classification" else REGRESSION_METRICS

    def summary(self) -> dict[str, dict[str, float]]:
        """{split: {metric: value}}: ``test``/``train`` for a hold-out, ``cv_mean``/``cv_std`` for CV."""
        if len(self.folds) == 1:
            return {"test": self.folds[0].metrics, "train": self.folds[0].train_metrics}
        out: dict[str, dict[str, float]] = {"cv_mean": {}, "cv_std": {}}
        for m in self.metric_names:
            vals = np.array([f.metrics.get(m, np.nan) for f in self.folds], dtype=float)
            out["cv_mean"][m] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
            out["cv_std"][m] = float(np.nanstd(vals)) if np.isfinite(vals).any() else float("nan")
        return out


def make_pipeline(td: TaskData, estimator) -> Pipeline | object:
    """Scaler of the task (fitted inside the fold) + the estimator."""
    scaler = td.task.make_scaler()
    return Pipeline([("scale", scaler), ("model", estimator)]) if scaler is not None else estimator


def _score(kind, y, pred, score):
    return classification_metrics(y, pred, score) if kind == "classification" else regression_metrics(y, pred)


def evaluate(
    td: TaskData,
    split: Split,
    estimator_factory: Callable[[], object] | None = None,
    *,
    X: np.ndarray | None = None,
    scale: bool = True,
    parallel_folds: bool | None = None,
    fold_factory: Callable[[Fold], object] | None = None,
) -> Evaluation:
    """Fit ``estimator_factory()`` on each fold's train rows and score its test rows.

    Label thresholds come from the fold's training rows under the honest protocol and from
    all rows under the replication protocol (what the study did). ``X`` overrides ``td.X``
    (e.g. a feature subset for an ablation). ``fold_factory(fold)`` instead of
    ``estimator_factory()`` makes each fold's estimator from that fold (e.g. after a
    selection on the fold's training rows only: nested selection).
    """
    if (estimator_factory is None) == (fold_factory is None):
        raise ValueError("give exactly one of estimator_factory, fold_factory")
    kind = td.task.kind
    X = td.X if X is None else X
    ev = Evaluation(kind=kind, protocol=td.protocol)

    def run_fold(fold):
        reference = fold.train if td.protocol is Protocol.HONEST else None
        y = td.y(reference)
        est = fold_factory(fold) if fold_factory is not None else estimator_factory()
        model = make_pipeline(td, est) if scale else est
        model.fit(X[fold.train], y[fold.train])
        pred = model.predict(X[fold.test])
        train_pred = model.predict(X[fold.train])
        score = train_score = None
        is_prob = False
        if kind == "classification":
            score, is_prob = _positive_score(model, X[fold.test])
            train_score, _ = _positive_score(model, X[fold.train])
        return is_prob, FoldResult(
            index=fold.index,
            test_rows=fold.test,
            actual=y[fold.test],
            prediction=np.asarray(pred, dtype=float),
            score=score,
            metrics=_score(kind, y[fold.test], pred, score),
            train_metrics=_score(kind, y[fold.train], train_pred, train_score),
            model=model,
        )

    # Single-threaded estimators (GB, SVM, KNN, linear) fit two folds at once on 2 cores; the
    # Cython/BLAS parts release the GIL. Multi-threaded ones (n_jobs > 1) go one by one.
    if parallel_folds is None:
        parallel_folds = fold_factory is None and getattr(estimator_factory(), "n_jobs", None) in (None, 1)
    if parallel_folds and len(split.folds) > 1:
        # One BLAS thread per fold: the same summation order on every run keeps results
        # bit-identical (distance ties in KNN otherwise break differently between runs).
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(run_fold, split.folds))
    else:
        outcomes = [run_fold(f) for f in split.folds]
    for is_prob, fold_result in outcomes:
        ev.score_is_probability = is_prob
        ev.folds.append(fold_result)
    return ev


def log_evaluation(run: Run, td: TaskData, ev: Evaluation, *, predictions: bool = True) -> None:
    """Metrics (per fold, mean, std / test, train) and per-track predictions into the run."""
    for split_name, values in ev.summary().items():
        run.log_metrics(values, split=split_name)
    if len(ev.folds) > 1:
        for f in ev.folds:
            run.log_metrics(f.metrics, split="cv_fold", step=f.index)
    if not predictions:
        return
    for f in ev.folds:
        prob = f.score if (f.score is not None and ev.score_is_probability) else None
        run.log_predictions(
            td.track_ids[f.test_rows], f.prediction,
            probability=prob, actual=f.actual, video_ids=td.video_ids[f.test_rows],
            split="test" if len(ev.folds) == 1 else "oof",
            # A hold-out has no fold number; one fold of a CV (a tuned run's) keeps its own.
            fold=None if len(ev.folds) == 1 and f.index == 0 else f.index,
        )


# --------------------------------------------------------------------------- the trivial baseline

#: The metric a verdict is about, per kind of task (the report's headline metric).
PRIMARY_METRIC = {"classification": "accuracy", "regression": "r2"}


def baseline_factory(kind: str) -> Callable[[], object]:
    """The trivial baseline of a kind of task: the training rows' majority class or mean."""
    if kind == "classification":
        return lambda: DummyClassifier(strategy="most_frequent")
    if kind == "regression":
        return lambda: DummyRegressor(strategy="mean")
    raise ValueError(f"no trivial baseline for a {kind} task")


def comparison_scope(td: TaskData, split: Split) -> str:
    """Which rows a comparison is on, in words (shown beside every verdict)."""
    if split.is_cv:
        return f"{len(split.folds)} grouped CV folds"
    if td.protocol is Protocol.HONEST:
        return f"fold {split.folds[0].index} only (the one fold this run was scored on), track groups as units"
    return "the replication hold-out, rows as units"


def compare_with_baseline(td: TaskData, split: Split, ev: Evaluation) -> tuple[Evaluation, verdicts.Comparison]:
    """Score the trivial baseline on the same folds as ``ev`` and pair the two (:mod:`ml.verdicts`).

    Several folds: paired over folds (Nadeau–Bengio SE); one honest fold: paired over its test
    rows, clustered by track group; the replication hold-out: paired over its rows.
    """
    base = evaluate(td, split, baseline_factory(ev.kind), scale=False, parallel_folds=False)
    metric = PRIMARY_METRIC[ev.kind]
    scope = comparison_scope(td, split)
    if len(ev.folds) > 1:
        sizes = {f.index: (len(f.train), len(f.test)) for f in split.folds}
        comparison = verdicts.compare_folds(
            metric, [f.metrics[metric] for f in ev.folds], [f.metrics[metric] for f in base.folds],
            n_train=[sizes[f.index][0] for f in ev.folds], n_test=[sizes[f.index][1] for f in ev.folds],
            scope=scope)
    else:
        (fold,), (base_fold,) = ev.folds, base.folds
        honest = td.protocol is Protocol.HONEST
        units = td.groups[fold.test_rows] if honest else np.arange(len(fold.test_rows))
        comparison = verdicts.compare_rows(ev.kind, fold.actual, fold.prediction, base_fold.prediction, units,
                                           scope=scope, units="track groups" if honest else "rows")
    return base, comparison


def log_comparison(run: Run, comparison: verdicts.Comparison, baseline: Evaluation | None = None) -> None:
    """The baseline's scores (``baseline_fold`` per fold, ``baseline`` overall) and the paired
    comparison (split ``vs_baseline``) into the run."""
    if baseline is not None:
        if len(baseline.folds) > 1:
            for f in baseline.folds:
                run.log_metrics(f.metrics, split="baseline_fold", step=f.index)
            run.log_metrics(baseline.summary()["cv_mean"], split="baseline")
        else:
            run.log_metrics(baseline.folds[0].metrics, split="baseline")
    for name, value, note in comparison.to_metrics():
        run.log_metric(name, value, split=verdicts.SPLIT, note=note)
