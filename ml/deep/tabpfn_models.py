"""TabPFN (Hollmann et al.; the `tabpfn` package) on a training subsample within its
limits, scored on whatever test rows the caller passes (the suite: the full split).

The weights are gated and are never downloaded here: they are loaded from the path
in TABPFN_MODEL_PATH (a checkpoint file, or a folder holding TabPFN's default
checkpoint names), else from TabPFN's own cache folder. When none is found, callers
get a `TabPFNWeights` whose `skip_reason` says where it looked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets

from ml.deep.base import check_features, check_training_data
from ml.deep.device import resolve_device

Task = Literal["classifier", "regressor"]
CHECKPOINT_SUFFIXES = (".ckpt", ".safetensors")


def default_checkpoint_names(task: Task) -> list[str]:
    """TabPFN's default checkpoint file names for `task`, newest version first."""
    from tabpfn.constants import ModelVersion
    from tabpfn.model_loading import ModelType, _get_model_source

    names = []
    for version in (
        ModelVersion.V3_5,
        ModelVersion.V3_5_FAST,
        ModelVersion.V3,
        ModelVersion.V2_6,
        ModelVersion.V2_5,
        ModelVersion.V2,
    ):
        source = _get_model_source(version, ModelType(task))
        names.append(source.default_filename)
        names.extend(n for n in source.filenames if n != source.default_filename)
    return list(dict.fromkeys(names))


def tabpfn_cache_dir() -> Path:
    from tabpfn.model_loading import get_cache_dir

    return get_cache_dir()


@dataclass(frozen=True)
class TabPFNWeights:
    """Where TabPFN's weights for one task are, or where they were looked for."""

    task: Task
    path: Path | None
    searched: tuple[Path, ...]

    @property
    def available(self) -> bool:
        return self.path is not None

    @property
    def skip_reason(self) -> str:
        places = ", ".join(str(p) for p in self.searched)
        return (
            f"skipped: no TabPFN weights at {places} "
            "(set TABPFN_MODEL_PATH to a TabPFN checkpoint file or folder)"
        )


def locate_tabpfn_weights(task: Task, configured: Path | None = None) -> TabPFNWeights:
    """Find a checkpoint for `task`: the configured file; else TabPFN's default names
    in the configured folder (or, with nothing configured, in TabPFN's cache)."""
    if configured is not None and configured.is_file():
        return TabPFNWeights(task, configured, (configured,))
    folder = configured if configured is not None else tabpfn_cache_dir()
    if folder.is_dir():
        for name in default_checkpoint_names(task):
            candidate = folder / name
            if candidate.is_file():
                return TabPFNWeights(task, candidate, (folder,))
    return TabPFNWeights(task, None, (folder,))


def subsample_rows(
    n_rows: int, max_rows: int, random_state: int, stratify: np.ndarray | None = None
) -> np.ndarray:
    """Sorted row indices of a seeded (stratified when labels are given) subsample."""
    if n_rows <= max_rows:
        return np.arange(n_rows)
    rng = np.random.default_rng(random_state)
    if stratify is None:
        return np.sort(rng.choice(n_rows, size=max_rows, replace=False))
    classes, counts = np.unique(stratify, return_counts=True)
    # Largest-remainder allocation keeps class shares and sums to exactly max_rows.
    exact = counts / n_rows * max_rows
    quota = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - quota))[: max_rows - quota.sum()]:
        quota[i] += 1
    chosen = [
        rng.choice(np.flatnonzero(stratify == c), size=min(q, cnt), replace=False)
        for c, q, cnt in zip(classes, quota, counts, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


class _TabPFNBase(BaseEstimator):
    _task: Task

    def __init__(
        self,
        model_path: str | None = None,
        max_train_rows: int = 1000,
        n_estimators: int = 4,
        random_state: int = 42,
        device: str = "auto",
    ):
        self.model_path = model_path
        self.max_train_rows = max_train_rows
        self.n_estimators = n_estimators
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # TabPFN handles missing values itself
        return tags

    def _make_inner(self, path: Path):  # pragma: no cover - abstract
        raise NotImplementedError

    def _weights(self) -> TabPFNWeights:
        configured = Path(self.model_path) if self.model_path is not None else None
        return locate_tabpfn_weights(self._task, configured)

    def fit(self, X, y):
        weights = self._weights()
        if not weights.available:
            raise FileNotFoundError(weights.skip_reason)
        X, y = check_training_data(
            self, X, y, allow_nan=True, y_numeric=self._task == "regressor"
        )
        if self._task == "classifier":
            check_classification_targets(y)
        rows = subsample_rows(
            len(X), self.max_train_rows, self.random_state,
            stratify=y if self._task == "classifier" else None,
        )
        self.weights_path_ = weights.path
        self.train_rows_used_ = len(rows)
        self.trained_row_epochs_ = len(rows)  # one forward pass over the context, no epochs
        self.device_ = resolve_device(self.device)
        self.model_ = self._make_inner(weights.path)
        self.model_.fit(X[rows], y[rows])
        return self

    def _inner_kwargs(self, path: Path) -> dict:
        return dict(
            model_path=str(path),
            n_estimators=self.n_estimators,
            device=str(self.device_),
            random_state=self.random_state,
        )


class TabPFNSubsampleClassifier(ClassifierMixin, _TabPFNBase):
    """TabPFNClassifier fitted on a stratified subsample of at most `max_train_rows`
    (the study used ~5 % of the rows; TabPFN on a CPU allows 1,000 by default)."""

    _task = "classifier"

    def _make_inner(self, path: Path):
        from tabpfn import TabPFNClassifier

        return TabPFNClassifier(**self._inner_kwargs(path))

    def fit(self, X, y):
        super().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    # X is checked before model_ is touched, so an unfitted model raises NotFittedError.
    def predict_proba(self, X) -> np.ndarray:
        X = check_features(self, X, reset=False, allow_nan=True)
        return self.model_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        X = check_features(self, X, reset=False, allow_nan=True)
        return self.model_.predict(X)


class TabPFNSubsampleRegressor(RegressorMixin, _TabPFNBase):
    """TabPFNRegressor fitted on a seeded random subsample of at most `max_train_rows`."""

    _task = "regressor"

    def _make_inner(self, path: Path):
        from tabpfn import TabPFNRegressor

        return TabPFNRegressor(**self._inner_kwargs(path))

    def predict(self, X) -> np.ndarray:
        X = check_features(self, X, reset=False, allow_nan=True)
        return np.asarray(self.model_.predict(X), dtype=np.float64)
