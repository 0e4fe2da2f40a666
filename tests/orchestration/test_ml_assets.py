"""The ML assets in Dagster (in-process materialization) and `tunehouse train | report` as a user runs them."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

pytestmark = [pytest.mark.slow]


def tunehouse(*args):
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], capture_output=True, text=True,
                          timeout=600)


def test_assets_depend_on_track_features_and_report_on_families_tests_and_forecasts(tmp_path):
    from ml.families import FAMILIES
    from orchestration.definitions import build_definitions
    from tunehouse.settings import load_settings

    graph = build_definitions(load_settings(warehouse=tmp_path / "w.duckdb")).resolve_asset_graph()
    for family in FAMILIES:
        node = graph.get(__import__("dagster").AssetKey(["ml", family]))
        assert [k.to_user_string() for k in node.parent_keys] == ["marts/track_features"]
    assert [k.to_user_string() for k in graph.get(__import__("dagster").AssetKey(["ml", "hypotheses"])).parent_keys] \
        == ["marts/track_features"]
    report = graph.get(__import__("dagster").AssetKey(["ml", "report"]))
    # The report has a section per family, the hypothesis tests and the forecasts' evaluation.
    assert {k.to_user_string() for k in report.parent_keys} == \
        {f"ml/{family}" for family in FAMILIES} | {"ml/hypotheses", "ml/forecasts"}


def test_materialize_classification_puts_metrics_and_figures_in_metadata(built_warehouse, tmp_path):
    import dagster as dg

    from orchestration.assets.ml import family_assets, ml_report
    from orchestration.resources import MLResource, WarehouseResource

    result = dg.materialize(
        [family_assets["classification"], ml_report],
        resources={"warehouse": WarehouseResource(database=str(built_warehouse)),
                   "ml": MLResource(reports_dir=str(tmp_path / "reports"))},
        run_config={"ops": {"ml__classification": {"config": {"only": ["xgboost"], "protocols": ["honest"]}}}},
    )
    assert result.success
    events = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    meta = events["ml/classification"]
    # The family's runs as JSON records (ml.results.FamilyResult.to_records), never Markdown.
    runs = {(r["task"], r["model"], r["protocol"]): r for r in meta["runs"].value}
    xgb = runs[("stream_gap_label", "xgboost", "honest")]
    accuracy = xgb["metrics"]["cv_mean/accuracy"]
    assert isinstance(accuracy, float)
    assert {"xgboost_shap", "stream_gap_label_xgboost_confusion"} <= set(xgb["figures"])
    con = duckdb.connect(str(built_warehouse), read_only=True)
    stored = con.execute("""SELECT m.value FROM ml.metrics m JOIN ml.runs r USING (run_id)
                            WHERE r.model = 'xgboost' AND m.metric = 'accuracy' AND m.split = 'cv_mean'""").fetchall()
    assets = con.execute("SELECT DISTINCT asset FROM ml.runs").fetchall()
    con.close()
    assert stored == [(pytest.approx(accuracy),)]
    assert assets == [("ml/classification",)]
    report = events["ml/report"]
    assert report["runs_shown"].value == 2  # xgboost and its majority-class baseline
    assert report["honest_models"].value == 1


def test_cli_train_report_and_errors(built_warehouse):
    proc = tunehouse("train", "--only", "knn_regression", "--protocol", "honest", "--warehouse", str(built_warehouse))
    assert proc.returncode == 0, proc.stderr
    assert "knn_regression" in proc.stdout and "ml_report.html" in proc.stdout.replace("\n", "")
    con = duckdb.connect(str(built_warehouse), read_only=True)
    runs = con.execute("SELECT model, protocol, status FROM ml.runs ORDER BY model").fetchall()
    con.close()
    assert runs == [("knn_regression", "honest", "succeeded"), ("mean_predictor", "honest", "succeeded")]
    again = tunehouse("report", "--warehouse", str(built_warehouse))
    assert again.returncode == 0 and "2 model runs" in again.stdout

    bad = tunehouse("train", "--only", "nosuchmodel", "--warehouse", str(built_warehouse))
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert bad.returncode == 1 and len(lines) == 1 and "unknown family or model 'nosuchmodel'" in lines[0]


def test_cli_help_and_empty_warehouse_error(warehouse_path):
    proc = tunehouse("train", "--help")
    assert proc.returncode == 0 and "--warehouse" in proc.stdout and "--protocol" in proc.stdout
    duckdb.connect(str(warehouse_path)).close()
    proc = tunehouse("train", "--only", "kmeans", "--warehouse", str(warehouse_path))
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1 and "marts.track_features does not exist" in lines[0], proc.stderr
