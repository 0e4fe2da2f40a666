"""Every dbt model, seed and snapshot as a Dagster asset; dbt tests as asset checks."""

from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.dbt import TunehouseDbtTranslator, dbt_project, warehouse_vars
from orchestration.resources import DbtEngineResource, LakeResource, WarehouseResource

#: The op (and Dagster step) every dbt asset materializes in.
DBT_OP = "tunehouse_dbt_assets"


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False
    """Rebuild incremental models from all their history (after a new Kaggle load, or to
    recompute video_growth built by an older version of the model)."""
    target: str | None = None
    """The engine dbt builds on: duckdb or spark [default: the dbt_engine resource's, TUNEHOUSE_DBT_TARGET]."""


def build_dbt_assets(manifest: Path) -> dg.AssetsDefinition:
    """The dbt assets of `manifest` (parse first: `orchestration.dbt.ensure_manifest`)."""

    @dbt_assets(
        name=DBT_OP,
        manifest=manifest,
        project=dbt_project,
        dagster_dbt_translator=TunehouseDbtTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
    )
    def tunehouse_dbt_assets(
        context: dg.AssetExecutionContext, config: DbtBuildConfig, dbt: DbtCliResource,
        warehouse: WarehouseResource, dbt_engine: DbtEngineResource, lake: LakeResource,
    ):
        from orchestration.engine import target_args, target_vars

        target = config.target or dbt_engine.target
        lake.prepare(context, target, warehouse)
        # The warehouse (and on Spark the lake) reach the dbt process as dbt variables (profiles.yml).
        args = ["build", *(["--full-refresh"] if config.full_refresh else []), *target_args(target),
                *warehouse_vars(warehouse.path, target_vars(target, warehouse.path, lake.path))]
        yield from dbt.cli(args, context=context).stream()

    return tunehouse_dbt_assets
