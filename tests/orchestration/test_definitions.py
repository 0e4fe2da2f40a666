"""The Dagster definitions: they load, the asset graph is wired, a real materialization passes,
resources come from one explicit Settings, and CLI runs leave the process environment alone."""

from __future__ import annotations

import os

import dagster as dg
import duckdb

from ml.families import FAMILIES, SUITES
from orchestration.assets import kaggle
from orchestration.definitions import build_definitions
from tunehouse.settings import load_settings


def test_definitions_load_with_the_foundation_graph(tmp_path):
    defs = build_definitions(load_settings(warehouse=tmp_path / "w.duckdb"))
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
    for job in ("everything", "ingest_kaggle", "dbt_build", "ml_report"):
        assert defs.resolve_job_def(job) is not None
    everything = {k.to_user_string() for k in defs.resolve_job_def("everything").asset_layer.selected_asset_keys}
    assert "raw/youtube_snapshots" not in everything and "ml/report" in everything


def test_ml_assets_and_jobs_come_from_the_family_registry(tmp_path):
    defs = build_definitions(load_settings(warehouse=tmp_path / "w.duckdb"))
    graph = defs.resolve_asset_graph()
    track_features = dg.AssetKey(["marts", "track_features"])
    for name, family in FAMILIES.items():
        node = graph.get(dg.AssetKey(["ml", name]))
        assert node.parent_keys == {track_features}, name
        assert node.group_name == "ml"
        kinds = {k.removeprefix("dagster/kind/") for k in node.tags if k.startswith("dagster/kind/")}
        assert kinds == set(family.kinds)
        assert node.description == family.description
        job = defs.resolve_job_def(f"ml_{name}")
        assert set(job.asset_layer.selected_asset_keys) == {node.key}
    report = graph.get(dg.AssetKey(["ml", "report"]))
    assert report.parent_keys == {dg.AssetKey(["ml", name]) for name in FAMILIES}
    for suite in SUITES:
        selected = {k.to_user_string() for k in defs.resolve_job_def(f"ml_{suite}").asset_layer.selected_asset_keys}
        assert selected == {f"ml/{n}" for n, f in FAMILIES.items() if f.suite == suite} | {"ml/report"}


def test_every_resource_is_built_from_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("YOUTUBE_API_KEY", "tunehouse-test-key-not-in-config")
    settings = load_settings(
        warehouse=tmp_path / "w.duckdb", lock_timeout_s=7, csv=tmp_path / "some.csv", sample_rows=123,
        youtube_base_url="http://127.0.0.1:1/youtube/v3", crawl_daily_budget=99, crawl_concurrency=3,
        reports_dir=tmp_path / "reports", ml_seed=5, ml_cv_folds=3, ml_optuna_trials=2, ml_children="exclude",
    )
    resources = build_definitions(settings).resources
    warehouse = resources["warehouse"]
    assert (warehouse.path, warehouse.lock_timeout_s) == ((tmp_path / "w.duckdb").resolve(), 7)
    assert (resources["kaggle"].csv_path, resources["kaggle"].sample_rows) == (str(tmp_path / "some.csv"), 123)
    youtube = resources["youtube"]
    assert (youtube.base_url, youtube.daily_budget, youtube.concurrency) == ("http://127.0.0.1:1/youtube/v3", 99, 3)
    # The key is a reference to the environment variable, resolved only when a crawl starts.
    assert isinstance(youtube.api_key, dg.EnvVar) and youtube.api_key.env_var_name == "YOUTUBE_API_KEY"
    options = resources["ml"].train_options(protocols=("honest",))
    assert (options.reports_dir, options.seed, options.cv_folds, options.optuna_trials, options.children) == (
        tmp_path / "reports", 5, 3, 2, "exclude")
    assert [p.value for p in options.protocols] == ["honest"]
    assert resources["dbt"].dbt_executable.endswith("/dbt") and os.path.isabs(resources["dbt"].dbt_executable)


def test_ingest_and_dbt_materialize_in_process_with_passing_checks(warehouse_path):
    defs = build_definitions(load_settings(warehouse=warehouse_path))
    selection = dg.AssetSelection.assets(*kaggle.assets) | dg.AssetSelection.kind("dbt")
    job = dg.define_asset_job("foundation", selection=selection).resolve(asset_graph=defs.resolve_asset_graph())
    result = job.execute_in_process(
        run_config={"ops": {"ingest_kaggle_csv": {"config": {"sample_rows": 400}}}},
        instance=dg.DagsterInstance.ephemeral(),
        resources=dict(defs.resources),
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


def test_run_job_uses_the_settings_it_is_given_and_leaves_the_environment_alone(tmp_path):
    from orchestration.assets.dbt import DBT_OP
    from orchestration.runner import open_instance, run_job

    # The environment points elsewhere (conftest): only the explicit settings may count.
    settings = load_settings(warehouse=tmp_path / "w.duckdb", dagster_home=tmp_path / "dagster", sample_rows=200)
    env_before = dict(os.environ)
    log = tmp_path / "logs" / "run.log"
    ingest = run_job("ingest_kaggle", settings, log_file=log)
    build = run_job("dbt_build", settings, log_file=log)
    assert dict(os.environ) == env_before
    assert ingest.metadata["raw/kaggle_tracks"]["dagster/row_count"] == 200
    assert len(build.assets_of(DBT_OP)) == len(build.materialized) > 5
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.dim_tracks").fetchone() == (200,)
    assert not os.path.exists(os.environ["TUNEHOUSE_WAREHOUSE"])
    # Both runs are in the instance of settings.dagster_home (what the UI shows).
    with open_instance(settings.dagster_home) as instance:
        assert {r.run_id for r in instance.get_runs()} == {ingest.run_id, build.run_id}
    # dbt's per-model lines went to the log file.
    assert "OK created sql" in log.read_text(encoding="utf-8")
