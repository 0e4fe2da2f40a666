"""The one tracked-run pipeline: every run of every family goes through :meth:`Pipeline.track`.

A run is one model × task × protocol (one row of ``ml.runs``). The pipeline owns the
steps every run shares, in this order:

1. the ``ml.runs`` row (``asset = ml/<family>``, data version, seed), via :mod:`ml.tracking`;
2. under the replication protocol, the study's published figures for (task, model) from
   :mod:`ml.study` (split ``published``);
3. :func:`ml.datasets.prepare` for the protocol;
4. the split (the protocol's, or all rows for a fit without a hold-out), its
   ``ml.runs.split_key`` and its ``ml.splits`` rows (:func:`ml.tracking.save_split`);
5. a feature that leaks the target under ``honest``, or a caller's ``skip_reason`` (e.g.
   no TabPFN weights), stores the run as ``skipped`` with the reason — after the split,
   so every run, skipped or not, has the split it would have used on record;
6. the family's model-specific ``steps(ctx)``; for supervised models
   :meth:`Pipeline.supervised` supplies them: the estimator factory (or a tuner that
   searches on the split's training rows first, or a per-fold factory for a nested
   selection), :func:`ml.evaluation.evaluate`, :func:`ml.evaluation.log_evaluation`, the
   paired comparison with the task's trivial baseline on the same folds
   (:func:`ml.evaluation.compare_with_baseline`: splits ``baseline_fold``, ``baseline``,
   ``vs_baseline``; :mod:`ml.verdicts` decides from it) and the caller's
   ``after(ctx, evaluation)``;
7. the :class:`~ml.results.RunSummary` of the finished run, collected in the family's
   :class:`~ml.results.FamilyResult`.

Metric conventions the HTML report relies on (follow them and a new model shows up there):
classification ``accuracy, precision, recall, f1, roc_auc``; regression ``r2, rmse,
nrmse, mae``; clustering ``silhouette, inertia, noise_share``; split ``test`` (hold-out),
``cv_mean``/``cv_std``/``cv_fold`` (grouped CV), ``full`` (fit on all rows), ``model``
(properties of the fitted model: importances, SHAP), ``published`` (the study's figure);
trivial baselines are runs of their own (``majority_class`` / ``mean_predictor``) and are
also scored inside every other supervised run on its own folds, which is what its verdict
compares against.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml import plots, study
from ml.datasets import (
    Fold,
    LeakyFeatureError,
    Protocol,
    Split,
    TaskData,
    TrackData,
    all_rows_split,
    make_split,
    prepare,
    split_frame,
)
from ml.evaluation import Evaluation, compare_with_baseline, evaluate, log_comparison, log_evaluation
from ml.families import BASELINE_MODELS
from ml.options import TrainOptions
from ml.results import FamilyResult, RunSummary
from ml.tracking import Run, attach_artifact, save_split, tracked_run

Factory = Callable[[], object]


@dataclass
class RunContext:
    """What a family's model-specific steps get: the open run, its data and its split."""

    run: Run
    td: TaskData
    split: Split
    options: TrainOptions
    family: str
    figures: dict[str, Path] = field(default_factory=dict)

    @property
    def protocol(self) -> Protocol:
        return self.td.protocol

    @property
    def seed(self) -> int:
        return self.options.seed

    def figure_path(self, name: str, ext: str = "png") -> Path:
        """``<reports_dir>/figures/<family>/<protocol>/<name>.<ext>``."""
        return plots.figure_path(self.options.reports_dir, self.family, self.protocol.value, name, ext)

    def add_figure(self, name: str, path: Path | str, *, title: str, published: str | None = None) -> Path:
        """Log a file as an artifact of this run; ``published`` defaults to the study's note for ``name``."""
        path = Path(path)
        self.run.log_artifact(name, path, title=title,
                              published=published if published is not None else study.figure_note(name))
        self.figures[name] = path
        return path


