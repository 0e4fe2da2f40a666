"""What every hand-written torch estimator of the suite shares: training budget,
device, seeding, the per-epoch curves, and moving to another device after loading."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator

from ml.deep.device import resolve_device
from ml.deep.early_stopping import EarlyStopping
from ml.deep.training import TrainingBudget


class TorchEstimator(BaseEstimator):
    """Mixin over scikit-learn's BaseEstimator. Subclasses declare the parameters
    max_epochs, batch_size, learning_rate, weight_decay, patience, min_delta,
    validation_fraction, random_state and device in their own __init__."""

    def _budget(self) -> TrainingBudget:
        return TrainingBudget(
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            patience=self.patience,
            min_delta=self.min_delta,
        )

    def _resolve_device(self) -> torch.device:
        return resolve_device(self.device)

    def _record_training(self, stopper: EarlyStopping) -> None:
        self.history_ = {
            "train_loss": stopper.curve("train_loss"),
            "val_loss": stopper.curve("val_loss"),
        }
        self.best_epoch_ = stopper.best_epoch
        self.n_epochs_ = stopper.epochs_run
        self.stopped_early_ = stopper.stopped_epoch is not None and (
            stopper.epochs_run < self.max_epochs
        )

    def to_device(self, device: str | torch.device = "auto") -> TorchEstimator:
        """Move the fitted network (e.g. after loading on another machine)."""
        self.device_ = resolve_device(device)
        self.module_.to(self.device_)
        return self

    def n_parameters(self) -> int:
        return int(sum(p.numel() for p in self.module_.parameters()))


def as_float_matrix(X) -> np.ndarray:
    """A 2-D float32 array from numpy, pandas or polars input."""
    array = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D feature matrix, got shape {array.shape}")
    return array
