"""Every dbt model, seed and snapshot as a Dagster asset; dbt tests as asset checks."""


import os

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.dbt import TunehouseDbtTranslator, dbt_project, ensure_manifest
from orchestration.resources import WarehouseResource

ensure_manifest()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=TunehouseDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    ),
)
def tunehouse_dbt_assets(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    # profiles.yml reads the warehouse path from the environment of the dbt process.
    os.environ["TUNEHOUSE_WAREHOUSE"] = str(warehouse.path.resolve())
    yield from dbt.cli(["build"], context=context).stream()


assets = [tunehouse_dbt_assets]
