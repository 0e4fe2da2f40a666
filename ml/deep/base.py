"""What every hand-written torch estimator of the suite shares: training budget,
device, seeding, the per-epoch curves, and moving to another device after loading."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ml.deep.device import resolve_device
from ml.deep.early_stopping import EarlyStopping
from ml.deep.training import TrainingBudget


class TorchEstimator(BaseEstimator):
    """Base class (over scikit-learn's BaseEstimator) of the hand-written torch
    estimators; scikit-learn's mixins go to its LEFT in subclasses
    (``class X(RegressorMixin, TorchEstimator)``) so their tags and methods win.
    Subclasses declare the parameters max_epochs, batch_size, learning_rate,
    weight_decay, patience, min_delta, validation_fraction, random_state and device
    in their own __init__."""

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


def check_features(
    estimator: BaseEstimator, X, *, reset: bool, allow_nan: bool = False, min_samples: int = 1
) -> np.ndarray:
    """X (numpy, pandas or polars) as a 2-D float32 array, validated the scikit-learn
    way: 2-D, finite (NaN allowed when `allow_nan`), not complex or sparse, at least
    `min_samples` rows. `reset=True` (fit) records n_features_in_ and, for frames with
    string column names, feature_names_in_; `reset=False` (after fit) first raises
    NotFittedError on an unfitted estimator, then checks X against what fit saw."""
    if not reset:
        check_is_fitted(estimator)
    return validate_data(
        estimator,
        X,
        reset=reset,
        dtype=np.float32,
        ensure_all_finite="allow-nan" if allow_nan else True,
        ensure_min_samples=min_samples,
    )


def check_training_data(
    estimator: BaseEstimator,
    X,
    y,
    *,
    allow_nan: bool = False,
    min_samples: int = 1,
    y_numeric: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """`check_features` for fit plus the target: y present, 1-D (a column vector is
    raveled with a DataConversionWarning), finite, as many rows as X, and numeric
    when `y_numeric` (regression)."""
    return validate_data(
        estimator,
        X,
        y,
        reset=True,
        dtype=np.float32,
        ensure_all_finite="allow-nan" if allow_nan else True,
        ensure_min_samples=min_samples,
        y_numeric=y_numeric,
    )
