"""tunehouse ingest | build | sql | ui | demo."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orchestration.cli.app import UserError, WarehouseOption, app
from orchestration.runner import dagster_home, run_job, use_warehouse
from warehouse import read_connection
from tunehouse.settings import PROJECT_ROOT

console = Console()


@app.command()
def ingest(
    csv_path: Annotated[
        Path | None,
        typer.Argument(
            metavar="[PATH]",
            help="Kaggle 'Spotify and Youtube' CSV (default: TUNEHOUSE_CSV, else the built-in sample).",
            show_default=False,
        ),
    ] = None,
    warehouse: WarehouseOption = None,
) -> None:
    """Load a Kaggle CSV into raw.kaggle_tracks (bad rows go to raw.kaggle_quarantine)."""
    path = use_warehouse(warehouse)
    config = {"csv_path": str(csv_path.expanduser().resolve())} if csv_path else {}
    outcome = run_job("ingest_kaggle", {"ops": {"ingest_kaggle_csv": {"config": config}}})
    meta = outcome.metadata["raw/kaggle_tracks"]
    verb = "already loaded as" if meta["already_loaded"] else "loaded as"
    console.print(
        f"{meta['source_file']} {verb} load {meta['load_id']}: "
        f"{meta['dagster/row_count']} rows, {meta['rows_quarantined']} quarantined → {path}"
    )
    if meta["rows_quarantined"]:
        console.print("  see: tunehouse sql \"select line, field, reason from raw.kaggle_quarantine\"")


@app.command()
def build(warehouse: WarehouseOption = None) -> None:
    """dbt build: every staging and mart model, seeds, snapshots and their tests."""
    path = use_warehouse(warehouse)
    outcome = run_job("dbt_build")
    console.print(f"built {len(outcome.materialized)} dbt assets in {path}")


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run (read-only).")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    limit: Annotated[int, typer.Option(help="Rows shown in table format (0 = all).")] = 100,
    warehouse: WarehouseOption = None,
) -> None:
    """Run a read-only SQL query against the warehouse and print the result."""
    import duckdb

    path = use_warehouse(warehouse)
    with read_connection(path) as con:
        try:
            cursor = con.execute(query)
        except duckdb.Error as exc:
            raise UserError(f"SQL error: {str(exc).splitlines()[0]}") from None
        if cursor.description is None:
            return
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    if output is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    elif output is OutputFormat.json:
        print(json.dumps([dict(zip(columns, r)) for r in rows], default=str, ensure_ascii=False, indent=1))
    else:
        table = Table(*columns, show_lines=False)
        shown = rows if limit == 0 else rows[:limit]
        for r in shown:
            table.add_row(*("NULL" if v is None else str(v) for v in r))
        console.print(table)
        if len(shown) < len(rows):
            console.print(f"({len(rows)} rows, {len(shown)} shown; --limit 0 shows all)")
        else:
            console.print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    host: Annotated[str, typer.Option(help="Host to bind.")] = "127.0.0.1",
    warehouse: WarehouseOption = None,
) -> None:
    """Open the Dagster UI (webserver + daemon for schedules) on the tunehouse definitions."""
    use_warehouse(warehouse)
    dagster_home()
    dagster = Path(sys.executable).parent / "dagster"
    cmd = [str(dagster), "dev", "-m", "orchestration.definitions", "-h", host, "-p", str(port)]
    console.print(f"Dagster UI on http://{host}:{port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    raise typer.Exit(subprocess.call(cmd, cwd=PROJECT_ROOT))


@app.command()
def demo(warehouse: WarehouseOption = None) -> None:
    """Run the whole pipeline on the built-in sample: ingest, build, and every later stage."""
    from orchestration.demo import run_demo

    run_demo(use_warehouse(warehouse), console)
