"""Every dbt model, seed and snapshot as a Dagster asset; dbt tests as asset checks."""

from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.dbt import TunehouseDbtTranslator, dbt_project, warehouse_vars
from orchestration.resources import WarehouseResource

#: The op (and Dagster step) every dbt asset materializes in.
DBT_OP = "tunehouse_dbt_assets"


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
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        # The warehouse reaches the dbt process as a dbt variable (profiles.yml reads it).
        yield from dbt.cli(["build", *warehouse_vars(warehouse.path)], context=context).stream()

    return tunehouse_dbt_assets
