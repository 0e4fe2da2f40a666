"""TabTransformer (Huang, Khetan, Cvitkovic & Karnin 2020, arXiv:2012.06678).

The architecture of the paper, not the study's variant (which embedded the whole
row with one Linear layer and ran attention over a single token, so attention had
nothing to attend across):

* every categorical column gets its own value embeddings (one table, offset per
  column; index 0 of each column is "unknown", which also takes missing and rare
  values) plus a learned column embedding added to it, so a token knows its column;
* a stack of Transformer encoder blocks (multi-head self-attention + feed-forward)
  runs over the categorical tokens, producing contextual embeddings;
* the continuous features pass through a LayerNorm and are concatenated with the
  flattened contextual embeddings;
* an MLP (hidden sizes 4l and 2l, l = its input size, as in the paper) gives the
  output: one value for regression, one logit per class for classification.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data
from torch import nn
from torch.nn import functional as F

from ml.deep.base import TorchEstimator
from ml.deep.device import seed_everything
from ml.deep.training import fit_module, predict_batches, validation_split

UNKNOWN = 0


class TabTransformerNet(nn.Module):
    def __init__(
        self,
        cardinalities: Sequence[int],
        n_continuous: int,
        d_out: int,
        dim: int = 32,
        depth: int = 4,
        heads: int = 4,
        attn_dropout: float = 0.1,
        ff_dropout: float = 0.1,
        mlp_dropout: float = 0.1,
    ):
        super().__init__()
        self.n_categorical = len(cardinalities)
        self.n_continuous = n_continuous
        if self.n_categorical == 0 and n_continuous == 0:
            raise ValueError("TabTransformer needs at least one feature")
        if self.n_categorical:
            offsets = np.concatenate([[0], np.cumsum(cardinalities)[:-1]])
            self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.long))
            self.value_embedding = nn.Embedding(int(sum(cardinalities)), dim)
            self.column_embedding = nn.Parameter(torch.randn(self.n_categorical, dim) * 0.02)
            layer = nn.TransformerEncoderLayer(
                d_model=dim,
                nhead=heads,
                dim_feedforward=4 * dim,
                dropout=attn_dropout,
                activation="gelu",
                batch_first=True,
            )
            # Dropout inside the feed-forward uses the same rate as attention in torch's
            # layer; ff_dropout is applied to the block output below.
            self.transformer = nn.TransformerEncoder(
                layer, num_layers=depth, enable_nested_tensor=False
            )
            self.token_dropout = nn.Dropout(ff_dropout)
        self.continuous_norm = nn.LayerNorm(n_continuous) if n_continuous else None
        width = self.n_categorical * dim + n_continuous
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width),
            nn.ReLU(),
            nn.Dropout(mlp_dropout),
            nn.Linear(4 * width, 2 * width),
            nn.ReLU(),
            nn.Dropout(mlp_dropout),
            nn.Linear(2 * width, d_out),
        )

    def contextual_embeddings(self, x_categorical: torch.Tensor) -> torch.Tensor:
        """[batch, n_categorical, dim]: the transformer's output tokens."""
        tokens = self.value_embedding(x_categorical + self.offsets) + self.column_embedding
        return self.token_dropout(self.transformer(tokens))

    def forward(self, x_categorical: torch.Tensor, x_continuous: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.n_categorical:
            parts.append(self.contextual_embeddings(x_categorical).flatten(1))
        if self.n_continuous:
            parts.append(self.continuous_norm(x_continuous))
        return self.mlp(torch.cat(parts, dim=1))


def _is_frame(X) -> bool:
    return isinstance(X, pd.DataFrame) or (hasattr(X, "to_pandas") and hasattr(X, "columns"))


def as_pandas(X) -> pd.DataFrame:
    """pandas view of a pandas or polars frame, or of a 2-D array (columns named by
    position, so `categorical_features` may then be column indices)."""
    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True)
    if hasattr(X, "to_pandas"):
        return X.to_pandas()
    array = np.asarray(X)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D feature matrix, got shape {array.shape}")
    return pd.DataFrame(array, columns=list(range(array.shape[1])))


def _column(X: pd.DataFrame, name: str) -> np.ndarray:
    if name not in X.columns:
        raise KeyError(f"feature {name!r} is not a column of the input ({list(X.columns)})")
    return X[name].to_numpy()


def _numeric_column(X: pd.DataFrame, name: str) -> np.ndarray:
    if name not in X.columns:
        raise KeyError(f"feature {name!r} is not a column of the input ({list(X.columns)})")
    # Missing values become NaN (imputed later); anything else non-numeric is an error,
    # not a silent NaN: it is most likely a categorical column not declared as one.
    try:
        values = X[name].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            f"{exc} (continuous feature {name!r}; list it in categorical_features "
            "if it is categorical)"
        ) from None
    if np.isinf(values).any():
        raise ValueError(f"Input X contains infinity in continuous feature {name!r}")
    return values


