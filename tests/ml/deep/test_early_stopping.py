"""EarlyStopping stops where an independent reading of the curve says it must, and
restores the weights of the best epoch."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ml.deep.early_stopping import EarlyStopping


def run(stopper: EarlyStopping, losses: list[float], model: nn.Module | None = None) -> int | None:
    for epoch, loss in enumerate(losses):
        if model is not None:
            with torch.no_grad():
                model.weight.fill_(float(epoch))  # the weights remember their epoch
        if stopper.update(epoch, {"train_loss": 0.0, "val_loss": loss}, model):
            return epoch
    return None


def test_stops_after_patience_epochs_without_improvement_and_restores_best():
    # Best at epoch 2 (0.70); epochs 3, 4, 5 do not beat it -> stop at epoch 5.
    losses = [1.0, 0.8, 0.70, 0.71, 0.72, 0.70, 0.5, 0.4]
    model = nn.Linear(1, 1, bias=False)
    stopper = EarlyStopping(patience=3)
    assert run(stopper, losses, model) == 5
    assert stopper.best_epoch == 2
    assert stopper.best_value == pytest.approx(0.70)
    assert stopper.restore_best(model)
    assert model.weight.item() == 2.0
    assert stopper.curve("val_loss") == losses[:6]


def test_min_delta_makes_small_gains_count_as_no_improvement():
    # Gains of 0.005 are below min_delta=0.01: best stays at epoch 0, stop at epoch 2.
    losses = [1.0, 0.995, 0.99, 0.985, 0.5]
    stopper = EarlyStopping(patience=2, min_delta=0.01)
    assert run(stopper, losses) == 2
    assert stopper.best_epoch == 0


def test_max_mode_monitors_accuracy():
    stopper = EarlyStopping(monitor="val_accuracy", mode="max", patience=2)
    values = [0.5, 0.6, 0.55, 0.6, 0.9]
    stopped = None
    for epoch, value in enumerate(values):
        if stopper.update(epoch, {"val_accuracy": value}):
            stopped = epoch
            break
    assert stopped == 3 and stopper.best_epoch == 1


def test_nan_loss_stops_at_once():
    stopper = EarlyStopping(patience=5)
    assert run(stopper, [1.0, math.nan, 0.1]) == 1
    assert stopper.best_epoch == 0


def test_bad_configuration_is_rejected_and_missing_metric_named():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="val_loss"):
        EarlyStopping().update(0, {"loss": 1.0})


def expected_stop(losses: list[float], patience: int, min_delta: float) -> tuple[int | None, int]:
    """Independent reading: walk the curve keeping the best value and the epochs since."""
    best, best_epoch, since = math.inf, -1, 0
    for epoch, loss in enumerate(losses):
        if loss < best - min_delta:
            best, best_epoch, since = loss, epoch, 0
        else:
            since += 1
        if since >= patience:
            return epoch, best_epoch
    return None, best_epoch


@settings(max_examples=200, deadline=None)
@given(
    losses=st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=40),
    patience=st.integers(1, 6),
    min_delta=st.sampled_from([0.0, 0.01, 0.5]),
)
def test_stop_epoch_matches_an_independent_reading_of_any_curve(losses, patience, min_delta):
    stopper = EarlyStopping(patience=patience, min_delta=min_delta)
    stopped = run(stopper, losses)
    want_stop, want_best = expected_stop(losses, patience, min_delta)
    assert stopped == want_stop
    assert stopper.best_epoch == want_best
    assert stopper.epochs_run == (len(losses) if want_stop is None else want_stop + 1)
