"""ML suite II: the report's deep tabular models (autoencoder/VAE clustering, TabNet,
TabTransformer, TabPFN), sharing one early-stopping component and one training loop."""

from ml.deep.device import resolve_device, seed_everything
from ml.deep.early_stopping import EarlyStopping, EpochRecord

__all__ = ["EarlyStopping", "EpochRecord", "resolve_device", "seed_everything"]
