"""Family ``tabpfn``: TabPFN classification (the study's label) and regression (views),
trained on a subsample within TabPFN's limits and scored on the full test split / every
fold, each run through :class:`ml.pipeline.Pipeline`. Without weights (they are gated and
never downloaded) each run is stored as skipped with the reason.
"""

from __future__ import annotations

from pathlib import Path

from ml.datasets import TrackData
from ml.deep.device import configure_torch_threads
from ml.deep.run_steps import deep_after
from ml.deep.tabpfn_models import TabPFNSubsampleClassifier, TabPFNSubsampleRegressor, locate_tabpfn_weights
from ml.options import TrainOptions
from ml.pipeline import Pipeline
from ml.results import FamilyResult

FAMILY = "tabpfn"


def train(warehouse: Path, data: TrackData, options: TrainOptions) -> FamilyResult:
    """Both TabPFN models under each protocol; weights from ``options.tabpfn_model_path`` or TabPFN's cache."""
    configure_torch_threads(options.torch_threads)
    budget, seed = options.deep_budget(), options.seed
    pipe = Pipeline(FAMILY, warehouse, data, options)
    for protocol in options.protocols:
        for task, model, cls, kind in (
            ("stream_gap_label", "tabpfn_classifier", TabPFNSubsampleClassifier, "classifier"),
            ("views_knn", "tabpfn_regressor", TabPFNSubsampleRegressor, "regressor"),
        ):
            if not options.wants(model):
                continue
            weights = locate_tabpfn_weights(kind, options.tabpfn_model_path)
            pipe.supervised(
                task, model, protocol,
                params=dict(max_train_rows=budget.tabpfn_max_train_rows, n_estimators=budget.tabpfn_n_estimators,
                            random_state=seed, weights=str(weights.path) if weights.path else None),
                factory=lambda cls=cls, weights=weights: cls(
                    model_path=str(weights.path), max_train_rows=budget.tabpfn_max_train_rows,
                    n_estimators=budget.tabpfn_n_estimators, random_state=seed),
                scale=False, parallel_folds=False,
                skip_reason=None if weights.available else weights.skip_reason,
                after=deep_after(model),
            )
    return pipe.result()
