"""Shared setup of the YouTube benchmarks: a warehouse with the real dataset's videos."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from bench.common import real_csv
from ingestion.kaggle_csv import ingest_csv
from ingestion.sample import write_sample_csv


def dataset_warehouse(prefix: str) -> tuple[Path, str]:
    """(warehouse path, label): the real CSV (or a 20,718-row sample) ingested and dbt built."""
    from orchestration.dbt import ensure_manifest, run_dbt

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    csv, label = real_csv(), "real Kaggle CSV"
    if csv is None:
        csv, label = write_sample_csv(tmp / "sample.csv", rows=20718), "synthetic 20,718-row sample (real data absent)"
    warehouse = tmp / "tunehouse.duckdb"
    ensure_manifest(warehouse, force=True)
    ingest_csv(csv, warehouse)
    run_dbt(["build"], warehouse)
    return warehouse, label


def dbt_build_timed(args: list[str], warehouse: Path) -> tuple[float, float]:
    """(wall seconds of the dbt process, dbt's own elapsed_time) of one dbt invocation."""
    from orchestration.dbt import dbt_resource, warehouse_vars

    target = Path(tempfile.mkdtemp(prefix="bench-dbt-"))
    started = time.perf_counter()
    dbt_resource().cli([*args, *warehouse_vars(warehouse)], target_path=target).wait()
    wall = time.perf_counter() - started
    elapsed = json.loads((target / "run_results.json").read_text())["elapsed_time"]
    return wall, float(elapsed)
