"""Where torch runs (CUDA when present, else CPU) and how runs are made repeatable."""

from __future__ import annotations

import random

import numpy as np
import torch


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """`"auto"` picks CUDA when a GPU is visible, else the CPU; anything else is taken as given."""
    if isinstance(spec, torch.device):
        return spec
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={spec!r} was asked for but no CUDA GPU is visible")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator for shuffling batches.

    A dedicated generator keeps batch order independent of whatever else in the
    process draws from torch's global RNG.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def configure_torch_threads(threads: int) -> int:
    """Set torch's CPU threads to `threads` (the caller's configuration, e.g.
    TrainOptions.torch_threads); returns the value."""
    if threads < 1:
        raise ValueError(f"torch threads must be >= 1, got {threads}")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