class _TabTransformerBase(TorchEstimator):
    """Shared fit/encode logic; X is a pandas or polars DataFrame, or a 2-D array."""

    def __init__(
        self,
        categorical_features: Sequence[str] = (),
        dim: int = 32,
        depth: int = 4,
        heads: int = 4,
        attn_dropout: float = 0.1,
        ff_dropout: float = 0.1,
        mlp_dropout: float = 0.1,
        min_category_count: int = 2,
        max_epochs: int = 100,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-5,
        patience: int = 10,
        min_delta: float = 0.0,
        validation_fraction: float = 0.1,
        random_state: int = 42,
        device: str = "auto",
    ):
        self.categorical_features = categorical_features
        self.dim = dim
        self.depth = depth
        self.heads = heads
        self.attn_dropout = attn_dropout
        self.ff_dropout = ff_dropout
        self.mlp_dropout = mlp_dropout
        self.min_category_count = min_category_count
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.min_delta = min_delta
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # imputed (continuous) or the unknown token
        # Strings are taken in categorical columns only; continuous ones must be numeric.
        tags.input_tags.string = bool(self.categorical_features)
        return tags

    def _checked_frame(self, X, y="no_validation", *, reset: bool, min_samples: int = 1) -> pd.DataFrame:
        """X as pandas after scikit-learn's checks: arrays are validated without a
        numeric conversion (categorical columns may hold strings); for every input
        n_features_in_ and feature_names_in_ are recorded (fit) or checked (after)."""
        if not reset:
            check_is_fitted(self)
        if not _is_frame(X):
            X = check_array(
                X, dtype=None, ensure_all_finite="allow-nan", ensure_min_samples=min_samples,
                estimator=self, input_name="X",
            )
        validate_data(self, X, y, skip_check_array=True, reset=reset)
        return as_pandas(X)

    def _check_target(self, X: pd.DataFrame, y) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        return y

    def _encode_categorical(self, X) -> torch.Tensor:
        columns = []
        for name in self.categorical_features_:
            values = pd.Series(_column(X, name)).astype("string").fillna("\x00missing")
            codes = values.map(self.vocabularies_[name]).fillna(UNKNOWN).to_numpy(dtype=np.int64)
            columns.append(codes)
        if not columns:
            return torch.zeros((len(X), 0), dtype=torch.long)
        return torch.from_numpy(np.stack(columns, axis=1))

    def _encode_continuous(self, X) -> torch.Tensor:
        if not self.continuous_features_:
            return torch.zeros((len(X), 0), dtype=torch.float32)
        matrix = np.stack(
            [_numeric_column(X, name) for name in self.continuous_features_],
            axis=1,
        )
        matrix = np.where(np.isnan(matrix), self.continuous_fill_, matrix)
        matrix = (matrix - self.continuous_mean_) / self.continuous_scale_
        return torch.from_numpy(matrix.astype(np.float32))

    def _fit_encoders(self, X) -> None:
        self.categorical_features_ = [c for c in self.categorical_features if c in X.columns]
        missing = [c for c in self.categorical_features if c not in X.columns]
        if missing:
            raise KeyError(f"categorical features {missing} are not columns of the input")
        self.continuous_features_ = [c for c in X.columns if c not in self.categorical_features_]
        self.vocabularies_: dict[str, dict[str, int]] = {}
        for name in self.categorical_features_:
            counts = pd.Series(_column(X, name)).astype("string").dropna().value_counts()
            # Rare values share the unknown slot, so that slot is trained and unseen
            # values at prediction time (e.g. a new artist) land somewhere meaningful.
            kept = sorted(str(v) for v, c in counts.items() if c >= self.min_category_count)
            self.vocabularies_[name] = {value: i + 1 for i, value in enumerate(kept)}
        if self.continuous_features_:
            matrix = np.stack(
                [_numeric_column(X, n) for n in self.continuous_features_],
                axis=1,
            )
            fill = np.nanmedian(matrix, axis=0)
            fill = np.where(np.isnan(fill), 0.0, fill)
            matrix = np.where(np.isnan(matrix), fill, matrix)
            scale = matrix.std(axis=0)
            self.continuous_fill_ = fill
            self.continuous_mean_ = matrix.mean(axis=0)
            self.continuous_scale_ = np.where(scale > 0, scale, 1.0)

    def _cardinalities(self) -> list[int]:
        return [len(self.vocabularies_[name]) + 1 for name in self.categorical_features_]

    def _fit(self, X: pd.DataFrame, targets: np.ndarray, d_out: int, loss, eval_set):
        """Train on the checked frame X and encoded targets (`_checked_frame`)."""
        generator = seed_everything(self.random_state)
        self.device_ = self._resolve_device()
        if eval_set is None:
            # Classifiers hold out per class, so training sees every class.
            train_idx, val_idx = validation_split(
                len(X), self.validation_fraction, self.random_state,
                stratify=targets if isinstance(self, ClassifierMixin) else None,
            )
            X_train = X.iloc[train_idx].reset_index(drop=True)
            X_val = X.iloc[val_idx].reset_index(drop=True)
            t_train, t_val = targets[train_idx], targets[val_idx]
        else:
            X_train, t_train = X, targets
            X_val, y_val = eval_set
            X_val = self._checked_frame(X_val, reset=False)
            t_val = self._encode_target(column_or_1d(y_val))
        self._fit_encoders(X_train)
        self.module_ = TabTransformerNet(
            self._cardinalities(),
            len(self.continuous_features_),
            d_out,
            dim=self.dim,
            depth=self.depth,
            heads=self.heads,
            attn_dropout=self.attn_dropout,
            ff_dropout=self.ff_dropout,
            mlp_dropout=self.mlp_dropout,
        )
        stopper = fit_module(
            self.module_,
            loss,
            (self._encode_categorical(X_train), self._encode_continuous(X_train), torch.from_numpy(t_train)),
            (self._encode_categorical(X_val), self._encode_continuous(X_val), torch.from_numpy(t_val)),
            budget=self._budget(),
            generator=generator,
            device=self.device_,
        )
        self._record_training(stopper)
        return self

    def _raw_output(self, X) -> np.ndarray:
        X = self._checked_frame(X, reset=False)
        tensors = (self._encode_categorical(X), self._encode_continuous(X))
        return predict_batches(
            self.module_, tensors, lambda m, b: m(b[0], b[1]), device=self.device_
        )


