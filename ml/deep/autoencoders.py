"""Self-supervised clustering (study ch. 3-2): an MLP autoencoder and a VAE learn a
code for the scaled music features; K-Means clusters the code (the VAE's latent means).

Inputs are expected already scaled (the dataset layer of ML suite I does that).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from torch import nn
from torch.nn import functional as F

from ml.deep.base import TorchEstimator, check_features
from ml.deep.device import seed_everything
from ml.deep.training import fit_module, predict_batches, validation_split


class MLPAutoencoder(nn.Module):
    """The study's MLP: in -> 128 -> 64 -> in with ReLU; the 64-d layer is the code."""

    def __init__(self, input_dim: int, hidden_dim: int = 128, code_dim: int = 64):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, code_dim), nn.ReLU()
        )
        self.decoder = nn.Linear(code_dim, input_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class VariationalAutoencoder(nn.Module):
    """in -> hidden -> (mu, log-variance) of a Gaussian latent -> hidden -> in."""

    def __init__(self, input_dim: int, hidden_dim: int = 128, latent_dim: int = 8):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU())
        self.mu = nn.Linear(hidden_dim, latent_dim)
        self.log_var = nn.Linear(hidden_dim, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, input_dim)
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.mu(h), self.log_var(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, log_var = self.encode(x)
        if self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        else:
            # Evaluation uses the mean so validation losses and codes are deterministic.
            z = mu
        return self.decoder(z), mu, log_var


def _autoencoder_loss(module: nn.Module, batch) -> torch.Tensor:
    (x,) = batch
    return F.mse_loss(module(x), x)


def _vae_loss_factory(beta: float):
    def loss(module: nn.Module, batch) -> torch.Tensor:
        (x,) = batch
        reconstruction, mu, log_var = module(x)
        # Per-feature MSE plus the KL term per latent dimension, both averaged per row.
        recon = F.mse_loss(reconstruction, x, reduction="none").sum(dim=1).mean()
        kl = (-0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(dim=1)).mean()
        return (recon + beta * kl) / x.shape[1]

    return loss


class _CodeKMeans(ClusterMixin, TransformerMixin, TorchEstimator):
    """Train a network, then K-Means on its code. Subclasses build the network."""

    def _build(self, input_dim: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _loss(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _encode(self, module: nn.Module, batch) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def fit(self, X, y=None, *, eval_set=None):
        """Train on X (early stopping on a seeded hold-out, or on `eval_set` = X_val),
        then fit K-Means on the code of every row of X."""
        # The seeded hold-out needs a row on each side.
        X = check_features(self, X, reset=True, min_samples=2 if eval_set is None else 1)
        generator = seed_everything(self.random_state)
        self.device_ = self._resolve_device()
        if eval_set is None:
            train_idx, val_idx = validation_split(len(X), self.validation_fraction, self.random_state)
            X_train, X_val = X[train_idx], X[val_idx]
        else:
            X_train, X_val = X, check_features(self, eval_set, reset=False)
        self.module_ = self._build(X.shape[1])
        stopper = fit_module(
            self.module_,
            self._loss(),
            (torch.from_numpy(X_train),),
            (torch.from_numpy(X_val),),
            budget=self._budget(),
            generator=generator,
            device=self.device_,
        )
        self._record_training(stopper)
        code = self._code(X)
        self.kmeans_ = KMeans(n_clusters=self.n_clusters, n_init=10, random_state=self.random_state)
        self.labels_ = self.kmeans_.fit_predict(code)
        self.cluster_centers_ = self.kmeans_.cluster_centers_
        return self

    def transform(self, X) -> np.ndarray:
        """The learned code of each row (the 64-d layer; the VAE's latent mean)."""
        return self._code(check_features(self, X, reset=False))

    def _code(self, X: np.ndarray) -> np.ndarray:
        return predict_batches(
            self.module_, (torch.from_numpy(X),), self._encode, device=self.device_
        ).astype(np.float64)

    def predict(self, X) -> np.ndarray:
        code = self.transform(X)  # first: it raises NotFittedError before fit
        return self.kmeans_.predict(code)

    def reconstruction_error(self, X) -> float:
        """Mean squared reconstruction error per feature (deterministic, eval mode)."""
        X = check_features(self, X, reset=False)
        tensors = (torch.from_numpy(X),)
        recon = predict_batches(self.module_, tensors, self._reconstruct, device=self.device_)
        return float(np.mean((recon - X) ** 2))


class AutoencoderKMeans(_CodeKMeans):
    """The study's self-supervised MLP (in->128->64->in, ReLU) + K-Means on the 64-d code."""

    def __init__(
        self,
        n_clusters: int = 4,
        hidden_dim: int = 128,
        code_dim: int = 64,
        max_epochs: int = 100,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        patience: int = 10,
        min_delta: float = 1e-4,
        validation_fraction: float = 0.1,
        random_state: int = 42,
        device: str = "auto",
    ):
        self.n_clusters = n_clusters
        self.hidden_dim = hidden_dim
        self.code_dim = code_dim
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.min_delta = min_delta
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device

    def _build(self, input_dim: int) -> nn.Module:
        return MLPAutoencoder(input_dim, self.hidden_dim, self.code_dim)

    def _loss(self):
        return _autoencoder_loss

    def _encode(self, module, batch):
        return module.encoder(batch[0])

    def _reconstruct(self, module, batch):
        return module(batch[0])


class VAEKMeans(_CodeKMeans):
    """A variational autoencoder + K-Means on the latent means."""

    def __init__(
        self,
        n_clusters: int = 4,
        hidden_dim: int = 128,
        latent_dim: int = 8,
        beta: float = 1.0,
        max_epochs: int = 100,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        patience: int = 10,
        min_delta: float = 1e-4,
        validation_fraction: float = 0.1,
        random_state: int = 42,
        device: str = "auto",
    ):
        self.n_clusters = n_clusters
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.beta = beta
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.min_delta = min_delta
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device

    def _build(self, input_dim: int) -> nn.Module:
        return VariationalAutoencoder(input_dim, self.hidden_dim, self.latent_dim)

    def _loss(self):
        return _vae_loss_factory(self.beta)

    def _encode(self, module, batch):
        return module.encode(batch[0])[0]

    def _reconstruct(self, module, batch):
        return module(batch[0])[0]
