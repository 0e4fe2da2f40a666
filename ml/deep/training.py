"""The one minibatch training loop every hand-written torch model in the suite uses."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ml.deep.early_stopping import EarlyStopping

# (module, batch tensors) -> scalar loss. In eval mode the loss must be deterministic.
LossFn = Callable[[nn.Module, Sequence[torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class TrainingBudget:
    """How long and how hard one torch model trains."""

    max_epochs: int = 100
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 10
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


def _mean_loss(
    module: nn.Module,
    loss_fn: LossFn,
    tensors: Sequence[torch.Tensor],
    batch_size: int,
    device: torch.device,
) -> float:
    n = len(tensors[0])
    total = 0.0
    with torch.no_grad():
        for start in range(0, n, batch_size):
            batch = [t[start : start + batch_size].to(device) for t in tensors]
            total += float(loss_fn(module, batch)) * len(batch[0])
    return total / max(n, 1)


def fit_module(
    module: nn.Module,
    loss_fn: LossFn,
    train: Sequence[torch.Tensor],
    val: Sequence[torch.Tensor],
    *,
    budget: TrainingBudget,
    generator: torch.Generator,
    device: torch.device,
) -> EarlyStopping:
    """Train `module` with Adam on shuffled minibatches, early-stopping on the validation
    loss; the best epoch's weights are restored. Returns the stopper (curves, best epoch).

    Tensors stay on the CPU and move to `device` batch by batch, so a GPU holds only
    the model and one batch.
    """
    if len(train[0]) == 0:
        raise ValueError("cannot train on zero rows")
    if len(val[0]) == 0:
        raise ValueError("early stopping needs at least one validation row")
    module.to(device)
    optimizer = torch.optim.Adam(
        module.parameters(), lr=budget.learning_rate, weight_decay=budget.weight_decay
    )
    stopper = EarlyStopping(
        monitor="val_loss", mode="min", min_delta=budget.min_delta, patience=budget.patience
    )
    n = len(train[0])
    for epoch in range(budget.max_epochs):
        module.train()
        order = torch.randperm(n, generator=generator)
        running = 0.0
        for start in range(0, n, budget.batch_size):
            index = order[start : start + budget.batch_size]
            batch = [t[index].to(device) for t in train]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(module, batch)
            loss.backward()
            optimizer.step()
            running += float(loss.detach()) * len(index)
        module.eval()
        metrics = {
            "train_loss": running / n,
            "val_loss": _mean_loss(module, loss_fn, val, budget.batch_size * 4, device),
        }
        if stopper.update(epoch, metrics, module):
            break
    stopper.restore_best(module)
    module.eval()
    return stopper


def validation_split(
    n_rows: int, fraction: float, random_state: int, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, validation) for a seeded random hold-out of `fraction`.

    With `stratify` (class labels) each class is held out in proportion and keeps at
    least one training row, so a classifier trains on every class even when a class
    is rarer than 1/fraction rows.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
    n_val = max(1, int(math.floor(n_rows * fraction)))
    if n_rows - n_val < 1:
        raise ValueError(f"{n_rows} rows are too few to hold out a validation split")
    rng = np.random.default_rng(random_state)
    if stratify is None:
        order = rng.permutation(n_rows)
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    stratify = np.asarray(stratify)
    if len(stratify) != n_rows:
        raise ValueError(f"stratify has {len(stratify)} labels for {n_rows} rows")
    _, inverse, counts = np.unique(stratify, return_inverse=True, return_counts=True)
    capacity = counts - 1  # one row of every class stays in training
    # Largest-remainder allocation of n_val over the classes, within their capacity.
    exact = counts * fraction
    quota = np.minimum(np.floor(exact).astype(int), capacity)
    for i in np.argsort(-(exact - quota), kind="stable"):
        if quota.sum() >= n_val:
            break
        if quota[i] < capacity[i]:
            quota[i] += 1
    if quota.sum() == 0:
        raise ValueError(
            f"{n_rows} rows are too few to hold out a validation split that leaves "
            "every class a training row"
        )
    val = np.concatenate([
        rng.permutation(np.flatnonzero(inverse == k))[:q] for k, q in enumerate(quota)
    ])
    val = np.sort(val)
    return np.setdiff1d(np.arange(n_rows), val), val


def predict_batches(
    module: nn.Module,
    tensors: Sequence[torch.Tensor],
    forward: Callable[[nn.Module, Sequence[torch.Tensor]], torch.Tensor],
    *,
    device: torch.device,
    batch_size: int = 4096,
) -> np.ndarray:
    """Run `forward` over the rows in batches, in eval mode, and stack the outputs."""
    module.eval()
    outputs = []
    n = len(tensors[0])
    with torch.no_grad():
        for start in range(0, n, batch_size):
            batch = [t[start : start + batch_size].to(device) for t in tensors]
            outputs.append(forward(module, batch).cpu())
    if not outputs:
        return np.empty((0,), dtype=np.float32)
    return torch.cat(outputs).numpy()
