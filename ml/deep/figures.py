"""Figures of the deep families (PNG via ml.plots, under the reports folder)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ml.plots import new_figure, save_png


def loss_curves(
    histories: Sequence[tuple[str, Mapping[str, Sequence[float]], int | None]],
    path: Path,
    title: str,
) -> Path:
    """Train (dashed) and validation (solid) loss per epoch, one colour per fit; the
    restored best epoch is marked."""
    fig, ax = new_figure(7.5, 4.5)
    for i, (label, history, best_epoch) in enumerate(histories):
        colour = f"C{i % 10}"
        epochs = np.arange(len(history["val_loss"]))
        ax.plot(epochs, history["train_loss"], ls="--", color=colour, alpha=0.7, label=f"{label} train")
        ax.plot(epochs, history["val_loss"], ls="-", color=colour, label=f"{label} val")
        if best_epoch is not None:
            ax.scatter([best_epoch], [history["val_loss"][best_epoch]], color=colour, marker="*", s=120, zorder=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title + " (★ = restored best epoch)")
    ax.legend(fontsize=7, ncol=2)
    return save_png(fig, path)


def feature_importances(features: Sequence[str], importances: np.ndarray, path: Path, title: str) -> Path:
    order = np.argsort(importances)
    fig, ax = new_figure(6.5, max(3.0, 0.3 * len(features) + 1))
    ax.barh([features[i] for i in order], importances[order], color="C0")
    ax.set_xlabel("importance (TabNet, sums to 1)")
    ax.set_title(title)
    return save_png(fig, path)


def attention_masks(features: Sequence[str], masks: Mapping[int, np.ndarray], path: Path, title: str) -> Path:
    """TabNet's feature-selection mask per decision step (rows = tracks, columns = features)."""
    import matplotlib.pyplot as plt

    steps = sorted(masks)
    fig, axes = plt.subplots(1, len(steps), figsize=(max(6.0, 3.0 * len(steps)), 5.0), squeeze=False)
    for ax, step in zip(axes[0], steps, strict=True):
        ax.imshow(masks[step], aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_title(f"step {step + 1}", fontsize=9)
        ax.set_xticks(range(len(features)))
        ax.set_xticklabels(features, rotation=90, fontsize=6)
        ax.set_yticks([])
    axes[0][0].set_ylabel("tracks")
    fig.suptitle(title)
    return save_png(fig, path)


def cluster_scatter(points: np.ndarray, labels: np.ndarray, path: Path, title: str, axis: str) -> Path:
    fig, ax = new_figure(6.5, 5.0)
    for cluster in np.unique(labels):
        mask = labels == cluster
        ax.scatter(points[mask, 0], points[mask, 1], s=4, alpha=0.6, label=f"cluster {cluster}")
    ax.set_xlabel(f"{axis} 1")
    ax.set_ylabel(f"{axis} 2")
    ax.set_title(title)
    ax.legend(markerscale=3, fontsize=8)
    return save_png(fig, path)


def silhouette_comparison(values: Mapping[str, float], path: Path, title: str) -> Path:
    fig, ax = new_figure(6.0, 3.5)
    names = list(values)
    ax.bar(names, [values[n] for n in names], color=[f"C{i}" for i in range(len(names))])
    ax.set_ylabel("silhouette (scaled music features)")
    ax.set_title(title)
    ax.tick_params(axis="x", labelsize=8)
    return save_png(fig, path)


def optuna_history(values: Sequence[float | None], path: Path, title: str) -> Path:
    fig, ax = new_figure(6.5, 4.0)
    trials = np.arange(len(values))
    finite = np.array([np.nan if v is None else v for v in values], dtype=float)
    ax.plot(trials, finite, "o", label="trial (best val loss)")
    ax.plot(trials, np.fmin.accumulate(np.where(np.isnan(finite), np.inf, finite)), "-", label="best so far")
    ax.set_xlabel("trial (0 = the study's starting configuration)")
    ax.set_ylabel("validation loss")
    ax.set_title(title)
    ax.legend()
    return save_png(fig, path)
