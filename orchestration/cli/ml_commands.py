"""tunehouse train | report: the ML families, run as Dagster jobs so the UI shows the runs.

The families, their models and suites come from `ml.families.FAMILIES`; results come back
as data (the family asset's `runs` metadata: `FamilyResult.to_records()`).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from ml.families import FAMILIES, SUITES
from ml.protocol import Protocol
from orchestration.cli.app import VerboseOption, WarehouseOption, app, command_settings

ProtocolChoice = Enum("ProtocolChoice", {p.value: p.value for p in Protocol}, type=str)

_ONLY_HELP = (
    "Comma-separated suites (" + ", ".join(SUITES) + "), families (" + ", ".join(FAMILIES) + ") or models "
    "(e.g. random_forest, knn_regression, xgboost_optuna, tabnet_regressor) (default: everything)."
)


def wide_console():
    """A rich Console; when stdout is not a terminal (a pipe, a file), tables are not squeezed to 80 columns."""
    import sys

    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def headline(record: dict) -> str:
    """The run's headline metric ('accuracy 0.71'), from its JSON record."""
    for metric in ("accuracy", "r2", "silhouette"):
        for split in ("test", "cv_mean", "full"):
            value = record.get("metrics", {}).get(f"{split}/{metric}")
            if value is not None:
                return f"{metric} {value:.3f}"
    return ""


@app.command()
def train(
    only: Annotated[str | None, typer.Option("--only", help=_ONLY_HELP, show_default=False)] = None,
    protocol: Annotated[
        list[ProtocolChoice] | None,
        typer.Option("--protocol", help=" and/or ".join(p.value for p in Protocol) + " (repeatable) (default: both).",
                     show_default=False),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default: TUNEHOUSE_ML_SEED).", show_default=False)] = None,
    warehouse: WarehouseOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Train the ML families on marts.track_features, track them in ml.*, rebuild the HTML report."""
    import time

    from rich.table import Table

    from ml.families import resolve_only
    from orchestration.runlog import new_log_path
    from orchestration.runner import run_job

    plan = resolve_only(only.split(",") if only else None)  # SelectionError: one line, lists what is known
    settings = command_settings(warehouse)
    protocols = [p.value for p in protocol] if protocol else [p.value for p in Protocol]
    log = new_log_path(settings.warehouse, "train")
    console = wide_console()
    table = Table(title=f"tunehouse train → {settings.warehouse}")
    for column in ("family", "task", "model", "protocol", "status", "headline", "s"):
        table.add_column(column, overflow="fold")
    for name, models in plan.items():
        family = FAMILIES[name]
        config: dict = {"protocols": protocols, "only": sorted(models) if models else []}
        if seed is not None:
            config["seed"] = seed
        console.print(f"[cyan]▶ {name}[/cyan] ({family.suite})")
        started = time.perf_counter()
        outcome = run_job(family.job, settings, {"ops": {f"ml__{name}": {"config": config}}},
                          log_file=log, verbose=verbose)
        records = outcome.metadata[f"ml/{name}"]["runs"]
        runs = f"{len(records)} run" + ("" if len(records) == 1 else "s")
        console.print(f"  {runs} in {time.perf_counter() - started:.1f}s")
        for r in records:
            status = r["status"] if not r["reason"] else f"{r['status']}: {r['reason']}"
            table.add_row(name, r["task"] or "", r["model"], r["protocol"], status, headline(r), f"{r['seconds']:.1f}")
    outcome = run_job("ml_report", settings, log_file=log, verbose=verbose)
    console.print(table)
    report = outcome.metadata["ml/report"]
    console.print(
        f"honest protocol: {report['honest_models_beating_baseline']} of {report['honest_models']} models beat "
        f"their trivial baseline\nreport: {report['report']}\nlog: {log}\n"
        'SQL: tunehouse sql "select model, protocol, metric, split, value from ml.metrics join ml.runs using (run_id)"',
        soft_wrap=True,  # paths stay on one line, copy-pasteable
    )


@app.command()
def report(warehouse: WarehouseOption = None, verbose: VerboseOption = False) -> None:
    """Rebuild the ML HTML report (ml_report.html in the reports folder) from ml.*; a failure keeps the old one."""
    from orchestration.runlog import new_log_path
    from orchestration.runner import run_job

    settings = command_settings(warehouse)
    # A warehouse without runs fails inside the job (JobFailed: one line, exit 1) before the
    # report file or the warehouse is touched.
    outcome = run_job("ml_report", settings, log_file=new_log_path(settings.warehouse, "report"), verbose=verbose)
    meta = outcome.metadata["ml/report"]
    typer.echo(f"{meta['report']} ({meta['runs_shown']} model runs)")
