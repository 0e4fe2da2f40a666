"""One early-stopping component for every torch model in the deep suite.

It watches one metric per epoch, counts epochs without an improvement larger than
`min_delta`, asks to stop after `patience` of them, and keeps a copy of the best
weights to restore. It also records the per-epoch curve (train/val loss and anything
else passed in), which the suite writes to ml.metrics and plots.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn


@dataclass(frozen=True)
class EpochRecord:
    """The metrics seen at the end of one epoch (0-based)."""

    epoch: int
    metrics: dict[str, float]


@dataclass
class EarlyStopping:
    """Stop training once `monitor` has not improved by more than `min_delta` for
    `patience` consecutive epochs; optionally restore the weights of the best epoch.

    Usage in a loop::

        stopper = EarlyStopping(monitor="val_loss", patience=5)
        for epoch in range(max_epochs):
            ...
            if stopper.update(epoch, {"train_loss": tl, "val_loss": vl}, model):
                break
        stopper.restore_best(model)
    """

    monitor: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    min_delta: float = 0.0
    patience: int = 10
    restore_best_weights: bool = True

    best_value: float = field(init=False, default=math.nan)
    best_epoch: int | None = field(init=False, default=None)
    stopped_epoch: int | None = field(init=False, default=None)
    wait: int = field(init=False, default=0)
    history: list[EpochRecord] = field(init=False, default_factory=list)
    _best_state: dict[str, torch.Tensor] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping mode must be 'min' or 'max', got {self.mode!r}")
        if self.patience < 1:
            raise ValueError(f"EarlyStopping patience must be >= 1, got {self.patience}")
        if self.min_delta < 0:
            raise ValueError(f"EarlyStopping min_delta must be >= 0, got {self.min_delta}")

    def is_improvement(self, value: float) -> bool:
        if self.best_epoch is None:
            return math.isfinite(value)
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def update(self, epoch: int, metrics: dict[str, float], model: nn.Module | None = None) -> bool:
        """Record one epoch; return True when training should stop now."""
        if self.monitor not in metrics:
            raise KeyError(
                f"EarlyStopping monitors {self.monitor!r} but the epoch reported {sorted(metrics)}"
            )
        values = {name: float(value) for name, value in metrics.items()}
        self.history.append(EpochRecord(epoch=epoch, metrics=values))
        value = values[self.monitor]
        if self.is_improvement(value):
            self.best_value = value
            self.best_epoch = epoch
            self.wait = 0
            if model is not None and self.restore_best_weights:
                # A deep copy on the CPU: the live tensors keep changing in place.
                self._best_state = {
                    k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()
                }
        else:
            self.wait += 1
        # A NaN loss never recovers; stop rather than burn the remaining budget.
        if self.wait >= self.patience or math.isnan(value):
            self.stopped_epoch = epoch
            return True
        return False

    def restore_best(self, model: nn.Module) -> bool:
        """Load the best epoch's weights into `model`; False when there is nothing to restore."""
        if not self.restore_best_weights or self._best_state is None:
            return False
        model.load_state_dict(copy.deepcopy(self._best_state))
        return True

    def curve(self, name: str) -> list[float]:
        """One metric per epoch, in epoch order (NaN where an epoch did not report it)."""
        return [record.metrics.get(name, math.nan) for record in self.history]

    @property
    def epochs_run(self) -> int:
        return len(self.history)
