"""ml/<family> for every family of `ml.families.FAMILIES`, and ml/report.

Asset specs, jobs and descriptions come from the registry, so a new family shows up here
(and in `tunehouse train --only`, the demo and the report's dependencies) by adding it to
`ml/families.py`. Importing this module imports no model code (no scikit-learn, torch or
xgboost): a family's code is imported inside its asset body (`family.load()`), when it runs.

Each family asset reads marts/track_features, trains under the selected protocols
(tracked in ml.*) and puts its runs into metadata: `runs` is `FamilyResult.to_records()`
(the JSON list the CLI reads), plus one float per run metric (the UI plots them across
materializations), one status per run and the figures as paths.

Each family asset also carries one asset check per model it compares with a baseline
(`<model>_beats_baseline`, `Family.compared_models`), evaluated in the same step from the
latest honest runs in ml.* (`ml.registry.model_check`, which applies the one rule of
`ml.verdicts`). Severity WARN: a model that does not beat its baseline is a finding about
the data (the run itself is sound, and the report must still build), not a broken pipeline;
the check turns it into a visible warning on the asset instead of a number one has to read.
"""

import math

import dagster as dg

from ml.families import FAMILIES, OWN_SECTION_FAMILIES, SUITES, Family
from ml.options import ALL_PROTOCOLS
from ml.results import FamilyResult
from orchestration.metadata import figure_metadata, results_figure_markdown
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
        meta[f"figure/{name}"] = figure_metadata(path)  # PNGs inline (Markdown), other files as paths
    return meta


def check_name(model: str) -> str:
    return f"{model}_beats_baseline"


def check_specs(family: Family) -> list[dg.AssetCheckSpec]:
    """One check per model the family compares with a trivial baseline."""
    return [
        dg.AssetCheckSpec(
            name=check_name(model), asset=family_key(family.name),
            description=f"{model}'s latest honest runs detectably beat their trivial baseline on the same rows "
                        "(one-sided paired t-test at 5 %, ml.verdicts); WARN otherwise.",
        )
        for model in family.compared_models
    ]


def check_results(family: Family, warehouse) -> list[dg.AssetCheckResult]:
    """The family's checks from the latest honest runs in ml.* (ml.registry.model_check)."""
    from ml.registry import latest_results, model_check

    results = latest_results(warehouse)
    out = []
    for model in family.compared_models:
        check = model_check(results, family.name, model)
        meta: dict[str, dg.MetadataValue] = {"verdicts": dg.MetadataValue.md(
            "\n".join(f"- {line}" for line in check.description.splitlines()))}
        for r in check.runs:
            v = r.verdict
            meta[f"{r.task}/verdict"] = dg.MetadataValue.text(v.label)
            meta[f"{r.task}/run_id"] = dg.MetadataValue.text(r.run_id)
            if v.comparison is not None:
                for name, value in (("difference", v.comparison.difference), ("standard_error", v.comparison.standard_error),
                                    ("model", v.comparison.model), ("baseline", v.comparison.baseline),
                                    ("p_value", v.p_value)):
                    if value is not None and math.isfinite(value):
                        meta[f"{r.task}/{name}"] = dg.MetadataValue.float(float(value))
        out.append(dg.AssetCheckResult(
            check_name=check_name(model), asset_key=family_key(family.name), passed=check.passed,
            severity=dg.AssetCheckSeverity.WARN, description=check.description[:1000], metadata=meta,
        ))
    return out


def _family_asset(family: Family) -> dg.AssetsDefinition:
    @dg.asset(
        key=family_key(family.name),
        deps=[TRACK_FEATURES],
        group_name=GROUP,
        kinds=set(family.kinds),
        tags={"suite": family.suite},
        description=family.description,
        check_specs=check_specs(family),
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
        return dg.MaterializeResult(metadata=family_metadata(result), check_results=check_results(family, warehouse.path))

    return _asset


#: family name → its asset, in training order.
family_assets: dict[str, dg.AssetsDefinition] = {name: _family_asset(f) for name, f in FAMILIES.items()}


@dg.asset(
    key=REPORT_KEY,
    # ml/hypotheses and ml/forecasts too: the report has a section on each
    # (orchestration/assets/hypotheses.py, forecasts.py).
    deps=[*(family_key(name) for name in FAMILIES), dg.AssetKey(["ml", "hypotheses"]), dg.AssetKey(["ml", "forecasts"])],
    group_name=GROUP,
    kinds={"html"},
    description="One self-contained HTML page: every model × protocol beside its trivial baseline on the same "
    "rows with the verdict of the one rule (ml.verdicts), the study's published figure with why ours differs, "
    "and the figures with captions (read from ml.*).",
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
    lines = ["| family | task | model | protocol | metric | value | baseline | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r.is_baseline:  # beside its model (the baseline column), not a row of its own
            continue
        if r.family in OWN_SECTION_FAMILIES:  # judged in its own asset and report section
            continue
        _split, value, _std = r.headline()
        base = r.baseline_value()
        lines.append(
            f"| {r.family} | {r.task or ''} | {r.model} | {r.protocol} | {r.primary_metric or ''} | "
            f"{'' if value is None else f'{value:.4f}'} | {'' if base is None else f'{base:.4f}'} | "
            f"{r.verdict.label} |")
    elsewhere = sorted({r.family for r in results if r.family in OWN_SECTION_FAMILIES})
    if elsewhere:
        lines += ["", *(f"{family}: {OWN_SECTION_FAMILIES[family]}." for family in elsewhere)]
    figure = results_figure_markdown(results)
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.path(str(path)),
        **({"figure/honest_vs_baseline": dg.MetadataValue.md(figure)} if figure else {}),
        "results": dg.MetadataValue.md("\n".join(lines)),
        "runs_shown": dg.MetadataValue.int(len(results)),
        # By the one rule (ml.verdicts): a detectable difference on the same rows, not any positive one.
        "honest_models_beating_baseline": dg.MetadataValue.int(sum(1 for r in honest if r.beats_baseline())),
        "honest_models_no_detectable_difference": dg.MetadataValue.int(
            sum(1 for r in honest if r.verdict.label == "no detectable difference")),
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
