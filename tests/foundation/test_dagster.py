"""The Dagster definitions: they load, the asset graph is wired, a real materialization passes."""

from __future__ import annotations

import dagster as dg
import duckdb

from orchestration.assets import dbt as dbt_module
from orchestration.assets import kaggle
from orchestration.definitions import build_definitions


def test_definitions_load_with_the_foundation_graph():
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw/kaggle_tracks", "raw/kaggle_loads", "staging/stg_tracks", "marts/dim_tracks",
            "marts/track_features", "staging/children_music_acts"} <= keys
    # The dbt source maps to the ingestion asset: CSV → staging → marts is one lineage.
    assert dg.AssetKey(["raw", "kaggle_tracks"]) in graph.get(dg.AssetKey(["staging", "stg_tracks"])).parent_keys
    assert dg.AssetKey(["staging", "stg_tracks"]) in graph.get(dg.AssetKey(["marts", "dim_tracks"])).parent_keys
    # dbt tests are asset checks.
    checks = {c.name for c in graph.asset_check_keys if c.asset_key == dg.AssetKey(["marts", "dim_tracks"])}
    assert {"unique_dim_tracks_track_id", "not_null_dim_tracks_is_children"} <= checks
    for job in ("everything", "ingest_kaggle", "dbt_build"):
        assert defs.resolve_job_def(job) is not None


def test_ingest_and_dbt_materialize_in_process_with_passing_checks(warehouse_path):
    defs = build_definitions()
    selection = dg.AssetSelection.assets(*kaggle.assets, *dbt_module.assets)
    job = dg.define_asset_job("foundation", selection=selection).resolve(asset_graph=defs.resolve_asset_graph())
    result = job.execute_in_process(
        run_config={"ops": {"ingest_kaggle_csv": {"config": {"sample_rows": 400}}}},
        instance=dg.DagsterInstance.ephemeral(),
        resources={k: v for k, v in defs.resources.items()},
    )
    assert result.success
    materialized = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    assert {"raw/kaggle_tracks", "marts/dim_tracks", "marts/track_features"} <= set(materialized)
    meta = materialized["raw/kaggle_tracks"].materialization.metadata
    assert meta["dagster/row_count"].value == 400 and meta["rows_quarantined"].value == 0
    assert "| track_id |" in meta["preview"].value
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) >= 15 and all(e.passed for e in evaluations)
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.dim_tracks").fetchone() == (400,)
