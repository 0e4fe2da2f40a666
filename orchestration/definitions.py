"""The one Dagster `Definitions` of tunehouse: `dagster dev -m orchestration.definitions`.

`build_definitions(settings)` creates every resource from one explicit `Settings`; the
Dagster tools load `defs` (lazily, `@dg.definitions`), which builds them from
`load_settings()`, i.e. the environment of the code location's process (`tunehouse ui`
starts `dagster dev` with TUNEHOUSE_WAREHOUSE and DAGSTER_HOME in its env). Importing this
module imports no ML code (no torch, scikit-learn or xgboost) and runs no dbt.

What every asset carries, applied here in one place (`annotate`):

- group: the stage of the flow, so the graph reads left to right: `kaggle` (the CSV, its
  staging and the crawl targets) → `youtube` (the crawl and its models) → `features`
  (the tables joining both) → `ml` (models, report) and `docs` (the dbt docs site). dbt
  models get theirs from their dbt group (`dbt_project/models/_groups.yml`).
- owners: the group's (`GROUP_OWNERS`, the same as the dbt groups' owners);
- tags: `layer` (raw, staging, intermediate, marts, ml, docs: the key's first part) and
  `domain` (the group);
- code references: the Python function or the dbt model's SQL and YAML;
- the raw tables' column schema (from the DDL) and, under `tunehouse ui`, links to the
  HTML report and the dbt docs served from the reports folder.

Every job's runs carry the warehouse they ran against (`WAREHOUSE_TAG`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import dagster as dg

from orchestration.assets import forecasts, hypotheses, kaggle, kaggle_checks, ml, youtube
from orchestration.resources import (
    DbtEngineResource,
    KaggleSourceResource,
    LakeResource,
    MLResource,
    ReportsResource,
    WarehouseResource,
    YouTubeApiResource,
)
from orchestration.runlog import LOGGERS
from tunehouse.settings import Settings, load_settings

#: The YouTube key's only source: the environment, resolved by Dagster when a crawl starts.
YOUTUBE_API_KEY_VAR = "YOUTUBE_API_KEY"
#: The run tag naming the warehouse a run used.
WAREHOUSE_TAG = "tunehouse/warehouse"

#: Group (stage of the flow) → owners. The dbt groups (dbt_project/models/_groups.yml) name the same owners.
GROUP_OWNERS: dict[str, list[str]] = {
    "kaggle": ["team:data-engineering"],
    "youtube": ["team:data-engineering"],
    "features": ["team:analytics-engineering"],
    "ml": ["team:ml"],
    "docs": ["team:analytics-engineering"],
}
#: Python assets' groups (dbt assets take theirs from dbt).
KAGGLE_GROUP = "kaggle"
DOCS_GROUP = "docs"
REPORT_PAGE = "ml_report.html"


def build_resources(settings: Settings, youtube_api_key: str | None = None) -> dict[str, object]:
    """Every resource, from `settings`. `youtube_api_key`: a literal key (the local emulator's,
    which is not a secret) instead of `dg.EnvVar("YOUTUBE_API_KEY")`."""
    from orchestration.dbt import dbt_resource

    warehouse = str(settings.warehouse.expanduser().resolve())
    return {
        "warehouse": WarehouseResource(database=warehouse, lock_timeout_s=settings.lock_timeout_s),
        "kaggle": KaggleSourceResource(
            csv_path=str(settings.csv) if settings.csv else None,
            sample_rows=settings.sample_rows,
            sample_seed=settings.sample_seed,
            max_shrink=settings.kaggle_max_shrink,
        ),
        "youtube": YouTubeApiResource(
            api_key=youtube_api_key if youtube_api_key is not None else dg.EnvVar(YOUTUBE_API_KEY_VAR),
            base_url=settings.youtube_base_url,
            daily_budget=settings.crawl_daily_budget,
            concurrency=settings.crawl_concurrency,
            max_not_found_jump=settings.crawl_max_not_found_jump,
        ),
        "ml": MLResource(
            reports_dir=str(settings.reports_dir),
            seed=settings.ml_seed,
            cv_folds=settings.ml_cv_folds,
            optuna_trials=settings.ml_optuna_trials,
            tsne_rows=settings.ml_tsne_rows,
            torch_threads=settings.ml_torch_threads,
            tabpfn_model_path=str(settings.tabpfn_model_path) if settings.tabpfn_model_path else None,
            official_only=settings.ml_official_only,
            children=settings.ml_children,
            lock_timeout_s=settings.lock_timeout_s,
        ),
        "reports": ReportsResource(reports_dir=str(settings.reports_dir), url=settings.reports_url),
        "dbt": dbt_resource(),
        # The engine of the dbt assets (TUNEHOUSE_DBT_TARGET; run config `target` per run)
        # and the landing zone Spark reads (synced before every dbt build).
        "dbt_engine": DbtEngineResource(target=settings.dbt_target),
        "lake": LakeResource(path=str(settings.lake.expanduser().resolve())),
    }


def annotate(spec: dg.AssetSpec, settings: Settings, dbt_docs_urls: dict[dg.AssetKey, str]) -> dg.AssetSpec:
    """`spec` with its group, owners, tags and metadata (see the module docstring)."""
    from orchestration.assets.dbt import DBT_DOCS_KEY
    from orchestration.metadata import raw_table_schemas

    group = spec.group_name
    if spec.key in kaggle.kaggle_tracks.keys:
        group = KAGGLE_GROUP
    elif spec.key == DBT_DOCS_KEY:
        group = DOCS_GROUP
    metadata = dict(spec.metadata)
    schema = raw_table_schemas().get(spec.key)
    if schema is not None:
        metadata["dagster/column_schema"] = schema
    reports = ReportsResource(reports_dir=str(settings.reports_dir), url=settings.reports_url)
    if settings.reports_url and spec.key == ml.REPORT_KEY:
        metadata["report_url"] = dg.MetadataValue.url(reports.url_of(REPORT_PAGE))
    if spec.key in dbt_docs_urls:
        metadata["dbt_docs"] = dg.MetadataValue.url(dbt_docs_urls[spec.key])
    return spec.replace_attributes(
        group_name=group,
        owners=GROUP_OWNERS[group],
        tags={**spec.tags, "layer": spec.key.path[0], "domain": group},
        metadata=metadata,
    )


def _docs_urls(dbt_assets: dg.AssetsDefinition, settings: Settings) -> dict[dg.AssetKey, str]:
    """Asset key → its page in the dbt docs site, when `tunehouse ui` serves the reports folder."""
    if not settings.reports_url:
        return {}
    from orchestration.assets.dbt import DBT_DOCS_PAGE

    base = ReportsResource(reports_dir=str(settings.reports_dir), url=settings.reports_url).url_of(DBT_DOCS_PAGE)
    urls = {}
    for spec in dbt_assets.specs:
        unique_id = spec.metadata.get("dagster_dbt/unique_id")
        if unique_id:
            kind = "seed" if unique_id.startswith("seed.") else "model"
            urls[spec.key] = f"{base}#!/{kind}/{unique_id}"
    return urls


def _tagged(job: dg.UnresolvedAssetJobDefinition, run_tags: dict[str, str]) -> dg.UnresolvedAssetJobDefinition:
    """`job` whose runs also carry `run_tags`."""
    return dg.define_asset_job(
        name=job.name, selection=job.selection, config=job.config, description=job.description,
        tags=job.tags, run_tags={**(job.run_tags or {}), **run_tags}, partitions_def=job.partitions_def,
        executor_def=job.executor_def, hooks=job.hooks, op_retry_policy=job.op_retry_policy,
    )


def build_definitions(settings: Settings, youtube_api_key: str | None = None) -> dg.Definitions:
    """The definitions bound to `settings` (parses the dbt project first when it changed)."""
    from orchestration.assets.dbt import build_dbt_assets, build_dbt_docs_asset
    from orchestration.dbt import ensure_manifest, manifest_for_warehouse

    manifest = ensure_manifest(settings.warehouse)
    with warnings.catch_warnings():  # code references are a beta API: one warning per asset otherwise
        warnings.simplefilter("ignore", dg.BetaWarning)
        dbt_assets = build_dbt_assets(manifest_for_warehouse(manifest, settings.warehouse))
        dbt_docs = build_dbt_docs_asset(dbt_assets)
        docs_urls = _docs_urls(dbt_assets, settings)
        mapping: Callable[[dg.AssetSpec], dg.AssetSpec] = lambda spec: annotate(spec, settings, docs_urls)  # noqa: E731
        python_assets = dg.with_source_code_references(
            [*kaggle.assets, *youtube.assets, dbt_docs, *ml.assets, *hypotheses.assets, *forecasts.assets])
        assets = [a.map_asset_specs(mapping) for a in [*python_assets, dbt_assets]]

    crawl = dg.AssetSelection.assets(*youtube.assets)
    jobs = [
        # The crawl spends API quota and needs YOUTUBE_API_KEY: it runs in its own jobs
        # (youtube_crawl, and youtube_daily on the daily schedule), not in `everything`.
        dg.define_asset_job(
            "everything",
            selection=dg.AssetSelection.all() - crawl,
            description="Ingest the CSV, build every dbt model (over the snapshots crawled so far) and the dbt "
            "docs, train every ML family and build the report. The YouTube crawl runs in youtube_crawl / "
            "youtube_daily.",
        ),
        dg.define_asset_job(
            "ingest_kaggle",
            selection=dg.AssetSelection.assets(*kaggle.assets),
            description="Load the Kaggle CSV (or the built-in sample) into raw.kaggle_tracks.",
        ),
        dg.define_asset_job(
            "dbt_build",
            selection=dg.AssetSelection.assets(dbt_assets, dbt_docs),
            description="dbt build: every model, seed and snapshot, with their tests; then the dbt docs site.",
        ),
        *youtube.jobs,
        *ml.jobs,
        *hypotheses.jobs,
        *forecasts.jobs,
    ]
    warehouse_tag = {WAREHOUSE_TAG: str(settings.warehouse.expanduser().resolve())}
    return dg.Definitions(
        assets=assets,
        asset_checks=[*kaggle_checks.checks, *youtube.checks],
        jobs=[_tagged(job, warehouse_tag) for job in jobs],
        schedules=youtube.schedules,
        sensors=youtube.sensors,
        resources=build_resources(settings, youtube_api_key),
        loggers=LOGGERS,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What `dagster dev -m orchestration.definitions` loads: the definitions of the environment's settings."""
    return build_definitions(load_settings())
