"""ml/<family> for every family of `ml.families.FAMILIES`, and ml/report.

Asset specs, jobs and descriptions come from the registry, so a new family shows up here
(and in `tunehouse train --only`, the demo and the report's dependencies) by adding it to
`ml/families.py`. Importing this module imports no model code (no scikit-learn, torch or
xgboost): a family's code is imported inside its asset body (`family.load()`), when it runs.

Each family asset reads marts/track_features, trains under the selected protocols
(tracked in ml.*) and puts its runs into metadata: `runs` is `FamilyResult.to_records()`
(the JSON list the CLI reads), plus one float per run metric (the UI plots them across
materializations), one status per run and the figures as paths.
"""

import math

import dagster as dg

from ml.families import FAMILIES, SUITES, Family
from ml.options import ALL_PROTOCOLS
from ml.results import FamilyResult
from orchestration.resources import MLResource, WarehouseResource

TRACK_FEATURES = dg.AssetKey(["marts", "track_features"])
REPORT_KEY = dg.AssetKey(["ml", "report"])
GROUP = "ml"


class FamilyConfig(dg.Config):
    protocols: list[str] = [p.value for p in ALL_PROTOCOLS]
    """Protocols to run: 'replication' (the study's splits and features) and/or 'honest' (grouped CV)."""
    only: list[str] = []
    """Model names of this family to run (empty: all), e.g. ["random_forest", "xgboost"]."""
    seed: int | None = None
    """Seed of splits and models (default: the ml resource's, TUNEHOUSE_ML_SEED)."""
    budget: dict[str, int] = {}
    """Deep families: overrides of the training budget (ml.deep.budget.DeepBudget), e.g. {"vae_epochs": 2}."""


def family_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["ml", name])


def family_metadata(result: FamilyResult) -> dict[str, dg.MetadataValue]:
    """`runs` (the JSON records), seconds, one float per run metric, one status per run, the figures."""
    meta: dict[str, dg.MetadataValue] = {
        "runs": dg.MetadataValue.json(result.to_records()),
        "seconds": dg.MetadataValue.float(round(result.seconds, 2)),
    }
    for run in result.runs:
        meta[f"{run.key}/status"] = dg.MetadataValue.text(run.status_text)
        for name, value in sorted(run.metrics.items()):
            if value is not None and math.isfinite(value):
                meta[f"{run.key}/{name}"] = dg.MetadataValue.float(float(value))
    for name, path in sorted(result.figures.items()):
        meta[f"figure/{name}"] = dg.MetadataValue.path(str(path))
    return meta


def _family_asset(family: Family) -> dg.AssetsDefinition:
    @dg.asset(
        key=family_key(family.name),
        deps=[TRACK_FEATURES],
        group_name=GROUP,
        kinds=set(family.kinds),
        tags={"suite": family.suite},
        description=family.description,
    )
    def _asset(
        context: dg.AssetExecutionContext, config: FamilyConfig, warehouse: WarehouseResource, ml: MLResource
    ) -> dg.MaterializeResult:
        from ml.datasets import load_track_features

        unknown = sorted(set(config.only) - set(family.models))
        if unknown:
            raise dg.Failure(f"{family.name} has no model {', '.join(unknown)}; it has {', '.join(family.models)}")
        try:
            options = ml.train_options(
                seed=config.seed, protocols=tuple(config.protocols), only=config.only or None, budget=config.budget
            )
        except ValueError as exc:
            raise dg.Failure(f"ml/{family.name}: {exc}") from None
        data = load_track_features(warehouse.path, official_only=options.official_only, children=options.children)
        result = family.load()(warehouse.path, data, options)
        for run in result.runs:
            if run.status != "succeeded":
                context.log.warning(f"{run.key}: {run.status_text}")
        context.log.info(f"{family.name}: {len(result.runs)} runs in {result.seconds:.1f}s")
        return dg.MaterializeResult(metadata=family_metadata(result))

    return _asset


#: family name → its asset, in training order.
family_assets: dict[str, dg.AssetsDefinition] = {name: _family_asset(f) for name, f in FAMILIES.items()}


@dg.asset(
    key=REPORT_KEY,
    deps=[family_key(name) for name in FAMILIES],
    group_name=GROUP,
    kinds={"html"},
    description="One HTML page: every model × protocol, its trivial baseline, the study's published "
    "figure and this run's figures side by side (read from ml.*).",
)
def ml_report(warehouse: WarehouseResource, ml: MLResource) -> dg.MaterializeResult:
    from ml.registry import latest_results
    from ml.report import NoRunsYet, build_report

    results = latest_results(warehouse.path)
    try:
        # Refuses an empty ml.* before writing anything: the last good report stays.
        path = build_report(warehouse.path, ml.reports_dir, results=results)
    except NoRunsYet as exc:
        raise dg.Failure(str(exc)) from None  # expected: one line in the UI and the CLI, no traceback
    honest = [r for r in results if r.protocol == "honest" and not r.is_baseline
              and r.primary_metric in ("accuracy", "r2") and r.status == "succeeded"]
    lines = ["| family | task | model | protocol | metric | value | baseline |", "|---|---|---|---|---|---|---|"]
    for r in results:
        _split, value, _std = r.headline()
        base = r.baseline_value()
        lines.append(
            f"| {r.family} | {r.task or ''} | {r.model} | {r.protocol} | {r.primary_metric or ''} | "
            f"{'' if value is None else f'{value:.4f}'} | {'' if base is None else f'{base:.4f}'} |")
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.path(str(path)),
        "results": dg.MetadataValue.md("\n".join(lines)),
        "runs_shown": dg.MetadataValue.int(len(results)),
        "honest_models_beating_baseline": dg.MetadataValue.int(sum(1 for r in honest if r.beats_baseline())),
        "honest_models": dg.MetadataValue.int(len(honest)),
    })


assets = [*family_assets.values(), ml_report]

#: One job per family: `ml_<family>` (`tunehouse train` runs the selected ones).
family_jobs = {
    name: dg.define_asset_job(
        f.job, selection=dg.AssetSelection.assets(family_assets[name]), description=f"Train ml/{name}: {f.description}"
    )
    for name, f in FAMILIES.items()
}
#: One job per suite: `ml_classical`, `ml_deep` (its families, then the report).
suite_jobs = {
    suite: dg.define_asset_job(
        f"ml_{suite}",
        selection=dg.AssetSelection.assets(*(family_assets[n] for n, f in FAMILIES.items() if f.suite == suite))
        | dg.AssetSelection.assets(ml_report),
        description=f"Train the {suite} families "
        f"({', '.join(n for n, f in FAMILIES.items() if f.suite == suite)}), then rebuild the ML report.",
    )
    for suite in SUITES
}
report_job = dg.define_asset_job(
    "ml_report", selection=dg.AssetSelection.assets(ml_report), description="Rebuild the ML HTML report from ml.*."
)
jobs = [*family_jobs.values(), *suite_jobs.values(), report_job]
