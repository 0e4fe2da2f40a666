"""The results registry: the latest run of every (family, task, model, protocol) from ``ml.*``,
with its headline metric, its trivial baseline, the study's published figure and its figures.

Any run written through :mod:`ml.tracking` shows up here (the deep models' included). A
run's baseline is the trivial baseline scored inside the run on its own folds (splits
``baseline``/``vs_baseline``, :func:`ml.evaluation.compare_with_baseline`); for runs that
predate it, the latest ``majority_class`` / ``mean_predictor`` run on the same task and
protocol (or, for clustering, the run's own ``silhouette_random_labels``). Its verdict comes
from :func:`ml.verdicts.verdict`, the one rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ml import verdicts
from ml.families import BASELINE_MODELS, OWN_SECTION_FAMILIES, UNCOMPARED_MODELS
from warehouse import read_connection

__all__ = ["BASELINE_MODELS", "ModelResult", "latest_results"]
#: (metric, higher is better) judged per kind, in order of preference.
PRIMARY = (("accuracy", True), ("r2", True), ("silhouette", True), ("noise_share", False))
HEADLINE_SPLITS = ("test", "cv_mean", "full")


@dataclass
class ModelResult:
    run_id: str
    asset: str
    family: str
    task: str | None
    model: str
    protocol: str
    status: str
    status_reason: str | None
    started_at: str
    duration_s: float | None
    params: dict
    data_version: dict
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # split → metric → value
    published: list[tuple[str, float, str]] = field(default_factory=list)
    artifacts: list[dict] = field(default_factory=list)
    baseline: ModelResult | None = None
    split_key: str | None = None
    #: ``ml.splits`` sizes of the run's split: rows, folds, test rows per fold.
    split_sizes: dict = field(default_factory=dict)
    notes: dict[tuple[str, str], str] = field(default_factory=dict)  # (split, metric) → note

    @property
    def is_baseline(self) -> bool:
        return self.model in BASELINE_MODELS

    @property
    def primary_metric(self) -> str | None:
        for name, _ in PRIMARY:
            if any(name in m for m in self.metrics.values()):
                return name
        return None

    def headline(self, metric: str | None = None) -> tuple[str | None, float | None, float | None]:
        """(split, value, std) of the primary metric: hold-out test, CV mean (± std) or full fit."""
        metric = metric or self.primary_metric
        if metric is None:
            return None, None, None
        for split in HEADLINE_SPLITS:
            if metric in self.metrics.get(split, {}):
                std = self.metrics.get("cv_std", {}).get(metric) if split == "cv_mean" else None
                return split, self.metrics[split][metric], std
        return None, None, None

    @property
    def comparison(self) -> verdicts.Comparison | None:
        """The paired comparison with the baseline stored with the run (None if none)."""
        return verdicts.Comparison.from_metrics(self.metrics.get(verdicts.SPLIT, {}),
                                                self.notes.get((verdicts.SPLIT, "difference")))

    @property
    def verdict(self) -> verdicts.Verdict:
        """THE rule's verdict (:func:`ml.verdicts.verdict`), or why there is none."""
        if self.is_baseline:
            return verdicts.not_compared("it is the trivial baseline")
        if self.family in OWN_SECTION_FAMILIES:
            return verdicts.not_compared(OWN_SECTION_FAMILIES[self.family])
        if self.status != "succeeded":
            reason = self.status_reason or "no reason recorded"
            return verdicts.not_compared(reason if reason.startswith(self.status) else f"{self.status}: {reason}")
        if self.model in UNCOMPARED_MODELS and self.comparison is None:
            return verdicts.not_compared(UNCOMPARED_MODELS[self.model])
        if self.comparison is None:
            if "full" in self.metrics and not any(s in self.metrics for s in ("test", "cv_mean")):
                return verdicts.not_compared("fitted on every row: no held-out score")
            return verdicts.not_compared("no paired comparison stored with this run (trained before verdicts "
                                         "existed: train it again)")
        return verdicts.verdict(self.comparison)

    @property
    def features(self) -> list[str]:
        return list(self.params.get("features") or [])

    def baseline_value(self) -> float | None:
        comparison = self.comparison
        if comparison is not None and comparison.metric == self.primary_metric:
            return comparison.baseline
        metric = self.primary_metric
        if metric == "silhouette":
            return self.metrics.get("full", {}).get("silhouette_random_labels")
        if self.baseline is None or metric is None:
            return None
        return self.baseline.headline(metric)[1]

    def beats_baseline(self) -> bool | None:
        """The verdict as a bool (None: not compared); see :attr:`verdict`."""
        v = self.verdict
        return None if v.label == verdicts.NOT_COMPARED else v.beats

    def published_value(self) -> tuple[float, str] | None:
        metric = self.primary_metric
        for m, v, note in self.published:
            if m == metric:
                return v, note
        return None


