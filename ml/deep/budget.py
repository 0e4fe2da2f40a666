"""How much the deep families train by default: small enough that `make demo` and the
real-data benchmark stay fast on two CPU cores (docs/ml_deep.md lists the numbers)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DeepBudget(BaseModel):
    """Training budgets of the deep families; TrainOptions.budget overrides any of them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_clusters: int = Field(4, ge=2, le=20, description="K-Means k on the learned codes (study: 4).")
    autoencoder_epochs: int = Field(30, ge=1, le=1000, description="Max epochs of the MLP autoencoder.")
    vae_epochs: int = Field(30, ge=1, le=1000, description="Max epochs of the VAE.")
    clustering_patience: int = Field(5, ge=1, description="Early-stopping patience of AE/VAE (study: 5..10).")
    silhouette_rows: int = Field(5000, ge=100, description="Seeded row sample for silhouette scores.")

    tabnet_epochs: int = Field(15, ge=1, le=1000, description="Max epochs of the final TabNet fits.")
    tabnet_patience: int = Field(10, ge=1, description="TabNet early-stopping patience (study: 10).")
    tabnet_trials: int = Field(3, ge=1, le=50, description="Optuna trials for TabNetRegressor (trial 0 = the study's config).")
    tabnet_trial_epochs: int = Field(4, ge=1, le=1000, description="Max epochs per Optuna trial.")

    tab_transformer_epochs: int = Field(10, ge=1, le=1000, description="Max epochs of TabTransformer.")
    tab_transformer_patience: int = Field(3, ge=1, description="TabTransformer early-stopping patience.")
    tab_transformer_batch_size: int = Field(512, ge=16, le=8192, description="TabTransformer batch size.")
    tab_transformer_dim: int = Field(32, ge=8, le=256, description="Token width (study: embed_dim 32).")
    tab_transformer_depth: int = Field(4, ge=1, le=12, description="Transformer blocks (study: 4).")
    tab_transformer_heads: int = Field(4, ge=1, le=16, description="Attention heads (study: 4).")

    tabpfn_max_train_rows: int = Field(1000, ge=10, le=10_000, description="TabPFN training subsample (CPU limit 1,000 for v2 weights).")
    tabpfn_n_estimators: int = Field(4, ge=1, le=32, description="TabPFN ensemble size.")