def _regression_loss(module, batch):
    x_cat, x_cont, y = batch
    return F.mse_loss(module(x_cat, x_cont).squeeze(1), y)


def _classification_loss(module, batch):
    x_cat, x_cont, y = batch
    return F.cross_entropy(module(x_cat, x_cont), y)


_COMMON_DOC = """
    Parameters: categorical_features (column names, or indices for array input,
    embedded as tokens; every other column is continuous), dim/depth/heads
    (transformer width, blocks, attention heads), dropouts, min_category_count (rarer values share the unknown token), and
    the training budget (max_epochs, batch_size, learning_rate, weight_decay,
    patience, min_delta, validation_fraction), random_state, device ("auto" = CUDA if
    present).
"""


class TabTransformerRegressor(RegressorMixin, _TabTransformerBase):
    __doc__ = "TabTransformer with a regression head (MSE on the standardised target)." + _COMMON_DOC

    def _encode_target(self, y: np.ndarray) -> np.ndarray:
        return ((np.asarray(y, dtype=np.float64) - self.y_mean_) / self.y_scale_).astype(np.float32)

    def fit(self, X, y, *, eval_set=None):
        # The seeded hold-out needs a row on each side.
        X = self._checked_frame(X, y, reset=True, min_samples=2 if eval_set is None else 1)
        y = check_array(self._check_target(X, y), ensure_2d=False, dtype=np.float64, input_name="y")
        self.y_mean_ = float(y.mean())
        self.y_scale_ = float(y.std()) or 1.0
        return self._fit(X, self._encode_target(y), 1, _regression_loss, eval_set)

    def predict(self, X) -> np.ndarray:
        raw = self._raw_output(X)  # first: it raises NotFittedError before fit
        return raw[:, 0].astype(np.float64) * self.y_scale_ + self.y_mean_


class TabTransformerClassifier(ClassifierMixin, _TabTransformerBase):
    __doc__ = "TabTransformer with a classification head (cross-entropy over classes_)." + _COMMON_DOC

    def _encode_target(self, y: np.ndarray) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        try:
            return np.asarray([index[v] for v in np.asarray(y).tolist()], dtype=np.int64)
        except KeyError as exc:
            raise ValueError(f"label {exc.args[0]!r} was not among the training classes") from None

    def fit(self, X, y, *, eval_set=None):
        X = self._checked_frame(X, y, reset=True, min_samples=2 if eval_set is None else 1)
        y = self._check_target(X, y)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"TabTransformerClassifier needs two classes, got {self.classes_}")
        return self._fit(X, self._encode_target(y), len(self.classes_), _classification_loss, eval_set)

    def predict_proba(self, X) -> np.ndarray:
        logits = torch.from_numpy(self._raw_output(X))
        return torch.softmax(logits.double(), dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # first: it raises NotFittedError before fit
        return self.classes_[proba.argmax(axis=1)]
