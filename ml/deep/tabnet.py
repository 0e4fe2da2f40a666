"""TabNet (Arik & Pfister; pytorch-tabnet) behind scikit-learn estimators, with the
study's starting configurations, the suite's EarlyStopping (plugged into
pytorch-tabnet's callback hook instead of its built-in one), and an Optuna study over
the study's search space (ch. 6-3)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import optuna
import torch
from pytorch_tabnet.callbacks import Callback
from pytorch_tabnet.metrics import Metric
from pytorch_tabnet.tab_model import TabNetClassifier as _PTNClassifier
from pytorch_tabnet.tab_model import TabNetRegressor as _PTNRegressor
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import log_loss
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ml.deep.base import check_features, check_training_data
from ml.deep.device import resolve_device, seed_everything
from ml.deep.early_stopping import EarlyStopping
from ml.deep.training import validation_split

# The study's starting points: regression (ch. 4-2-1) and classification (ch. 5-2-1).
REPORT_REGRESSION_CONFIG = dict(
    n_d=8, n_a=8, n_steps=5, gamma=1.3, lambda_sparse=1e-3, learning_rate=1e-4,
    batch_size=512, virtual_batch_size=256, momentum=0.02, patience=10,
)
REPORT_CLASSIFICATION_CONFIG = dict(
    n_d=8, n_a=8, n_steps=3, gamma=1.5, lambda_sparse=1e-3, learning_rate=1e-3,
    batch_size=256, virtual_batch_size=128, momentum=0.3, patience=10,
    scheduler_step_size=10, scheduler_gamma=0.9,
)


class _HoldOutLogLoss(Metric):
    """Log-loss over every trained class. pytorch-tabnet's "logloss" raises when the
    validation rows lack a class (a small hold-out often does); its labels arrive as
    class indices 0..k-1, one score column each. Registered by name, as
    pytorch-tabnet finds metrics among Metric's subclasses."""

    def __init__(self):
        self._name = "holdout_logloss"
        self._maximize = False

    def __call__(self, y_true, y_score):
        return log_loss(y_true, y_score, labels=np.arange(y_score.shape[1]))


class _StopAndRecord(Callback):
    """Adapts the suite's EarlyStopping to pytorch-tabnet's callback protocol."""

    def __init__(self, stopper: EarlyStopping, val_metric: str, trial: optuna.Trial | None = None):
        super().__init__()
        self.stopper = stopper
        self.val_metric = val_metric
        self.trial = trial

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        metrics = {
            "train_loss": float(self.trainer.history.epoch_loss),
            "val_loss": float(logs[f"val_{self.val_metric}"]),
        }
        if self.stopper.update(epoch, metrics, self.trainer.network):
            self.trainer._stop_training = True
        if self.trial is not None:
            self.trial.report(metrics["val_loss"], epoch)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

    def on_train_end(self, logs=None):
        self.stopper.restore_best(self.trainer.network)
        self.trainer.network.eval()


