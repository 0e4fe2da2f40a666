"""The steps every deep supervised run adds to :meth:`ml.pipeline.Pipeline.supervised`.

On top of the classical models' metrics and predictions, a deep run stores its training
curves (``train_loss``/``val_loss`` per epoch: split ``curve`` for the replication
hold-out, ``curve_fold_<k>`` for fold k of the honest CV; step = epoch), its best epoch
and epochs run (split ``train``), one loss-curve figure, and its training throughput in
``ml.runs.params`` (``train_row_epochs``, ``train_rows_per_s``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.pipeline import Pipeline as SkPipeline

from ml.deep import figures
from ml.evaluation import Evaluation
from ml.pipeline import RunContext

After = Callable[[RunContext, Evaluation], None]


def inner(model):
    """The deep estimator inside an evaluation's fitted model (maybe a scikit-learn Pipeline)."""
    return model.named_steps["model"] if isinstance(model, SkPipeline) else model


def log_curves(ctx: RunContext, ev: Evaluation, model: str) -> None:
    """train_loss / val_loss per epoch of every fold into ml.metrics, plus one figure."""
    histories = []
    for fold in ev.folds:
        est = inner(fold.model)
        history = getattr(est, "history_", None)
        if not history:
            continue
        split = "curve" if len(ev.folds) == 1 else f"curve_fold_{fold.index}"
        steps = list(range(len(history["val_loss"])))
        ctx.run.log_curve("train_loss", steps, history["train_loss"], split=split)
        ctx.run.log_curve("val_loss", steps, history["val_loss"], split=split)
        label = "hold-out" if len(ev.folds) == 1 else f"fold {fold.index}"
        histories.append((label, history, getattr(est, "best_epoch_", None)))
    if not histories:
        return
    best = [h[2] for h in histories if h[2] is not None]
    ctx.run.log_metric("best_epoch", float(np.mean(best)) if best else None, split="train")
    ctx.run.log_metric("epochs_run", float(np.mean([len(h[1]["val_loss"]) for h in histories])), split="train")
    name = f"{model}_loss_curves"
    path = figures.loss_curves(histories, ctx.figure_path(name), f"{model} ({ctx.protocol.value})")
    ctx.add_figure(name, path, title=f"{model}: train/val loss per epoch")


def log_throughput(ctx: RunContext, ev: Evaluation) -> None:
    """Rows × epochs trained, and per second of fit (``params.fit_seconds``, set by the pipeline)."""
    total = 0
    for fold, result in zip(ctx.split.folds, ev.folds, strict=True):
        est = inner(result.model)
        default = len(fold.train) * int(getattr(est, "n_epochs_", 1))
        total += int(getattr(est, "trained_row_epochs_", default))
    seconds = ctx.run.params.get("fit_seconds") or 0.0
    ctx.run.params.update(train_row_epochs=total,
                          train_rows_per_s=round(total / seconds, 1) if seconds > 0 else None)


def deep_after(model: str, extra: After | None = None) -> After:
    """The ``after`` step of a deep supervised run: throughput, curves, then the model's own ``extra``."""
    def after(ctx: RunContext, ev: Evaluation) -> None:
        log_throughput(ctx, ev)
        log_curves(ctx, ev, model)
        if extra is not None:
            extra(ctx, ev)
    return after
