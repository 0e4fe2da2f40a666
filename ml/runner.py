"""Running one supervised model under one protocol, tracked; and what a family run returns.

:func:`run_supervised` is the path every classical (and deep) supervised model takes:
prepare the task's data for the protocol (a leaky feature under ``honest`` → the run is
stored as ``skipped`` with the reason), make and store the split, evaluate, log metrics,
predictions and the report's published figure, then let the caller add figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ml import published
from ml.datasets import LeakyFeatureError, Protocol, Split, TaskData, TrackData, make_split, prepare, split_frame
from ml.evaluation import Evaluation, evaluate, log_evaluation
from ml.tracking import Run, save_split, tracked_run
from tunehouse.settings import get_settings


@dataclass
class FamilyResult:
    """What one family (clustering, regression, ...) produced in one materialization."""

    family: str
    runs: list[Run] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Flat ``model/protocol/split/metric`` → value of every run (Dagster metadata)."""
        out: dict[str, float] = {}
        for run in self.runs:
            if run.status != "succeeded":
                continue
            name = run.model if run.task in (None, "") else f"{run.task}.{run.model}"
            for key, value in run.summary().items():
                if key.startswith(("test/", "cv_mean/", "cv_std/", "full/", "best/")) or key == "model/shap_seconds":
                    out[f"{name}/{run.protocol}/{key}"] = value
        return out

    def statuses(self) -> dict[str, str]:
        return {
            f"{r.task}.{r.model}/{r.protocol}": (r.status if not r.status_reason else f"{r.status}: {r.status_reason}")
            for r in self.runs
        }


@dataclass
class Supervised:
    """A finished supervised run: the run, and (if it was not skipped) its data, split and scores."""

    run: Run
    td: TaskData | None = None
    split: Split | None = None
    evaluation: Evaluation | None = None


def run_supervised(
    warehouse: Path | str | None,
    data: TrackData,
    *,
    asset: str,
    family: str,
    task: str,
    model: str,
    protocol: Protocol | str,
    estimator_factory: Callable[[], object] | None = None,
    params: Mapping | None = None,
    features: Sequence[str] | None = None,
    seed: int | None = None,
    after: Callable[[Run, TaskData, Split, Evaluation], None] | None = None,
    tuner: Callable[[Run, TaskData, Split], Callable[[], object]] | None = None,
    restrict_split: Callable[[Split], Split] | None = None,
) -> Supervised:
    """Train and score ``estimator_factory()`` on ``task`` under ``protocol``; tracked in ml.*.

    ``tuner(run, td, split)`` (instead of a factory) searches hyper-parameters on the
    split's training rows and returns the factory of the chosen model; ``restrict_split``
    narrows the evaluation split (e.g. to the one fold whose training rows were tuned on).
    """
    protocol = Protocol(protocol)
    seed = get_settings().ml_seed if seed is None else seed
    result: Supervised | None = None
    with tracked_run(
        warehouse, asset=asset, family=family, model=model, protocol=protocol.value, task=task,
        params=dict(params or {}), data_version=data.version, seed=seed,
    ) as run:
        result = Supervised(run=run)
        if protocol is Protocol.REPORT:
            for p in published.for_run(task, model):
                run.log_published(p.metric, p.value, p.source)
        try:
            td = prepare(task, protocol, data, features)
        except LeakyFeatureError as exc:
            run.skip(str(exc))
        split = make_split(td, seed=seed)
        if restrict_split is not None:
            split = restrict_split(split)
        run.split_key = split.key
        run.params.update(features=list(td.features), dropped_features=td.dropped_features,
                          split=split.description, rows=td.n)
        save_split(warehouse, split_frame(td, split))
        started = time.perf_counter()
        if tuner is not None:
            estimator_factory = tuner(run, td, split)
            run.params["tune_seconds"] = round(time.perf_counter() - started, 3)
            started = time.perf_counter()
        ev = evaluate(td, split, estimator_factory)
        run.params["fit_seconds"] = round(time.perf_counter() - started, 3)
        log_evaluation(run, td, ev)
        result.td, result.split, result.evaluation = td, split, ev
        if after is not None:
            after(run, td, split, ev)
    assert result is not None
    return result
