"""tunehouse train | report: the classical ML suite, run as Dagster jobs so the UI shows the runs."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orchestration.cli.app import UserError, WarehouseOption, app
from orchestration.runner import run_job, use_warehouse

# The deep suite's assets (ml/<name>), trainable by name with --only or all with "deep".
DEEP_MODELS = ("autoencoder_clusters", "vae_clusters", "tabnet", "tab_transformer", "tabpfn")

console = Console()


class ProtocolChoice(str, Enum):
    report = "report"
    honest = "honest"


@app.command()
def train(
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            help="Comma-separated families (clustering, regression, classification, tuning, deep) or models "
            "(e.g. random_forest,knn_regression,xgboost_optuna,tabnet,tab_transformer) (default: everything).",
            show_default=False,
        ),
    ] = None,
    protocol: Annotated[
        list[ProtocolChoice] | None,
        typer.Option("--protocol", help="report and/or honest (repeatable) (default: both).", show_default=False),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default: TUNEHOUSE_ML_SEED).", show_default=False)] = None,
    warehouse: WarehouseOption = None,
) -> None:
    """Train the ML suites on marts.track_features, track them in ml.*, rebuild the HTML report."""
    from ml.suite import SelectionError, resolve_only

    path = use_warehouse(warehouse)
    names = [n.strip() for n in only.split(",") if n.strip()] if only else None
    deep = DEEP_MODELS if names is None or "deep" in names else tuple(n for n in DEEP_MODELS if n in names)
    classical = None if names is None else [n for n in names if n != "deep" and n not in DEEP_MODELS]
    try:
        plan = resolve_only(classical) if classical is None or classical else {}
    except SelectionError as exc:
        raise UserError(f"{exc}, {', '.join(('deep', *DEEP_MODELS))}") from None
    protocols = [p.value for p in (protocol or [ProtocolChoice.report, ProtocolChoice.honest])]
    table = Table(title=f"tunehouse train → {path}")
    for column in ("family", "run", "status"):
        table.add_column(column)
    for family, models in plan.items():
        config = {"protocols": protocols, "only": sorted(models) if models else []}
        if seed is not None:
            config["seed"] = seed
        console.print(f"[cyan]▶ {family}[/cyan]")
        outcome = run_job(f"ml_{family}", {"ops": {f"ml__{family}": {"config": config}}})
        meta = outcome.metadata[f"ml/{family}"]
        console.print(f"  done in {meta['seconds']:.1f}s")
        for line in str(meta["runs"]).splitlines()[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            table.add_row(family, cells[0], cells[1])
    if deep:
        console.print(f"[cyan]▶ deep ({', '.join(deep)})[/cyan]")
        outcome = run_job(
            "train_deep",
            {"ops": {f"ml__{name}": {"config": {"protocols": protocols}} for name in deep}},
            asset_keys=[["ml", name] for name in deep],
        )
        for name in deep:
            meta = outcome.metadata[f"ml/{name}"]
            for line in str(meta["results"]).splitlines()[2:]:
                model, run_protocol, status = (c.strip() for c in line.strip("|").split("|")[:3])
                table.add_row("deep", f"{model} ({run_protocol})", status)
    outcome = run_job("ml_report")
    console.print(table)
    report = outcome.metadata["ml/report"]
    console.print(
        f"honest protocol: {report['honest_models_beating_baseline']} of {report['honest_models']} models beat "
        f"their trivial baseline\nreport: {report['report']}\n"
        'SQL: tunehouse sql "select model, protocol, metric, split, value from ml.metrics join ml.runs using (run_id)"',
        soft_wrap=True,  # paths stay on one line, copy-pasteable
    )


@app.command()
def report(warehouse: WarehouseOption = None) -> None:
    """Rebuild the ML HTML report (reports_dir/ml_report.html) from ml.*."""
    use_warehouse(warehouse)
    outcome = run_job("ml_report")
    meta = outcome.metadata["ml/report"]
    if not meta["runs_shown"]:
        raise UserError("no ML runs in the warehouse yet; run `tunehouse train` first")
    console.print(f"{meta['report']} ({meta['runs_shown']} model runs)", soft_wrap=True)
