"""Save and load fitted deep estimators (network weights and fitted state in one file)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch


def save_estimator(estimator, path: Path) -> Path:
    """Write a fitted estimator to `path` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(estimator, path)
    return path


def load_estimator(path: Path, device: str = "auto"):
    """Read an estimator written by `save_estimator`, moved to `device` ("auto": CUDA
    when present). Only load files this project wrote: the format is a pickle."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved model at {path}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        estimator = torch.load(path, map_location="cpu", weights_only=False)
    if hasattr(estimator, "to_device"):
        estimator.to_device(device)
    return estimator
