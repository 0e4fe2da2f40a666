"""A model that does not beat its trivial baseline fails its Dagster asset check and reads "no
detectable difference" on the report page; one that does, passes — through a real Dagster
materialization of the family assets and the report, and the real HTML parsed back.

The warehouse is the built sample with two changes made in SQL, so the outcome is known by
construction rather than by the sample's luck: every feature the honest classifiers may use
is shuffled across rows (pure noise: nothing to learn about the stream-gap label), and the
YouTube counts are exact multiples of the streams (the honest OLS of each count on streams
is then as good as a model gets).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from ml.datasets import AUDIO_FEATURES

pytestmark = [pytest.mark.slow]


def _rig(warehouse) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        frame = con.sql("SELECT * FROM marts.track_features ORDER BY track_id").pl()
        rng = np.random.default_rng(2024)
        shuffled = frame.with_columns([frame[c].gather(rng.permutation(frame.height)).alias(c)
                                       for c in (*AUDIO_FEATURES, "licensed", "is_children")])
        con.register("rigged", shuffled.to_arrow())
        con.execute("CREATE OR REPLACE TABLE marts.track_features AS SELECT * FROM rigged")
        con.unregister("rigged")
        con.execute("""UPDATE marts.track_features SET view_count = 3 * stream, like_count = stream // 100,
                       comment_count = stream // 1000, stream_gap = stream - 3 * stream WHERE stream IS NOT NULL""")
    finally:
        con.close()


def test_no_detectable_difference_fails_the_check_and_says_so_on_the_page(built_warehouse, tmp_path):
    import dagster as dg

    from ml import verdicts
    from orchestration.assets.ml import family_assets, ml_report
    from orchestration.resources import MLResource, WarehouseResource
    from tests.ml._report_html import parse

    _rig(built_warehouse)
    reports = tmp_path / "reports"
    result = dg.materialize(
        [family_assets["regression"], family_assets["classification"], ml_report],
        resources={"warehouse": WarehouseResource(database=str(built_warehouse)),
                   "ml": MLResource(reports_dir=str(reports))},
        run_config={"ops": {
            "ml__classification": {"config": {"only": ["svm"], "protocols": ["honest"]}},
            "ml__regression": {"config": {"only": ["ols"], "protocols": ["honest"]}},
        }},
    )
    assert result.success  # a failed WARN check is a finding, not a failed run

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    svm, ols = checks["svm_beats_baseline"], checks["ols_beats_baseline"]
    assert svm.passed is False and svm.severity == dg.AssetCheckSeverity.WARN
    assert svm.description.startswith("stream_gap_label: no detectable difference")
    assert svm.metadata["stream_gap_label/verdict"].value == verdicts.NO_DIFFERENCE
    assert ols.passed is True
    assert [line.split(":")[0] for line in ols.description.splitlines()] == [
        "ols_comment_count", "ols_like_count", "ols_view_count"]
    assert all(": beats baseline:" in line for line in ols.description.splitlines())
    # Models this materialization did not train have no honest run on record: not passed, and why.
    assert checks["xgboost_beats_baseline"].passed is False
    assert "no honest run of xgboost" in checks["xgboost_beats_baseline"].description

    # The same rule on the page.
    events = {e.asset_key.to_user_string(): e.materialization.metadata
              for e in result.get_asset_materialization_events()}
    report = events["ml/report"]["report"].value
    assert events["ml/report"]["honest_models_beating_baseline"].value == 3  # the three OLS tasks
    page = parse(open(report, encoding="utf-8").read())
    rows = {(r["task"], r["model"].split()[0]): r for r in page.rows("honest")}
    svm_row = rows[("stream_gap_label", "svm")]
    assert svm_row["verdict"].startswith("no detectable difference")
    assert "5 grouped CV folds" in svm_row["verdict"]
    for task in ("ols_comment_count", "ols_like_count", "ols_view_count"):
        assert rows[(task, "ols")]["verdict"].startswith("beats baseline")
    # The baseline is a column beside the model, with the paired difference and its SE.
    assert svm_row["trivial baseline (same rows)"] != "–" and "±" in svm_row["difference ± SE"]
    assert "no detectable difference (svm (stream_gap_label))" in " ".join(page.summary.split())
    assert "3 of 4 compared models detectably beat" in " ".join(page.summary.split())