class Pipeline:
    """The runs of one family in one invocation, and the :class:`FamilyResult` they make."""

    def __init__(self, family: str, warehouse: Path | str, data: TrackData, options: TrainOptions):
        self.family = family
        self.warehouse = Path(warehouse)
        self.data = data
        self.options = options
        self._started = time.perf_counter()
        self._result = FamilyResult(family)
        self._runs: dict[str, Run] = {}

    @property
    def protocols(self) -> tuple[Protocol, ...]:
        return self.options.protocols

    def wants(self, model: str) -> bool:
        return self.options.wants(model)

    def figure_path(self, protocol: Protocol | str, name: str, ext: str = "png") -> Path:
        return plots.figure_path(self.options.reports_dir, self.family, Protocol(protocol).value, name, ext)

    def shared_figure(self, protocol: Protocol | str, name: str, path: Path) -> Path:
        """A figure of the family rather than of one run (e.g. the K-Means elbow)."""
        self._result.figures[f"{Protocol(protocol).value}/{name}"] = path
        return path

    # ----------------------------------------------------------------- runs

    def track(
        self,
        task: str,
        model: str,
        protocol: Protocol | str,
        steps: Callable[[RunContext], None],
        *,
        params: Mapping | None = None,
        features: Sequence[str] | None = None,
        all_rows: str | None = None,
        restrict_split: Callable[[Split, TaskData], Split] | None = None,
        skip_reason: str | None = None,
    ) -> RunSummary:
        """One tracked run: the shared steps (module docstring), then ``steps(ctx)``.

        ``all_rows`` (the reason, e.g. "no target; k chosen by silhouette") fits on every
        row instead of the protocol's split; ``restrict_split(split, td)`` narrows the split
        (e.g. to the fold a tuner searches and is scored on).
        """
        protocol = Protocol(protocol)
        started = time.perf_counter()
        figures: dict[str, Path] = {}
        options = self.options
        with tracked_run(
            self.warehouse, asset=f"ml/{self.family}", family=self.family, model=model, protocol=protocol.value,
            task=task, params=dict(params or {}), data_version=self.data.version, seed=options.seed,
            lock_timeout_s=options.lock_timeout_s,
        ) as run:
            if protocol is Protocol.REPLICATION:
                for p in study.for_run(task, model):
                    run.log_published(p.metric, p.value, p.source, step=p.step)
            leak = None
            try:
                td = prepare(task, protocol, self.data, features)
            except LeakyFeatureError as exc:
                # Never evaluated, but the split it would have used is on record like any run's.
                leak = str(exc)
                td = prepare(task, protocol, self.data, features, refuse_leaks=False)
            split = (all_rows_split(td, options.seed, all_rows) if all_rows
                     else make_split(td, seed=options.seed, n_folds=options.cv_folds))
            if restrict_split is not None:
                split = restrict_split(split, td)
            run.split_key = split.key
            run.params.update(features=list(td.features), dropped_features=td.dropped_features,
                              split=split.description, rows=td.n)
            save_split(self.warehouse, split_frame(td, split), options.lock_timeout_s)
            if leak:
                run.skip(leak)
            if skip_reason:
                run.skip(skip_reason)
            steps(RunContext(run=run, td=td, split=split, options=options, family=self.family, figures=figures))
        summary = RunSummary(
            run_id=run.run_id, family=self.family, task=task, model=model, protocol=protocol.value,
            status=run.status, reason=run.status_reason, seconds=time.perf_counter() - started,
            metrics=run.summary(), figures=figures,
            fit_seconds=run.params.get("fit_seconds"), train_rows_per_s=run.params.get("train_rows_per_s"),
        )
        self._result.runs.append(summary)
        self._runs[run.run_id] = run
        return summary

    def supervised(
        self,
        task: str,
        model: str,
        protocol: Protocol | str,
        *,
        factory: Factory | None = None,
        tuner: Callable[[RunContext], Factory] | None = None,
        fold_factory: Callable[[RunContext, Fold], object] | None = None,
        params: Mapping | None = None,
        features: Sequence[str] | None = None,
        matrix: Callable[[TaskData], tuple[np.ndarray, list[str]]] | None = None,
        scale: bool = True,
        parallel_folds: bool | None = None,
        restrict_split: Callable[[Split, TaskData], Split] | None = None,
        skip_reason: str | None = None,
        after: Callable[[RunContext, Evaluation], None] | None = None,
    ) -> RunSummary:
        """Train and score a supervised model on the split; tracked like every run.

        ``factory()`` makes a fresh estimator per fold; ``tuner(ctx)`` instead searches
        on the split's training rows first and returns the factory (its time is
        ``params.tune_seconds``); ``fold_factory(ctx, fold)`` makes each fold's estimator
        from that fold's training rows alone (a nested selection; its time is part of
        ``params.fit_seconds``). ``matrix(td)`` widens the feature matrix (→ X, names);
        ``scale=False`` leaves scaling to the estimator; ``after(ctx, evaluation)`` adds
        the model's figures and extra metrics.
        """
        if sum(x is not None for x in (factory, tuner, fold_factory)) != 1:
            raise ValueError("give exactly one of factory, tuner, fold_factory")

        def steps(ctx: RunContext) -> None:
            make = factory
            if tuner is not None:
                t0 = time.perf_counter()
                make = tuner(ctx)
                ctx.run.params["tune_seconds"] = round(time.perf_counter() - t0, 3)
            X = None
            if matrix is not None:
                X, names = matrix(ctx.td)
                ctx.run.params["features"] = list(names)
            t0 = time.perf_counter()
            per_fold = None if fold_factory is None else (lambda fold: fold_factory(ctx, fold))
            ev = evaluate(ctx.td, ctx.split, make, X=X, scale=scale, parallel_folds=parallel_folds,
                          fold_factory=per_fold)
            ctx.run.params["fit_seconds"] = round(time.perf_counter() - t0, 3)
            log_evaluation(ctx.run, ctx.td, ev)
            if model not in BASELINE_MODELS:
                baseline, comparison = compare_with_baseline(ctx.td, ctx.split, ev)
                log_comparison(ctx.run, comparison, baseline)
            if after is not None:
                after(ctx, ev)

        return self.track(task, model, protocol, steps, params=params, features=features,
                          restrict_split=restrict_split, skip_reason=skip_reason)

    def attach(self, summary: RunSummary, name: str, path: Path, *, title: str) -> None:
        """A figure made after the run finished (it needed later runs too), added to that run."""
        run = self._runs[summary.run_id]
        attach_artifact(run, name, path, title=title, published=study.figure_note(name))
        summary.figures[name] = Path(path)

    def result(self) -> FamilyResult:
        """The family's result: every run, every figure ("<protocol>/<name>"), the seconds so far."""
        for r in self._result.runs:
            for name, path in r.figures.items():
                self._result.figures[f"{r.protocol}/{name}"] = path
        self._result.seconds = time.perf_counter() - self._started
        return self._result
