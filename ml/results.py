"""What a family run returns, as plain data (light: no numpy/sklearn/torch).

The Dagster asset of a family puts :meth:`FamilyResult.to_records` into its metadata key
``"runs"`` (JSON); the CLI and benchmarks read that list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunSummary:
    """One run (model × task × protocol, one row of ``ml.runs``) after it finished.

    ``metrics``: ``"split/metric"`` → value of every step-less metric (no ``published``,
    no per-fold values); ``figures``: artifact name → file. ``fit_seconds`` and
    ``train_rows_per_s`` are set where the pipeline timed a fit (None otherwise).
    """

    run_id: str
    family: str
    task: str | None
    model: str
    protocol: str
    status: str
    reason: str | None = None
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    fit_seconds: float | None = None
    train_rows_per_s: float | None = None

    @property
    def key(self) -> str:
        """``task.model/protocol`` (``model/protocol`` without a task): unique within a family run."""
        name = self.model if not self.task else f"{self.task}.{self.model}"
        return f"{name}/{self.protocol}"

    @property
    def status_text(self) -> str:
        """'succeeded', or the status with its reason ('skipped: no TabPFN weights at ...')."""
        if not self.reason:
            return self.status
        return self.reason if self.reason.startswith(self.status) else f"{self.status}: {self.reason}"

    def to_record(self) -> dict:
        """JSON-able dict (paths as strings, non-finite metrics dropped)."""
        return {
            "run_id": self.run_id,
            "family": self.family,
            "task": self.task,
            "model": self.model,
            "protocol": self.protocol,
            "status": self.status,
            "reason": self.reason,
            "seconds": round(float(self.seconds), 3),
            "metrics": {k: float(v) for k, v in self.metrics.items() if v is not None and math.isfinite(v)},
            "figures": {k: str(v) for k, v in self.figures.items()},
            "fit_seconds": self.fit_seconds,
            "train_rows_per_s": self.train_rows_per_s,
        }


@dataclass
class FamilyResult:
    """What one family produced in one invocation: its runs in order, and every figure.

    ``figures``: ``"<protocol>/<artifact name>"`` → file, the runs' figures and the
    family's shared ones (e.g. the K-Means elbow) together.
    """

    family: str
    runs: list[RunSummary] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    def to_records(self) -> list[dict]:
        """One JSON-able dict per run (see :meth:`RunSummary.to_record`)."""
        return [run.to_record() for run in self.runs]

    def run(self, model: str, protocol: str, task: str | None = None) -> RunSummary:
        """The run of ``model`` under ``protocol`` (and ``task`` when a model has several)."""
        found = [r for r in self.runs if r.model == model and r.protocol == protocol
                 and (task is None or r.task == task)]
        if len(found) != 1:
            raise KeyError(f"{self.family}: {len(found)} runs of {model!r} under {protocol!r}"
                           + (f" on {task!r}" if task else ""))
        return found[0]
