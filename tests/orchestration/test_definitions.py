"""The Dagster definitions: they load, the asset graph is wired, a real materialization passes,
resources come from one explicit Settings, and CLI runs leave the process environment alone."""

from __future__ import annotations

import os
import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from ml.families import FAMILIES, SUITES
from orchestration.assets import kaggle
from orchestration.definitions import GROUP_OWNERS, WAREHOUSE_TAG, build_definitions
from tunehouse.settings import PROJECT_ROOT, load_settings


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
    # The report also shows the hypothesis tests (ml/hypotheses, downstream of the mart) and the
    # growth forecasts (ml/forecasts).
    assert report.parent_keys == {dg.AssetKey(["ml", name]) for name in FAMILIES} | {
        dg.AssetKey(["ml", "hypotheses"]), dg.AssetKey(["ml", "forecasts"])}
    assert graph.get(dg.AssetKey(["ml", "hypotheses"])).parent_keys == {track_features}
    assert {k.to_user_string() for k in defs.resolve_job_def("ml_hypotheses").asset_layer.selected_asset_keys} == {
        "ml/hypotheses"}
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
    from orchestration.assets.dbt import DBT_OP
    from orchestration.dbt import KEEP_RUN_TARGETS, RUN_TARGET_MIN_AGE_S, dbt_project

    # Run folders of earlier dbt runs, two days old: more than are kept.
    target_root = dbt_project.project_dir / dbt_project.target_path
    old = [target_root / f"{DBT_OP}-0ldrun{i:02d}-{os.getpid()}" for i in range(KEEP_RUN_TARGETS + 2)]
    for path in old:
        path.mkdir(parents=True)
        os.utime(path, (path.stat().st_mtime - 2 * 86400,) * 2)
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
    # The run's own dbt folder is kept (its artifacts, to look into the run); older ones beyond the
    # newest KEEP_RUN_TARGETS are gone.
    runs = [p for p in target_root.glob(f"{DBT_OP}-*") if p.is_dir()]
    assert any(p.name.startswith(f"{DBT_OP}-{result.run_id[:7]}-") for p in runs)
    import time

    stale = [p for p in runs if time.time() - p.stat().st_mtime >= RUN_TARGET_MIN_AGE_S]
    assert len(stale) <= KEEP_RUN_TARGETS and sum(p.exists() for p in old) < len(old)


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
    # dbt_build: every dbt asset, then the dbt docs site (one self-contained page).
    assert set(build.materialized) == {*build.assets_of(DBT_OP), "docs/dbt_docs"} and len(build.materialized) > 5
    page = Path(build.metadata["docs/dbt_docs"]["page"])
    assert page == settings.reports_dir / "dbt_docs" / "index.html" and "dim_tracks" in page.read_text()
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.dim_tracks").fetchone() == (200,)
        relations = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('staging', 'intermediate', 'marts')").fetchall()
        # Every dbt model and seed (views too) has its row count and its columns with their
        # types, as the warehouse has them.
        for schema, table in relations:
            meta = build.metadata[f"{schema}/{table}"]
            (rows,) = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()
            assert meta["dagster/row_count"] == rows, (schema, table)
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()
            assert [(c.name, c.type) for c in meta["dagster/column_schema"].columns] == columns, (schema, table)
    assert "dagster/column_lineage" in build.metadata["marts/dim_tracks"]
    assert not os.path.exists(os.environ["TUNEHOUSE_WAREHOUSE"])
    # Both runs are in the instance of settings.dagster_home (what the UI shows), tagged with the warehouse.
    with open_instance(settings.dagster_home) as instance:
        runs = instance.get_runs()
        assert {r.run_id for r in runs} == {ingest.run_id, build.run_id}
        assert {r.tags.get(WAREHOUSE_TAG) for r in runs} == {str((tmp_path / "w.duckdb").resolve())}
    # dbt's per-model lines went to the log file.
    assert "OK created sql" in log.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    defs = build_definitions(load_settings(warehouse=tmp_path_factory.mktemp("defs") / "w.duckdb"))
    return defs, defs.resolve_asset_graph()


