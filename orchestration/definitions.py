"""The one Dagster `Definitions` of tunehouse: `dagster dev -m orchestration.definitions`.

`build_definitions(settings)` creates every resource from one explicit `Settings`; the
Dagster tools load `defs` (lazily, `@dg.definitions`), which builds them from
`load_settings()`, i.e. the environment of the code location's process (`tunehouse ui`
starts `dagster dev` with TUNEHOUSE_WAREHOUSE and DAGSTER_HOME in its env). Importing this
module imports no ML code (no torch, scikit-learn or xgboost) and runs no dbt.
"""

from __future__ import annotations

import dagster as dg

from orchestration.assets import kaggle, ml, youtube
from orchestration.resources import (
    DbtEngineResource,
    KaggleSourceResource,
    LakeResource,
    MLResource,
    WarehouseResource,
    YouTubeApiResource,
)
from orchestration.runlog import LOGGERS
from tunehouse.settings import Settings, load_settings

#: The YouTube key's only source: the environment, resolved by Dagster when a crawl starts.
YOUTUBE_API_KEY_VAR = "YOUTUBE_API_KEY"


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
        "dbt": dbt_resource(),
        # The engine of the dbt assets (TUNEHOUSE_DBT_TARGET; run config `target` per run)
        # and the landing zone Spark reads (synced before every dbt build).
        "dbt_engine": DbtEngineResource(target=settings.dbt_target),
        "lake": LakeResource(path=str(settings.lake.expanduser().resolve())),
    }


def build_definitions(settings: Settings, youtube_api_key: str | None = None) -> dg.Definitions:
    """The definitions bound to `settings` (parses the dbt project first when it changed)."""
    from orchestration.assets.dbt import build_dbt_assets
    from orchestration.dbt import ensure_manifest

    dbt_assets = build_dbt_assets(ensure_manifest(settings.warehouse))
    crawl = dg.AssetSelection.assets(*youtube.assets)
    jobs = [
        # The crawl spends API quota and needs YOUTUBE_API_KEY: it runs in its own jobs
        # (youtube_crawl, and youtube_daily on the daily schedule), not in `everything`.
        dg.define_asset_job(
            "everything",
            selection=dg.AssetSelection.all() - crawl,
            description="Ingest the CSV, build every dbt model (over the snapshots crawled so far), train "
            "every ML family and build the report. The YouTube crawl runs in youtube_crawl / youtube_daily.",
        ),
        dg.define_asset_job(
            "ingest_kaggle",
            selection=dg.AssetSelection.assets(*kaggle.assets),
            description="Load the Kaggle CSV (or the built-in sample) into raw.kaggle_tracks.",
        ),
        dg.define_asset_job(
            "dbt_build",
            selection=dg.AssetSelection.assets(dbt_assets),
            description="dbt build: every model, seed and snapshot, with their tests.",
        ),
        *youtube.jobs,
        *ml.jobs,
    ]
    return dg.Definitions(
        assets=[*kaggle.assets, dbt_assets, *youtube.assets, *ml.assets],
        jobs=jobs,
        schedules=youtube.schedules,
        resources=build_resources(settings, youtube_api_key),
        loggers=LOGGERS,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What `dagster dev -m orchestration.definitions` loads: the definitions of the environment's settings."""
    return build_definitions(load_settings())
