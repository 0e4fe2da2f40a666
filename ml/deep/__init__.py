"""The study's deep tabular models: estimators (scikit-learn API) and their families.

Estimators: :mod:`ml.deep.autoencoders`, :mod:`ml.deep.tabnet`,
:mod:`ml.deep.tab_transformer`, :mod:`ml.deep.tabpfn_models` (sharing
:mod:`ml.deep.early_stopping` and :mod:`ml.deep.training`). Families (each one Dagster
asset, run through :mod:`ml.pipeline`): :mod:`ml.deep.cluster_families`,
:mod:`ml.deep.tabnet_family`, :mod:`ml.deep.tab_transformer_family`,
:mod:`ml.deep.tabpfn_family`. Importing this package imports no torch.
"""