def test_the_graph_reads_left_to_right(graph):
    """Groups are stages of the flow: no group is both before and after another."""
    _defs, graph = graph
    keys = graph.get_all_asset_keys()
    group = {k: graph.get(k).group_name for k in keys}
    assert set(group.values()) == {"kaggle", "youtube", "features", "ml", "docs"}
    edges = {(group[p], group[k]) for k in keys for p in graph.get(k).parent_keys if group[p] != group[k]}
    order = ["kaggle", "youtube", "features", "ml"]
    for before, after in edges:
        assert after == "docs" or order.index(before) < order.index(after), (before, after)
    # The crawl's targets come from the model before it; the crawl feeds the youtube models.
    snapshots = dg.AssetKey(["raw", "youtube_snapshots"])
    assert graph.get(snapshots).parent_keys == {dg.AssetKey(["intermediate", "int_kaggle_videos"])}
    assert group[dg.AssetKey(["intermediate", "int_kaggle_videos"])] == "kaggle"
    # Every ML asset (deep ones included) is keyed ml/... and grouped ml.
    assert {k for k in keys if k.path[0] == "ml"} == {k for k in keys if group[k] == "ml"}


def test_every_asset_has_owners_tags_and_code(graph):
    _defs, graph = graph
    dbt_groups = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "models" / "_groups.yml").read_text())["groups"]
    assert {g["name"]: [g["owner"]["name"]] for g in dbt_groups} == {
        g: o for g, o in GROUP_OWNERS.items() if g in {d["name"] for d in dbt_groups}}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == GROUP_OWNERS[node.group_name], key
        assert node.tags["layer"] == key.path[0] and node.tags["domain"] == node.group_name, key
        references = node.metadata["dagster/code_references"].code_references
        assert references and all(Path(r.file_path).is_file() for r in references), key
        if "dbt" in node.kinds and key.path[0] != "docs":
            # The model's SQL (a seed's CSV) and its YAML.
            assert {Path(r.file_path).suffix for r in references} in ({".sql", ".yml"}, {".csv", ".yml"}), key
        else:
            assert Path(references[0].file_path).suffix == ".py" and references[0].line_number, key


def test_raw_tables_carry_their_column_schema(graph, built_warehouse):
    """The schema shown for each raw table is the table a real ingest creates."""
    _defs, graph = graph
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        for key in [k for k in graph.get_all_asset_keys() if k.path[0] == "raw"]:
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'raw' "
                "AND table_name = ? ORDER BY ordinal_position", [key.path[1]]).fetchall()
            schema = graph.get(key).metadata["dagster/column_schema"]
            assert [(c.name, c.type) for c in schema.columns] == columns and columns, key


def test_jobs_are_the_ones_the_readme_names(graph):
    defs, _graph = graph
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = readme[readme.index("Jobs: "):readme.index("\n\n", readme.index("Jobs: "))]
    named = set(re.findall(r"`([a-z_<>]+)`", paragraph))
    expected = {n for n in named if "<" not in n} | {f"ml_{name}" for name in FAMILIES if "ml_<family>" in named}
    jobs = {j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")}
    assert jobs == expected
    assert {f"ml_{name}" for name in FAMILIES} <= jobs  # one job per ML family, deep ones too


def test_each_warehouse_has_its_own_run_history(tmp_path, monkeypatch):
    from orchestration.runner import open_instance, run_job

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    scratch, demo = (load_settings(warehouse=tmp_path / name, sample_rows=60) for name in ("scratch.duckdb",
                                                                                          "demo.duckdb"))
    assert scratch.dagster_home == tmp_path / "dagster" / "scratch" != demo.dagster_home
    run = run_job("ingest_kaggle", scratch)
    with open_instance(demo.dagster_home) as instance:
        assert instance.get_runs() == []  # the demo warehouse's UI never shows the scratch run
    with open_instance(scratch.dagster_home) as instance:
        [only] = instance.get_runs()
        assert only.run_id == run.run_id and only.tags[WAREHOUSE_TAG] == str(scratch.warehouse.resolve())
