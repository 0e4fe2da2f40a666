"""Fixtures of the deep-suite tests: tiny data and a tiny TabPFN checkpoint in TabPFN's
own format (random weights: the real ones are gated and cannot be downloaded here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

# Two xdist workers on two cores: one torch thread each avoids oversubscription, which
# makes small models many times slower.
torch.set_num_threads(1)

#: TabPFN's own default file names for v2 checkpoints, so folder lookup finds them.
CLASSIFIER_CKPT = "tabpfn-v2-classifier-finetuned-zk73skhh.ckpt"
REGRESSOR_CKPT = "tabpfn-v2-regressor.ckpt"


def write_tiny_tabpfn_checkpoint(path: Path, task: str, seed: int = 0) -> Path:
    """A randomly initialised TabPFN v2 network (1 layer, width 16) saved the way
    tabpfn.model_loading.save_tabpfn_model writes checkpoints."""
    from tabpfn.architectures import tabpfn_v2
    from tabpfn.architectures.shared.bar_distribution import FullSupportBarDistribution

    torch.manual_seed(seed)
    config = {"emsize": 16, "nlayers": 1, "nhead": 2, "features_per_group": 2}
    if task == "classifier":
        config["max_num_classes"] = 10
    else:
        config.update(max_num_classes=0, num_buckets=64)
    parsed, _ = tabpfn_v2.parse_config(config)
    model = tabpfn_v2.get_architecture(parsed)
    with torch.no_grad():
        for parameter in model.parameters():
            # Zero-initialised output layers would predict a constant; jitter everything.
            parameter.add_(torch.randn_like(parameter) * 0.2)
    state = dict(model.state_dict())
    if task == "regressor":
        criterion = FullSupportBarDistribution(torch.linspace(-4.0, 4.0, 65))
        state.update({f"criterion.{k}": v for k, v in criterion.state_dict().items()})
    checkpoint = {"state_dict": state, "config": dataclasses.asdict(parsed), "architecture_name": "tabpfn_v2"}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="session")
def tiny_tabpfn_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tabpfn_weights")
    write_tiny_tabpfn_checkpoint(folder / CLASSIFIER_CKPT, "classifier")
    write_tiny_tabpfn_checkpoint(folder / REGRESSOR_CKPT, "regressor")
    return folder


@pytest.fixture
def blobs():
    """Four separated Gaussian blobs in 6-D (scaled), 240 rows."""
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=4.0, size=(4, 6))
    labels = np.repeat(np.arange(4), 60)
    X = centres[labels] + rng.normal(size=(240, 6))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X.astype(np.float32), labels


@pytest.fixture
def tabular():
    """A small table with categorical and continuous columns and two targets."""
    import pandas as pd

    rng = np.random.default_rng(11)
    n = 300
    frame = pd.DataFrame({
        "artist": rng.choice([f"artist {i}" for i in range(40)], size=n),
        "key": rng.integers(0, 12, size=n).astype(float),
        "licensed": rng.choice([True, False, None], size=n),
        "energy": rng.uniform(size=n),
        "loudness": rng.normal(-7, 3, size=n),
    })
    frame.loc[::17, "energy"] = np.nan
    y = 3 * frame["loudness"].to_numpy() / 3 + (frame["key"].to_numpy() > 5) * 2 + rng.normal(scale=0.3, size=n)
    label = (y > np.median(y)).astype(int)
    return frame, y, label
