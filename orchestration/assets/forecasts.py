"""ml/forecasts: growth forecasts of every crawled video, downstream of the growth marts.

Thin: the work is `ml.forecasting.run_forecasts` (imported inside the asset body, so loading
the definitions imports no scikit-learn). It evaluates the model and both baselines on a
rolling origin over the crawl days (grouped by track group), records one run per method in
ml.runs/ml.metrics, writes ml.forecasts, and puts the evaluation figures into metadata.
Without crawl history the runs are recorded as skipped with the reason (a Kaggle-only
warehouse still materializes everything else, and the report still builds).
"""

import math

import dagster as dg

from orchestration.resources import MLResource, WarehouseResource

FORECASTS_KEY = dg.AssetKey(["ml", "forecasts"])
DEPS = [dg.AssetKey(["marts", "video_growth"]), dg.AssetKey(["marts", "track_features"])]


@dg.asset(
    key=FORECASTS_KEY,
    deps=DEPS,
    group_name="ml",
    kinds={"scikit-learn", "duckdb"},
    description="Views of every crawled video 1, 3 and 7 days ahead (those the history can test) with 80 % "
    "intervals: gradient boosting vs the last daily rate carried forward and a log-linear decay of the rate with "
    "age, evaluated on a rolling origin over crawl days, grouped by track group (ml.forecasting). Table ml.forecasts.",
)
def ml_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource, ml: MLResource) -> dg.MaterializeResult:
    from ml.forecasting import BASELINES, MODEL, ForecastDataError, run_forecasts

    try:
        result = run_forecasts(warehouse.path, ml.reports_dir, seed=ml.seed, lock_timeout_s=ml.lock_timeout_s)
    except ForecastDataError as exc:
        raise dg.Failure(str(exc)) from None
    meta: dict[str, dg.MetadataValue] = {
        "status": dg.MetadataValue.text(result.status if not result.reason else f"{result.status}: {result.reason}"),
        "forecasts": dg.MetadataValue.int(result.forecasts),
        "horizons": dg.MetadataValue.json(result.horizons),
        "channel_features": dg.MetadataValue.text(result.channel_reason),
        **{f"run_id/{m}": dg.MetadataValue.text(r) for m, r in result.run_ids.items()},
    }
    if result.reason:
        context.log.warning(f"ml/forecasts skipped: {result.reason}")
    ev = result.evaluation
    if ev is not None:
        meta["folds"] = dg.MetadataValue.int(len(ev.folds))
        lines = ["| horizon | method | median abs log error [95 % CI] | Spearman gained | coverage |", "|---|---|---|---|---|"]
        for h, fig in ev.figures.items():
            for method, values in ((m, fig[m]) for m in (MODEL, *BASELINES)):
                for metric, (v, lo, hi) in values.items():
                    if math.isfinite(v):
                        meta[f"h{h}/{method}/{metric}"] = dg.MetadataValue.float(float(v))
                mdae, rho, cov = values["mdae"], values["spearman_gain"], values["coverage"]
                lines.append(f"| {h} d | {method} | {mdae[0]:.4f} [{mdae[1]:.4f}, {mdae[2]:.4f}] | {rho[0]:.3f} | "
                             f"{cov[0]:.1%} (nominal {ev.nominal:.0%}) |")
            for base in BASELINES:
                v, lo, hi = fig[f"{MODEL}-{base}"]["mdae"]
                if math.isfinite(v):
                    meta[f"h{h}/{MODEL}_minus_{base}/mdae"] = dg.MetadataValue.float(float(v))
                lines.append(f"| {h} d | {MODEL} − {base} | {v:+.4f} [{lo:+.4f}, {hi:+.4f}] | | |")
        meta["evaluation"] = dg.MetadataValue.md("\n".join(lines))
    if result.figure is not None:
        from orchestration.metadata import figure_metadata

        meta["figure/forecast_accuracy"] = figure_metadata(result.figure)
    context.log.info(f"ml/forecasts: {result.status}, {result.forecasts} forecasts")
    return dg.MaterializeResult(metadata=meta)


assets = [ml_forecasts]
forecast_job = dg.define_asset_job(
    "ml_forecasts", selection=dg.AssetSelection.assets(ml_forecasts),
    description="Evaluate the growth forecasts and forecast every crawled video (ml/forecasts).",
)
jobs = [forecast_job]
