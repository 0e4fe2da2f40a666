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
    os.environ["TUNEHOUSE_REPORTS_DIR"] = str(tmp / "reports")
    from tunehouse.settings import get_settings

    get_settings.cache_clear()
    from ml.datasets import load_track_features
    from ml.deep.budget import DeepBudget
    from ml.deep.suite import run_deep_clustering, run_tab_transformer, run_tabnet, run_tabpfn

    csv = real_csv()
    label = "real Kaggle CSV (20,718 rows)"
    if csv is None:
        csv = write_sample_csv(tmp / "sample.csv", rows=20718)
        label = "synthetic sample, 20,718 rows (../shared/data absent)"
    warehouse = tmp / "warehouse.duckdb"
    ingest_csv(csv, warehouse)
    run_dbt(["build"], warehouse)
    data = load_track_features(warehouse)
    budget = DeepBudget()
    from ml.deep.device import configure_torch_threads

    configure_torch_threads()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"data: {label}; {data.frame.height} official-video rows; device {device}; "
          f"torch threads {torch.get_num_threads()}; {machine()}")
    print(f"budget: {budget.model_dump()}")

    stages = [
        ("autoencoder_clusters", lambda: run_deep_clustering(warehouse, data, kind="autoencoder", budget=budget)),
        ("vae_clusters", lambda: run_deep_clustering(warehouse, data, kind="vae", budget=budget)),
        ("tabnet", lambda: run_tabnet(warehouse, data, budget=budget)),
        ("tab_transformer", lambda: run_tab_transformer(warehouse, data, budget=budget)),
        ("tabpfn", lambda: run_tabpfn(warehouse, data, budget=budget)),
    ]
    rows = []
    started = time.perf_counter()
    cpu_started = time.process_time()
    for asset, stage in stages:
        t0, c0 = time.perf_counter(), time.process_time()
        runs = stage()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{asset}: {wall:.1f}s wall, {cpu:.1f}s CPU of this process", flush=True)
        for r in runs:
            rate = "" if math.isnan(r.rows_per_s) else f"{r.rows_per_s:,.0f}"
            status = r.status if r.status != "skipped" else "skipped (no weights)"
            rows.append((asset, r.model, r.protocol, status, f"{r.fit_seconds:.1f}", rate, _headline(r.metrics)))
        rows.append((asset, "**asset total**", "", "", f"{wall:.1f} wall / {cpu:.1f} CPU", "", ""))
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
