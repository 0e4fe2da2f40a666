"""The classical ML suite (issue #4) on the real 20,718-row data, both protocols.

Target: < 5 minutes wall for the whole suite (clustering, regression, classification,
tuning incl. GridSearchCV and Optuna) on 2 cores; exact TreeSHAP of each tree model on its
full test set < 30 s. Prints per-family (= per Dagster asset) and per-model times, the
SHAP times, CPU time and the machine load (other processes share the cores).
Grids: ml.tuning.GRIDS; Optuna trials: TUNEHOUSE_ML_OPTUNA_TRIALS (default 10) per protocol,
read once here into TrainOptions.
Run: .venv/bin/python -m bench.bench_ml_classical
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path

from bench.common import machine, real_csv


def main() -> None:
    warnings.filterwarnings("ignore")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ml-classical-"))
    from tunehouse.settings import load_settings

    settings = load_settings(reports_dir=tmp / "reports")
    from ingestion.kaggle_csv import ingest_csv
    from ingestion.sample import write_sample_csv
    from ml.families import train
    from ml.options import TrainOptions
    from ml.registry import latest_results
    from ml.report import build_report
    from ml.tuning import GRIDS
    from orchestration.dbt import run_dbt

    csv = real_csv()
    label = "real Kaggle CSV (20,718 rows)"
    if csv is None:
        csv = write_sample_csv(tmp / "sample.csv", rows=20718)
        label = "synthetic sample, 20,718 rows (../shared/data absent)"
    warehouse = tmp / "warehouse.duckdb"
    ingest_csv(csv, warehouse)
    run_dbt(["build"], warehouse)
    options = TrainOptions.from_settings(settings)
    print(f"data: {label}; {machine()}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"grids: {GRIDS}; optuna trials per protocol: {options.optuna_trials}; "
          f"t-SNE rows: {options.tsne_rows}")

    cpu0, wall0 = time.process_time(), time.perf_counter()
    results = train(warehouse, options, only=["classical"], progress=lambda f: print(f"  … {f}", flush=True))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    t_report, _ = _timed(lambda: build_report(warehouse, options.reports_dir))
    print(f"\n| asset | wall s |\n|---|---|")
    for family, res in results.items():
        print(f"| ml/{family} | {res.seconds:.1f} |")
    print(f"| ml/report | {t_report:.1f} |")
    print(f"| **whole suite (both protocols)** | **{wall + t_report:.1f}** |")
    print(f"\nCPU time of this process: {cpu:.0f} s (parallel workers not included); "
          f"load average after: {os.getloadavg()[0]:.2f}")
    print("\n| model / protocol | wall s |\n|---|---|")
    for family, res in results.items():
        for run in res.runs:
            print(f"| {family}: {run.key} | {run.seconds:.1f} |")
    print("\n| SHAP (exact TreeSHAP) | rows | seconds |\n|---|---|---|")
    for res in latest_results(warehouse):
        shap_s = res.metrics.get("model", {}).get("shap_seconds")
        if shap_s is not None:
            rows = int(res.metrics["model"]["shap_rows"])
            print(f"| {res.model} / {res.protocol} | {rows} | {shap_s:.1f} |")
    honest = [r for r in latest_results(warehouse) if r.protocol == "honest" and not r.is_baseline
              and r.primary_metric in ("accuracy", "r2") and r.status == "succeeded"]
    print(f"\nhonest protocol: {sum(1 for r in honest if r.beats_baseline())} of {len(honest)} models beat "
          "their trivial baseline")


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


if __name__ == "__main__":
    main()
