"""ml/hypotheses: the pre-declared hypothesis tests (ml/hypotheses.py), downstream of
marts/track_features; ml/report shows them.

Thin: the tests, their figures and the ml.hypothesis_tests rows are `ml.hypotheses`'
(imported inside the asset body, with statsmodels); this module puts the results into
metadata (a Markdown table, one verdict per hypothesis, the figures inline).
"""

import dagster as dg

from orchestration.metadata import figure_metadata
from orchestration.resources import MLResource, WarehouseResource

TRACK_FEATURES = dg.AssetKey(["marts", "track_features"])
HYPOTHESES_KEY = dg.AssetKey(["ml", "hypotheses"])


@dg.asset(
    key=HYPOTHESES_KEY,
    deps=[TRACK_FEATURES],
    group_name="ml",
    kinds={"statsmodels", "duckdb"},
    description="Pre-declared hypotheses about what goes with more YouTube views per Spotify stream (children's "
    "music, official video, licensed, single, release era, channel size and kind): OLS on ln(1+views) − "
    "ln(1+stream) and each count, standard errors clustered by artist and by track group, Holm and BH across "
    "the set, residual/QQ/Cook's checks; results in ml.hypothesis_tests.",
)
def ml_hypotheses(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  ml: MLResource) -> dg.MaterializeResult:
    from ml.datasets import DatasetError
    from ml.hypotheses import TESTED, markdown_table, run_hypothesis_tests

    try:
        run_id, run, version = run_hypothesis_tests(warehouse.path, ml.reports_dir, ml.lock_timeout_s)
    except DatasetError as exc:
        raise dg.Failure(f"ml/hypotheses: {exc}") from None
    primary = run.primary()
    for r in primary:
        if r.status != TESTED:
            context.log.info(f"{r.hypothesis}: not testable: {r.status_reason}")
    meta: dict[str, dg.MetadataValue] = {
        "run_id": dg.MetadataValue.text(run_id),
        "results": dg.MetadataValue.md(markdown_table(run.rows)),
        "rows": dg.MetadataValue.int(run.rows_total),
        "tested": dg.MetadataValue.int(sum(1 for r in primary if r.status == TESTED)),
        "not_testable": dg.MetadataValue.int(sum(1 for r in primary if r.status != TESTED)),
        "supported": dg.MetadataValue.int(sum(1 for r in primary if r.verdict == "supported")),
        "crawl_id": dg.MetadataValue.text(str(version.get("crawl_id"))),
    }
    for r in primary:
        meta[f"{r.hypothesis}/verdict"] = dg.MetadataValue.text(r.verdict or f"not testable: {r.status_reason}")
        if r.status == TESTED:
            meta[f"{r.hypothesis}/estimate"] = dg.MetadataValue.float(r.estimate)
            meta[f"{r.hypothesis}/p_holm"] = dg.MetadataValue.float(r.p_decision)
    for name, path in sorted(run.figures.items()):
        meta[f"figure/{name}"] = figure_metadata(path)
    return dg.MaterializeResult(metadata=meta)


assets = [ml_hypotheses]
jobs = [dg.define_asset_job("ml_hypotheses", selection=dg.AssetSelection.assets(ml_hypotheses),
                            description="Test the pre-declared hypotheses (ml/hypotheses) into ml.hypothesis_tests.")]
