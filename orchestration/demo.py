"""`make demo`: the whole pipeline on the built-in sample, stage by stage.

Each stage is a function (warehouse path, console) -> None; later issues append theirs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from orchestration.runner import run_job

Stage = Callable[[Path, Console], None]


def ingest_sample(warehouse: Path, console: Console) -> None:
    outcome = run_job("ingest_kaggle")
    meta = outcome.metadata["raw/kaggle_tracks"]
    console.print(
        f"  {meta['source_file']}: load {meta['load_id']}, {meta['dagster/row_count']} rows, "
        f"{meta['rows_quarantined']} quarantined"
    )


def build_models(warehouse: Path, console: Console) -> None:
    outcome = run_job("dbt_build")
    console.print(f"  {len(outcome.materialized)} dbt assets built, all dbt tests passed")


STAGES: list[tuple[str, Stage]] = [
    ("Ingest the Kaggle sample", ingest_sample),
    ("Build the dbt models", build_models),
]


def run_demo(warehouse: Path, console: Console) -> None:
    started = time.perf_counter()
    console.print(f"[bold]tunehouse demo[/bold] → {warehouse}")
    for title, stage in STAGES:
        t0 = time.perf_counter()
        console.print(f"[bold cyan]▶ {title}[/bold cyan]")
        stage(warehouse, console)
        console.print(f"  done in {time.perf_counter() - t0:.1f}s")
    console.print(
        f"\n[bold green]Demo finished in {time.perf_counter() - started:.0f}s.[/bold green]\n"
        f"  Warehouse: {warehouse}\n"
        '  Query it:  .venv/bin/tunehouse sql "select count(*) from marts.dim_tracks"\n'
        "  Open the UI (asset graph, runs, metadata): make ui   → http://127.0.0.1:3000"
    )
