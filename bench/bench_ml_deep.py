"""The deep suite (issue #5) with its default budgets on the real 20,718-row data.

Target: < 15 minutes wall on 2 CPU cores for every deep model under both protocols.
Reports per-model wall time (fit + scoring + figures + tracking), fit time, and
training throughput (rows x epochs trained per second of fit; TabPFN: context rows).
Run: .venv/bin/python -m bench.bench_ml_deep
"""

from __future__ import annotations

import math
import tempfile
import time
import warnings
from pathlib import Path

import torch

from bench.common import machine, real_csv
from ingestion.kaggle_csv import ingest_csv
from ingestion.sample import write_sample_csv
from orchestration.dbt import run_dbt


def _headline(metrics: dict[str, float]) -> str:
    for key in ("test/r2", "cv_mean/r2", "test/accuracy", "cv_mean/accuracy", "full/silhouette", "cv_mean/silhouette"):
        if key in metrics and metrics[key] is not None and math.isfinite(metrics[key]):
            return f"{key} {metrics[key]:.4f}"
    return ""


def main() -> None:
    import os

    warnings.filterwarnings("ignore")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ml-deep-"))
    from tunehouse.settings import load_settings

    settings = load_settings(reports_dir=tmp / "reports")
    from ml.datasets import load_track_features
    from ml.families import FAMILIES
    from ml.options import TrainOptions

    csv = real_csv()
    label = "real Kaggle CSV (20,718 rows)"
    if csv is None:
        csv = write_sample_csv(tmp / "sample.csv", rows=20718)
        label = "synthetic sample, 20,718 rows (../shared/data absent)"
    warehouse = tmp / "warehouse.duckdb"
    ingest_csv(csv, warehouse)
    run_dbt(["build"], warehouse)
    options = TrainOptions.from_settings(settings)
    data = load_track_features(warehouse, official_only=options.official_only, children=options.children)
    budget = options.deep_budget()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"data: {label}; {data.frame.height} official-video rows; device {device}; "
          f"torch threads {options.torch_threads}; {machine()}")
    print(f"budget: {budget.model_dump()}")

    rows = []
    started = time.perf_counter()
    cpu_started = time.process_time()
    for family in (f for f in FAMILIES.values() if f.suite == "deep"):
        t0, c0 = time.perf_counter(), time.process_time()
        result = family.load()(warehouse, data, options)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{family.name}: {wall:.1f}s wall, {cpu:.1f}s CPU of this process", flush=True)
        for r in result.runs:
            rate = "" if not r.train_rows_per_s else f"{r.train_rows_per_s:,.0f}"
            status = r.status if r.status != "skipped" else "skipped (no weights)"
            fit = "" if r.fit_seconds is None else f"{r.fit_seconds:.1f}"
            rows.append((family.name, r.model, r.protocol, status, fit, rate, _headline(r.metrics)))
        rows.append((family.name, "**asset total**", "", "", f"{wall:.1f} wall / {cpu:.1f} CPU", "", ""))
    total = time.perf_counter() - started
    total_cpu = time.process_time() - cpu_started
    print("\n| asset | model | protocol | status | fit s (asset: wall / CPU s) | train rows/s | headline |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    load = os.getloadavg()
    print(f"\nload average at the end (1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
          "(above 2 means other processes shared the 2 cores)")
    # With one torch thread the suite is mostly single-threaded, so its CPU time is close
    # to the wall time it would take on an otherwise idle 2-core machine.
    print(f"CPU time of the benchmark process: {total_cpu:.0f} s ({total_cpu / 60:.1f} min)")
    print(f"\nTotal wall (all deep assets, both protocols): {total:.0f} s "
          f"({total / 60:.1f} min; target < 15 min) -> {'PASS' if total < 900 else 'FAIL'}")


if __name__ == "__main__":
    main()