def latest_results(warehouse: Path | str) -> list[ModelResult]:
    """Latest finished run per (family, task, model, protocol), with metrics, figures and baselines.

    Read-only: a warehouse without ``ml.runs`` (no ``ml`` schema yet) gives ``[]`` and is left
    as it was — creating the schema here would change a warehouse just by looking at it.
    """
    with read_connection(warehouse) as con:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ml' AND table_name = 'runs'"
        ).fetchall()[0][0]
        if not exists:
            return []
        runs = con.execute(
            """
            SELECT run_id, asset, family, task, model, protocol, status, status_reason,
                   CAST(started_at AS VARCHAR), duration_s, CAST(params AS VARCHAR), CAST(data_version AS VARCHAR),
                   split_key
            FROM ml.runs
            WHERE status <> 'running'
            QUALIFY row_number() OVER (PARTITION BY family, coalesce(task, ''), model, protocol
                                       ORDER BY started_at DESC) = 1
            ORDER BY family, task, protocol, model
            """
        ).fetchall()
        ids = [r[0] for r in runs]
        metrics = con.execute(
            "SELECT run_id, metric, split, value, note FROM ml.metrics WHERE step IS NULL AND list_contains(?, run_id)",
            [ids],
        ).fetchall() if ids else []
        artifacts = con.execute(
            "SELECT run_id, name, kind, path, title, published FROM ml.artifacts WHERE list_contains(?, run_id) "
            "ORDER BY created_at, name",
            [ids],
        ).fetchall() if ids else []
        keys = sorted({r[12] for r in runs if r[12]})
        split_rows = con.execute(
            "SELECT split_key, fold, role, count(*) FROM ml.splits WHERE list_contains(?, split_key) "
            "GROUP BY ALL ORDER BY ALL",
            [keys],
        ).fetchall() if keys else []
    results = {
        r[0]: ModelResult(
            run_id=r[0], asset=r[1], family=r[2], task=r[3], model=r[4], protocol=r[5], status=r[6],
            status_reason=r[7], started_at=r[8], duration_s=r[9], params=json.loads(r[10] or "{}"),
            data_version=json.loads(r[11] or "{}"), split_key=r[12],
        )
        for r in runs
    }
    sizes: dict[str, dict] = {}
    for key, fold, role, count in split_rows:
        entry = sizes.setdefault(key, {"train_rows": {}, "test_rows": {}})
        entry[f"{role}_rows"][int(fold)] = int(count)
    for res in results.values():
        entry = sizes.get(res.split_key or "")
        if entry:
            folds = sorted(set(entry["train_rows"]) | set(entry["test_rows"]))
            res.split_sizes = {
                "folds": len(folds),
                "rows": entry["train_rows"].get(folds[0], 0) + entry["test_rows"].get(folds[0], 0),
                "test_rows": [entry["test_rows"].get(f, 0) for f in folds],
            }
    for run_id, metric, split, value, note in metrics:
        res = results[run_id]
        if split == "published":
            res.published.append((metric, value, note or ""))
        elif value is not None:
            res.metrics.setdefault(split, {})[metric] = value
            if note:
                res.notes[(split, metric)] = note
    for run_id, name, kind, path, title, published in artifacts:
        results[run_id].artifacts.append(
            {"name": name, "kind": kind, "path": path, "title": title, "published": published})
    by_key = {(r.task, r.model, r.protocol): r for r in results.values()}
    for res in results.values():
        if res.is_baseline or res.task is None:
            continue
        for base in BASELINE_MODELS:
            if (res.task, base, res.protocol) in by_key:
                res.baseline = by_key[(res.task, base, res.protocol)]
                break
    return list(results.values())


@dataclass(frozen=True)
class ModelCheck:
    """Whether a model's latest honest runs (one per task) each beat their baseline, by the rule.

    ``runs`` are those results (empty when the model has no honest run on record);
    ``description`` is one line per run with its verdict, or why the check cannot pass.
    """

    family: str
    model: str
    passed: bool
    description: str
    runs: tuple[ModelResult, ...]


def model_check(results: list[ModelResult], family: str, model: str) -> ModelCheck:
    """The honest-protocol check of one model (what its Dagster asset check reports).

    Passes only when the model has at least one honest run and every latest honest run of it
    (one per task) gets the verdict "beats baseline" from :func:`ml.verdicts.verdict`; a
    skipped run (a leaky feature, no TabPFN weights) or a run without a comparison fails it
    with the reason.
    """
    runs = tuple(sorted((r for r in results if r.family == family and r.model == model and r.protocol == "honest"),
                        key=lambda r: r.task or ""))
    if not runs:
        return ModelCheck(family, model, False, f"no honest run of {model} on record: train it with the honest "
                                                "protocol (`tunehouse train --only " + model + "`)", runs)
    lines = [f"{r.task}: {r.verdict.summary()}" for r in runs]
    passed = all(r.verdict.beats for r in runs)
    return ModelCheck(family, model, passed, "\n".join(lines), runs)
