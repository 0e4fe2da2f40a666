"""Every dbt model, seed and snapshot as a Dagster asset; dbt tests as asset checks; the dbt docs site.

Each materialization of a dbt model carries what a Dagster user expects to see on it:
its row count (`dagster/row_count`: dagster-dbt counts tables; views are counted here,
they are cheap views over the latest load), its column names and types as built
(`dagster/column_schema`, read from the warehouse by dagster-dbt after the run) and, where
dagster-dbt can parse the SQL (sqlglot), column lineage (`dagster/column_lineage`).
Descriptions, owners, groups and tags come from the dbt YAML (`orchestration.dbt`'s translator).

`docs/dbt_docs` runs `dbt docs generate --static` after the models: one self-contained
page, `<reports dir>/dbt_docs/index.html`, that opens from disk, and from the Dagster UI
when `tunehouse ui` serves the reports folder.
"""

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.dbt import (
    TunehouseDbtTranslator,
    dbt_project,
    prune_run_targets,
    stop_dbt_on_interrupt,
    warehouse_vars,
)
from orchestration.resources import DbtEngineResource, LakeResource, ReportsResource, WarehouseResource

#: The op (and Dagster step) every dbt asset materializes in.
DBT_OP = "tunehouse_dbt_assets"
DBT_DOCS_KEY = dg.AssetKey(["docs", "dbt_docs"])
#: Where the docs page goes, under the reports folder.
DBT_DOCS_PAGE = Path("dbt_docs") / "index.html"
ROW_COUNT_KEY = "dagster/row_count"
COLUMN_SCHEMA_KEY = "dagster/column_schema"
_DBT_VARCHAR = re.compile(r"character varying(\(\d+\))?", re.IGNORECASE)


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False
    """Rebuild incremental models from all their history (after a new Kaggle load, or to
    recompute video_growth built by an older version of the model)."""
    target: str | None = None
    """The engine dbt builds on: duckdb or spark [default: the dbt_engine resource's, TUNEHOUSE_DBT_TARGET]."""


def _duckdb_type(data_type: str) -> str:
    """dbt's name of a DuckDB column type as DuckDB names it: dbt reports VARCHAR, which has no
    length in DuckDB, as `character varying(256)`."""
    return "VARCHAR" if _DBT_VARCHAR.fullmatch(data_type) else data_type


def with_table_metadata(events: Iterator, invocation) -> Iterator:
    """`events` with the row count of views added and column types named as DuckDB names them.

    dagster-dbt's `fetch_row_counts()` skips views (their SQL may be costly elsewhere); here
    they select from the latest load, and a user looking at `staging/stg_tracks` expects its
    count too. The count runs through dbt's own adapter (dbt has exited: on DuckDB
    dagster-dbt releases events only then), on the relation dbt just built.
    """
    adapter = invocation.adapter
    nodes = invocation.manifest["nodes"]
    for event in events:
        if not isinstance(event, dg.Output | dg.AssetMaterialization):
            yield event
            continue
        metadata = dict(event.metadata)
        unique_id = metadata.get("unique_id")
        node = nodes.get(unique_id.value) if unique_id is not None else None
        if (ROW_COUNT_KEY not in metadata and adapter is not None and node
                and node["config"].get("materialized") == "view"):
            with adapter.connection_named(f"row_count_{node['unique_id']}"):
                _, table = adapter.execute(f"select count(*) from {node['relation_name']}", fetch=True)
            metadata[ROW_COUNT_KEY] = dg.MetadataValue.int(int(table[0][0]))
        schema = metadata.get(COLUMN_SCHEMA_KEY)
        if schema is not None:
            metadata[COLUMN_SCHEMA_KEY] = dg.MetadataValue.table_schema(dg.TableSchema(columns=[
                dg.TableColumn(name=c.name, type=_duckdb_type(c.type), description=c.description,
                               constraints=c.constraints, tags=c.tags)
                for c in schema.value.columns
            ]))
        yield event.with_metadata(metadata)


def release_duckdb(invocation) -> None:
    """Close the DuckDB database dbt's in-process adapter opened for the metadata above.

    dbt-duckdb keeps its database open for the whole process (`keep_open` defaults to true,
    in one process-wide environment), so the file's lock would be held until the run ends:
    the next step (the dbt docs' own dbt process) or any other process could not open the
    warehouse. dbt-duckdb has no public call that closes it, hence its class attribute.
    """
    if invocation.adapter is None:
        return
    invocation.adapter.cleanup_connections()
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        env, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if env is not None:
        env.close()


def build_dbt_assets(manifest: Path | dict) -> dg.AssetsDefinition:
    """The dbt assets of `manifest` (parse first: `orchestration.dbt.ensure_manifest`; for the
    metadata, its relations named in the warehouse: `orchestration.dbt.manifest_for_warehouse`)."""

    @dbt_assets(
        name=DBT_OP,
        manifest=manifest,
        project=dbt_project,
        dagster_dbt_translator=TunehouseDbtTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=True)
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
        invocation = dbt.cli(args, context=context)
        try:
            if target != "duckdb":
                # Row counts and column types come through dbt's adapter in this process: on
                # Spark that would start a second Spark (JVM) on the same metastore. dbt's own
                # events (one per model and test) are the same on both engines.
                yield from invocation.stream()
                return
            try:
                # An interrupt stops dbt instead of breaking into dagster-dbt's metadata thread pool.
                with stop_dbt_on_interrupt(invocation.process):
                    yield from with_table_metadata(
                        invocation.stream().fetch_row_counts().fetch_column_metadata(), invocation)
            finally:
                release_duckdb(invocation)
        finally:
            prune_run_targets(dbt_project.project_dir / dbt_project.target_path, DBT_OP)

    return tunehouse_dbt_assets


def build_dbt_docs_asset(models: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """`docs/dbt_docs`: the dbt docs site of the models of `models`, after them."""

    @dg.asset(
        key=DBT_DOCS_KEY,
        deps=sorted(models.keys, key=lambda k: k.to_user_string()),
        kinds={"dbt", "html"},
        description="The dbt docs site (`dbt docs generate --static`): every model, column, test, source and "
        "exposure with the lineage graph, as one self-contained page, `<reports dir>/dbt_docs/index.html`.",
    )
    def dbt_docs(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                 reports: ReportsResource) -> dg.MaterializeResult:
        target = Path(tempfile.mkdtemp(prefix="tunehouse-dbt-docs-"))
        try:
            dbt.cli(["docs", "generate", "--static", *warehouse_vars(warehouse.path)], target_path=target).wait()
            from tunehouse import files

            page = files.write_bytes(Path(reports.reports_dir) / DBT_DOCS_PAGE, (target / "static_index.html").read_bytes())
        finally:
            shutil.rmtree(target, ignore_errors=True)
        context.log.info(f"dbt docs: {page}")
        metadata: dict[str, dg.MetadataValue] = {"page": dg.MetadataValue.path(str(page))}
        if reports.url:
            metadata["open"] = dg.MetadataValue.url(reports.url_of(DBT_DOCS_PAGE))
        return dg.MaterializeResult(metadata=metadata)

    return dbt_docs
