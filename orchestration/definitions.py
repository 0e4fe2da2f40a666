"""The one Dagster `Definitions` of tunehouse: `dagster dev -m orchestration.definitions`."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.assets import dbt as dbt_assets_module
from orchestration.assets import kaggle
from orchestration.assets import ml_classical
from orchestration.assets import ml_deep
from orchestration.assets import youtube
from orchestration.dbt import dbt_project
from orchestration.resources import WarehouseResource
from tunehouse.settings import get_settings

all_assets = [*kaggle.assets, *dbt_assets_module.assets, *youtube.assets, *ml_classical.assets, *ml_deep.assets]
asset_checks: list = []
schedules: list = [*youtube.schedules]
sensors: list = []

# The crawl spends API quota and needs YOUTUBE_API_KEY: it runs in its own jobs
# (youtube_crawl, and youtube_daily on the daily schedule), not in `everything`.
everything_job = dg.define_asset_job(
    "everything",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*youtube.assets),
    description="Ingest the CSV, build every dbt model (over the snapshots crawled so far), train and "
    "report every model. The YouTube crawl runs in youtube_crawl / youtube_daily.",
)
ingest_job = dg.define_asset_job(
    "ingest_kaggle",
    selection=dg.AssetSelection.assets(*kaggle.assets),
    description="Load the Kaggle CSV (or the built-in sample) into raw.kaggle_tracks.",
)
build_job = dg.define_asset_job(
    "dbt_build",
    selection=dg.AssetSelection.assets(*dbt_assets_module.assets),
    description="dbt build: every model, seed and snapshot, with their tests.",
)
jobs = [everything_job, ingest_job, build_job, *youtube.jobs, *ml_classical.jobs, *ml_deep.jobs]


def build_definitions() -> dg.Definitions:
    """Definitions bound to the current settings (TUNEHOUSE_WAREHOUSE etc.)."""
    return dg.Definitions(
        assets=all_assets,
        asset_checks=asset_checks,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources={
            "warehouse": WarehouseResource(database=str(get_settings().warehouse)),
            "dbt": DbtCliResource(project_dir=dbt_project),
        },
    )


defs = build_definitions()
