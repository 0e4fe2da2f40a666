"""The results registry: the latest run of every (family, task, model, protocol) from ``ml.*``,
with its headline metric, its trivial baseline, the study's published figure and its figures.

Any run written through :mod:`ml.tracking` shows up here (the deep models' included); the
baseline of a supervised run is the latest ``majority_class`` (classification) or
``mean_predictor`` (regression) run on the same task and protocol; for clustering it is the
run's own ``silhouette_random_labels``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from warehouse import read_connection

BASELINE_MODELS = ("majority_class", "mean_predictor")
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

    def baseline_value(self) -> float | None:
        metric = self.primary_metric
        if metric == "silhouette":
            return self.metrics.get("full", {}).get("silhouette_random_labels")
        if self.baseline is None or metric is None:
            return None
        return self.baseline.headline(metric)[1]

    def beats_baseline(self) -> bool | None:
        value, base = self.headline()[1], self.baseline_value()
        if value is None or base is None:
            return None
        return value > base

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
                   CAST(started_at AS VARCHAR), duration_s, CAST(params AS VARCHAR), CAST(data_version AS VARCHAR)
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
    results = {
        r[0]: ModelResult(
            run_id=r[0], asset=r[1], family=r[2], task=r[3], model=r[4], protocol=r[5], status=r[6],
            status_reason=r[7], started_at=r[8], duration_s=r[9], params=json.loads(r[10] or "{}"),
            data_version=json.loads(r[11] or "{}"),
        )
        for r in runs
    }
    for run_id, metric, split, value, note in metrics:
        res = results[run_id]
        if split == "published":
            res.published.append((metric, value, note or ""))
        elif value is not None:
            res.metrics.setdefault(split, {})[metric] = value
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