class _TabNetBase(BaseEstimator):
    _val_metric: str
    _y_numeric: bool

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # imputed with the training medians
        return tags

    def _make_inner(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare_y(self, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit_target(self, y: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Learn what the target needs (scale, classes); return y as fit uses it."""
        raise NotImplementedError

    def _impute(self, X: np.ndarray) -> np.ndarray:
        # TabNet cannot take NaN; fill with the training medians.
        return np.where(np.isnan(X), self.fill_values_, X).astype(np.float32)

    def fit(self, X, y, *, eval_set=None, trial: optuna.Trial | None = None):
        """Train with early stopping on `eval_set` (X_val, y_val) or a seeded hold-out.
        `trial` (Optuna) receives the validation loss per epoch and may prune."""
        # The seeded hold-out needs a row on each side.
        X, y = check_training_data(
            self, X, y, allow_nan=True, min_samples=2 if eval_set is None else 1,
            y_numeric=self._y_numeric,
        )
        y = self._fit_target(y)
        seed_everything(self.random_state)
        self.device_ = resolve_device(self.device)
        if eval_set is None:
            train_idx, val_idx = validation_split(
                len(X), self.validation_fraction, self.random_state,
                stratify=None if self._y_numeric else y,
            )
            X_train, y_train, X_val, y_val = X[train_idx], y[train_idx], X[val_idx], y[val_idx]
        else:
            X_train, y_train = X, y
            X_val = check_features(self, eval_set[0], reset=False, allow_nan=True)
            y_val = column_or_1d(eval_set[1])
        fill = np.nanmedian(X_train, axis=0)
        self.fill_values_ = np.where(np.isnan(fill), 0.0, fill).astype(np.float32)
        self.model_ = self._make_inner()
        stopper = EarlyStopping(
            monitor="val_loss", min_delta=self.min_delta, patience=self.patience
        )
        self.model_.fit(
            X_train=self._impute(X_train),
            y_train=self._prepare_y(y_train),
            eval_set=[(self._impute(X_val), self._prepare_y(y_val))],
            eval_name=["val"],
            eval_metric=[self._val_metric],
            max_epochs=self.max_epochs,
            patience=0,  # the suite's EarlyStopping below does the stopping
            batch_size=self.batch_size,
            virtual_batch_size=self.virtual_batch_size,
            num_workers=0,
            # Ghost batch norm fails on a 1-row chunk; dropping the (reshuffled) last
            # partial batch avoids it and costs under one batch of rows per epoch.
            drop_last=len(X_train) > self.batch_size,
            callbacks=[_StopAndRecord(stopper, self._val_metric, trial)],
        )
        self.history_ = {"train_loss": stopper.curve("train_loss"), "val_loss": stopper.curve("val_loss")}
        self.best_epoch_ = stopper.best_epoch
        self.best_val_loss_ = stopper.best_value
        self.n_epochs_ = stopper.epochs_run
        self.feature_importances_ = self.model_.feature_importances_
        return self

    def explain(self, X) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """TabNet's per-row aggregate attribution and its attention mask per decision step."""
        return self.model_.explain(self._impute(check_features(self, X, reset=False, allow_nan=True)))

    def to_device(self, device: str | torch.device = "auto"):
        self.device_ = resolve_device(device)
        self.model_.device = self.device_
        self.model_.network.to(self.device_)
        return self

    def _common_kwargs(self) -> dict:
        kwargs = dict(
            n_d=self.n_d,
            n_a=self.n_a,
            n_steps=self.n_steps,
            gamma=self.gamma,
            lambda_sparse=self.lambda_sparse,
            momentum=self.momentum,
            optimizer_fn=torch.optim.Adam,
            optimizer_params=dict(lr=self.learning_rate),
            seed=self.random_state,
            verbose=0,
            device_name=self.device_.type,
        )
        if self.scheduler_step_size:
            kwargs["scheduler_fn"] = torch.optim.lr_scheduler.StepLR
            kwargs["scheduler_params"] = dict(
                step_size=self.scheduler_step_size, gamma=self.scheduler_gamma
            )
        return kwargs


def _init_params(self, locals_: dict) -> None:
    for name, value in locals_.items():
        if name not in ("self", "__class__"):
            setattr(self, name, value)


class TabNetRegressor(RegressorMixin, _TabNetBase):
    """TabNetRegressor with the study's starting configuration (ch. 4-2-1)."""

    _val_metric = "mse"
    _y_numeric = True

    def __init__(
        self,
        n_d: int = 8,
        n_a: int = 8,
        n_steps: int = 5,
        gamma: float = 1.3,
        lambda_sparse: float = 1e-3,
        learning_rate: float = 1e-4,
        momentum: float = 0.02,
        scheduler_step_size: int = 0,
        scheduler_gamma: float = 0.9,
        batch_size: int = 512,
        virtual_batch_size: int = 256,
        max_epochs: int = 200,
        patience: int = 10,
        min_delta: float = 0.0,
        validation_fraction: float = 0.1,
        random_state: int = 42,
        device: str = "auto",
    ):
        _init_params(self, locals())

    def _make_inner(self):
        return _PTNRegressor(**self._common_kwargs())

    def _prepare_y(self, y):
        # Standardise the target so the learning rate means the same for any scale.
        y = np.asarray(y, dtype=np.float64)
        return ((y - self.y_mean_) / self.y_scale_).astype(np.float32).reshape(-1, 1)

    def _fit_target(self, y: np.ndarray) -> np.ndarray:
        y = y.astype(np.float64)
        self.y_mean_ = float(y.mean())
        self.y_scale_ = float(y.std()) or 1.0
        return y

    def predict(self, X) -> np.ndarray:
        X = check_features(self, X, reset=False, allow_nan=True)
        raw = self.model_.predict(self._impute(X))[:, 0]
        return raw.astype(np.float64) * self.y_scale_ + self.y_mean_


class TabNetClassifier(ClassifierMixin, _TabNetBase):
    """TabNetClassifier with the study's configuration (ch. 5-2-1): n_steps 3,
    gamma 1.5, lr 1e-3, batch 256/128, momentum 0.3, StepLR(10, 0.9), patience 10."""

    _val_metric = "holdout_logloss"
    _y_numeric = False

    def __init__(
        self,
        n_d: int = 8,
        n_a: int = 8,
        n_steps: int = 3,
        gamma: float = 1.5,
        lambda_sparse: float = 1e-3,
        learning_rate: float = 1e-3,
        momentum: float = 0.3,
        scheduler_step_size: int = 10,
        scheduler_gamma: float = 0.9,
        batch_size: int = 256,
        virtual_batch_size: int = 128,
        max_epochs: int = 200,
        patience: int = 10,
        min_delta: float = 0.0,
        validation_fraction: float = 0.1,
        random_state: int = 42,
        device: str = "auto",
    ):
        _init_params(self, locals())

    def _make_inner(self):
        return _PTNClassifier(**self._common_kwargs())

    def _prepare_y(self, y):
        return np.asarray(y)

    def _fit_target(self, y: np.ndarray) -> np.ndarray:
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"TabNetClassifier needs two classes, got {self.classes_}")
        return y

    def predict_proba(self, X) -> np.ndarray:
        X = check_features(self, X, reset=False, allow_nan=True)
        proba = self.model_.predict_proba(self._impute(X))
        # pytorch-tabnet orders columns by its own classes_; align to ours.
        inner = list(self.model_.classes_)
        return proba[:, [inner.index(c) for c in self.classes_]]

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # first: it raises NotFittedError before fit
        return self.classes_[proba.argmax(axis=1)]


# ---------------------------------------------------------------- Optuna (ch. 6-3)


@dataclass(frozen=True)
class TabNetSearchSpace:
    """The study's ranges."""

    n_d: tuple[int, int] = (8, 64)
    n_a: tuple[int, int] = (8, 64)
    n_steps: tuple[int, int] = (3, 10)
    gamma: tuple[float, float] = (1.0, 2.0)
    lambda_sparse: tuple[float, float] = (1e-6, 1e-3)
    learning_rate: tuple[float, float] = (1e-3, 1e-1)

    def suggest(self, trial: optuna.Trial) -> dict:
        return {
            "n_d": trial.suggest_int("n_d", *self.n_d),
            "n_a": trial.suggest_int("n_a", *self.n_a),
            "n_steps": trial.suggest_int("n_steps", *self.n_steps),
            "gamma": trial.suggest_float("gamma", *self.gamma),
            "lambda_sparse": trial.suggest_float("lambda_sparse", *self.lambda_sparse, log=True),
            "learning_rate": trial.suggest_float("learning_rate", *self.learning_rate, log=True),
        }


def tune_tabnet(
    estimator: _TabNetBase,
    X_train,
    y_train,
    X_val,
    y_val,
    *,
    n_trials: int,
    timeout_s: float | None = None,
    random_state: int = 42,
    space: TabNetSearchSpace | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    start_from: dict | None = None,
) -> optuna.Study:
    """TPE search (seeded) with median pruning over the study's space; each trial
    fits a clone of `estimator` with those parameters and is scored by its best
    validation loss (MSE on the standardised target, or log-loss). `start_from` is
    enqueued as trial 0 (e.g. the study's starting configuration)."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    space = space or TabNetSearchSpace()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=random_state),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=3),
        storage=storage,
        study_name=study_name,
        load_if_exists=storage is not None,
    )
    if start_from is not None:
        study.enqueue_trial(start_from)

    def objective(trial: optuna.Trial) -> float:
        candidate = estimator.__class__(**{**estimator.get_params(), **space.suggest(trial)})
        candidate.fit(X_train, y_train, eval_set=(X_val, y_val), trial=trial)
        value = candidate.best_val_loss_
        return value if math.isfinite(value) else float("inf")

    study.optimize(objective, n_trials=n_trials, timeout=timeout_s, gc_after_trial=True)
    return study


class OptunaTabNetRegressor(RegressorMixin, BaseEstimator):
    """TabNetRegressor tuned by its own Optuna study inside `fit` (nested: the study
    sees only the rows passed to fit, scored on an inner hold-out), then refitted with
    the best parameters. Trial 0 is the study's starting configuration (ch. 6-3)."""

    def __init__(
        self,
        n_trials: int = 3,
        trial_max_epochs: int = 8,
        max_epochs: int = 20,
        patience: int = 10,
        validation_fraction: float = 0.1,
        random_state: int = 42,
        device: str = "auto",
    ):
        _init_params(self, locals())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # the inner TabNetRegressor imputes
        return tags

    def fit(self, X, y):
        X, y = check_training_data(self, X, y, allow_nan=True, min_samples=2, y_numeric=True)
        y = y.astype(np.float64)
        train_idx, val_idx = validation_split(len(X), self.validation_fraction, self.random_state)
        start = {k: REPORT_REGRESSION_CONFIG[k] for k in TUNED_PARAMETERS}
        base = TabNetRegressor(max_epochs=self.trial_max_epochs, patience=self.patience,
                               random_state=self.random_state, device=self.device)
        self.study_ = tune_tabnet(
            base, X[train_idx], y[train_idx], X[val_idx], y[val_idx],
            n_trials=self.n_trials, random_state=self.random_state, start_from=start,
        )
        self.best_params_ = dict(self.study_.best_params)
        self.estimator_ = TabNetRegressor(
            **self.best_params_, max_epochs=self.max_epochs, patience=self.patience,
            validation_fraction=self.validation_fraction, random_state=self.random_state,
            device=self.device,
        ).fit(X, y)
        for name in ("history_", "best_epoch_", "n_epochs_", "feature_importances_"):
            setattr(self, name, getattr(self.estimator_, name))
        # Rows x epochs actually trained, trials included (for throughput figures).
        trial_epochs = sum(len(t.intermediate_values) for t in self.study_.trials)
        self.trained_row_epochs_ = len(train_idx) * trial_epochs + int(
            len(X) * (1 - self.validation_fraction)) * self.n_epochs_
        return self

    # X is checked before estimator_ is touched, so an unfitted model raises NotFittedError.
    def predict(self, X) -> np.ndarray:
        X = check_features(self, X, reset=False, allow_nan=True)
        return self.estimator_.predict(X)

    def explain(self, X):
        X = check_features(self, X, reset=False, allow_nan=True)
        return self.estimator_.explain(X)

    def to_device(self, device: str | torch.device = "auto"):
        self.estimator_.to_device(device)
        return self


TUNED_PARAMETERS = ("n_d", "n_a", "n_steps", "gamma", "lambda_sparse", "learning_rate")
