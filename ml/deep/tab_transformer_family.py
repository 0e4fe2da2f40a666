"""Family ``tab_transformer``: the TabTransformer (Huang et al. 2020) with a regression head
(views) and a classification head (the study's label), each run through
:class:`ml.pipeline.Pipeline`. The feature matrix adds album type as a code; which columns
are embedded as categorical tokens is decided by name (:data:`CATEGORICAL_COLUMNS`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from ml.datasets import TaskData, TrackData
from ml.deep.device import configure_torch_threads
from ml.deep.run_steps import deep_after
from ml.deep.tab_transformer import TabTransformerClassifier, TabTransformerRegressor
from ml.options import TrainOptions
from ml.pipeline import Pipeline, RunContext
from ml.results import FamilyResult

FAMILY = "tab_transformer"
#: Columns the TabTransformer embeds as categorical tokens when they are features.
CATEGORICAL_COLUMNS = ("artist_code", "album_type_code", "key", "licensed", "is_official_video", "is_children")
VARIANT = ("TabTransformer (Huang et al. 2020): column embeddings + transformer over categorical tokens; "
           "continuous features layer-normed")


def tab_transformer_matrix(td: TaskData) -> tuple[np.ndarray, list[str]]:
    """The task's features plus album type as codes (→ X, column names)."""
    frame = td.frame.with_columns(pl.col("album_type").rank("dense").cast(pl.Float64).alias("album_type_code"))
    names = [*td.features, "album_type_code"]
    X = frame.select([pl.col(c).cast(pl.Float64) for c in names]).to_numpy()
    return np.ascontiguousarray(X), names


def train(warehouse: Path, data: TrackData, options: TrainOptions) -> FamilyResult:
    """Both heads under each protocol (folds one after another: torch's RNG is per process)."""
    configure_torch_threads(options.torch_threads)
    budget = options.deep_budget()
    params = dict(dim=budget.tab_transformer_dim, depth=budget.tab_transformer_depth,
                  heads=budget.tab_transformer_heads, max_epochs=budget.tab_transformer_epochs,
                  batch_size=budget.tab_transformer_batch_size, patience=budget.tab_transformer_patience,
                  random_state=options.seed)
    pipe = Pipeline(FAMILY, warehouse, data, options)
    for protocol in options.protocols:
        for task, model, cls in (
            ("views_knn", "tab_transformer_regressor", TabTransformerRegressor),
            ("stream_gap_label", "tab_transformer_classifier", TabTransformerClassifier),
        ):
            if not options.wants(model):
                continue

            def build(ctx: RunContext, cls=cls):
                _, names = tab_transformer_matrix(ctx.td)
                categorical = [i for i, n in enumerate(names) if n in CATEGORICAL_COLUMNS]
                ctx.run.params["categorical_features"] = [names[i] for i in categorical]
                return lambda: cls(categorical_features=categorical, **params)

            pipe.supervised(task, model, protocol, tuner=build, params={**params, "variant": VARIANT},
                            matrix=tab_transformer_matrix, scale=False, parallel_folds=False,
                            after=deep_after(model))
    return pipe.result()
