"""The classical suite as one call: what `tunehouse train` and the benchmark run.

``--only`` names families (clustering, regression, classification, tuning) or models
(e.g. random_forest, knn_regression, xgboost_optuna); a model name runs its family with
just that model (and its trivial baseline).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from ml import classification, clustering, regression, tuning
from ml.datasets import Protocol, TrackData, load_track_features
from ml.runner import FamilyResult

FAMILIES: dict[str, Callable[..., FamilyResult]] = {
    "clustering": clustering.run_clustering,
    "regression": regression.run_regression,
    "classification": classification.run_classification,
    "tuning": tuning.run_tuning,
}

#: model name → family (for --only).
MODELS: dict[str, str] = {
    **{m: "clustering" for m in ("kmeans", "dbscan")},
    **{m: "regression" for m in regression.MODELS},
    **{m: "classification" for m in (*classification.model_factories(0), "svm_kernel_trick")},
    **{m: "tuning" for m in (*tuning.GRIDS, "xgboost_optuna")},
}


class SelectionError(ValueError):
    pass


def resolve_only(only: Iterable[str] | None) -> dict[str, set[str] | None]:
    """family → model filter (None = all models of the family)."""
    if not only:
        return {f: None for f in FAMILIES}
    plan: dict[str, set[str] | None] = {}
    for name in only:
        name = name.strip()
        if not name:
            continue
        if name in FAMILIES:
            plan[name] = None
        elif name in MODELS:
            family = MODELS[name]
            if plan.get(family, set()) is not None:
                plan.setdefault(family, set()).add(name)
        else:
            known = ", ".join(sorted(FAMILIES) + sorted(set(MODELS)))
            raise SelectionError(f"--only: unknown family or model {name!r}; known: {known}")
    return plan


def train(
    warehouse: Path | str | None = None,
    *,
    only: Iterable[str] | None = None,
    protocols: Iterable[Protocol | str] = (Protocol.REPORT, Protocol.HONEST),
    seed: int | None = None,
    reports_dir: Path | None = None,
    data: TrackData | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, FamilyResult]:
    """Run the selected families under the given protocols; the mart is read once."""
    plan = resolve_only(only)
    protocols = tuple(Protocol(p) for p in protocols)
    data = data if data is not None else load_track_features(warehouse)
    out: dict[str, FamilyResult] = {}
    for family, models in plan.items():
        if progress:
            progress(family)
        out[family] = FAMILIES[family](warehouse, protocols, data=data, seed=seed, only=models,
                                       reports_dir=reports_dir)
    return out
