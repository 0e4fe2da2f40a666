"""tunehouse ingest | build | sql | ui | demo."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from orchestration.cli.app import UserError, VerboseOption, WarehouseOption, app, command_settings


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
    allow_shrink: Annotated[
        bool,
        typer.Option(
            "--allow-shrink",
            help="Publish the load even if it has far fewer rows than the current one "
            "(more than TUNEHOUSE_KAGGLE_MAX_SHRINK fewer, default 10 %, is otherwise rejected as probably truncated).",
        ),
    ] = False,
    warehouse: WarehouseOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Load a Kaggle CSV: write it, audit it (bad rows to raw.kaggle_quarantine, dbt's tests), publish it.

    A load that fails its audit is kept as rejected (raw.kaggle_loads.status_reason says
    why), the current load stays current, and the command fails with one line.
    """
    import os

    from orchestration.runlog import new_log_path
    from orchestration.runner import run_job

    settings = command_settings(warehouse)
    log = new_log_path(settings.warehouse, "ingest")
    config: dict[str, object] = {"allow_shrink": allow_shrink}
    if csv_path:  # absolute, symbolic links left alone (resolving a link loop raises; the asset says what it is)
        config["csv_path"] = os.path.abspath(csv_path.expanduser())
    outcome = run_job("ingest_kaggle", settings, {"ops": {"ingest_kaggle_csv": {"config": config}}},
                      log_file=log, verbose=verbose)
    meta = outcome.metadata["raw/kaggle_tracks"]
    verb = "already loaded as" if meta["already_loaded"] else "loaded as"
    typer.echo(
        f"{meta['source_file']} {verb} load {meta['load_id']}: "
        f"{meta['dagster/row_count']} rows, {meta['rows_quarantined']} quarantined; "
        f"{'audited, published and ' if not meta['already_loaded'] else ''}now the current load → {settings.warehouse}"
    )
    if meta["rows_quarantined"]:
        typer.echo(f"  see: tunehouse sql \"select line, field, reason from raw.kaggle_quarantine "
                   f"where load_id = {meta['load_id']}\"")
    typer.echo(f"  log: {log}")


class DbtTarget(str, Enum):
    """The dbt targets (orchestration.engine.TARGETS)."""

    duckdb = "duckdb"
    spark = "spark"


@app.command()
def build(
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild incremental models (video_growth, …) from all history.")
    ] = False,
    target: Annotated[
        DbtTarget | None,
        typer.Option("--target", help="Engine: duckdb (the warehouse) or spark (local Spark over the lake) "
                     "(default: TUNEHOUSE_DBT_TARGET, else duckdb).", show_default=False),
    ] = None,
    warehouse: WarehouseOption = None,
    verbose: VerboseOption = False,
) -> None:
    """dbt build: every staging, intermediate and mart model, seeds and their tests."""
    import time

    from orchestration.assets.dbt import DBT_OP
    from orchestration.runlog import new_log_path
    from orchestration.runner import run_job

    settings = command_settings(warehouse)
    log = new_log_path(settings.warehouse, "build")
    started = time.perf_counter()
    op_config: dict[str, object] = {"full_refresh": True} if full_refresh else {}
    if target is not None:
        op_config["target"] = target.value
    config = {"ops": {DBT_OP: {"config": op_config}}} if op_config else None
    outcome = run_job("dbt_build", settings, config, log_file=log, verbose=verbose)
    typer.echo(
        f"built {len(outcome.assets_of(DBT_OP))} dbt assets in {settings.warehouse} "
        f"({time.perf_counter() - started:.1f}s)\n  log: {log}"
    )


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


#: Appended to an error of a sandboxed `tunehouse sql` that tried to leave the warehouse.
SANDBOX_HINT = "tunehouse sql reads the warehouse only: no files, ATTACH, extensions or SET (see README)"


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run (read-only, sandboxed to the warehouse).")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    limit: Annotated[int, typer.Option(min=0, help="Rows shown in table format (0 = all).")] = 100,
    warehouse: WarehouseOption = None,
) -> None:
    """Run a read-only SQL query against the warehouse and print the result.

    The connection is read-only and sandboxed: it reads the warehouse's tables and nothing
    else (no other file, ATTACH, extension or SET). A table too wide for the terminal is
    printed one record per row.
    """
    import duckdb

    from warehouse import read_connection

    settings = command_settings(warehouse)
    with read_connection(settings.warehouse, timeout_s=settings.lock_timeout_s, sandbox=True) as con:
        try:
            cursor = con.execute(query)
            if cursor.description is None:
                return
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
            sandboxed = isinstance(exc, duckdb.PermissionException) or "configuration has been locked" in message
            raise UserError(f"SQL error: {message}" + (f" — {SANDBOX_HINT}" if sandboxed else "")) from None
    _print_rows(columns, rows, output, limit)


@app.command()
def analysis(
    name: Annotated[str | None, typer.Argument(help="Analysis to run (omit to list them).", show_default=False)] = None,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    limit: Annotated[int, typer.Option(help="Rows shown in table format (0 = all).")] = 100,
    show_sql: Annotated[bool, typer.Option("--show-sql", help="Print the SQL instead of running it.")] = False,
    warehouse: WarehouseOption = None,
) -> None:
    """Run one of the example queries of dbt_project/analyses/ (read-only), or list them."""
    from orchestration.analyses import AnalysisError, analysis_sql, analysis_title, list_analyses
    from tunehouse.settings import DBT_PROJECT_DIR

    # dagster-dbt's default target path; `tunehouse build` (or any dbt parse) writes it.
    MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"  # noqa: N806

    try:
        if name is None:
            for known in list_analyses():
                typer.echo(f"{known:28s} {analysis_title(known, MANIFEST_PATH)}")
            return
        query = analysis_sql(name, MANIFEST_PATH)
    except AnalysisError as exc:
        raise UserError(str(exc)) from None
    if show_sql:
        typer.echo(query, nl=False)
        return
    sql(query, output=output, limit=limit, warehouse=warehouse)


def _print_rows(columns: list[str], rows: list[tuple], output: OutputFormat, limit: int) -> None:
    import sys

    if output is OutputFormat.csv:
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    elif output is OutputFormat.json:
        import json

        print(json.dumps([dict(zip(columns, r)) for r in rows], default=str, ensure_ascii=False, indent=1))
    else:
        from rich.console import Console

        from orchestration.cli.sql_output import print_table

        print_table(Console(), columns, rows, limit)


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    host: Annotated[str, typer.Option(help="Host to bind.")] = "127.0.0.1",
    warehouse: WarehouseOption = None,
) -> None:
    """Open the Dagster UI (webserver + daemon for schedules) on the tunehouse definitions."""
    import signal
    import subprocess
    import sys

    from orchestration.childguard import guarded
    from orchestration.runner import prepare_home, ui_env
    from tunehouse.settings import PROJECT_ROOT

    settings = command_settings(warehouse)
    home = prepare_home(settings.dagster_home)
    dagster = Path(sys.executable).parent / "dagster"
    cmd = [str(dagster), "dev", "-m", "orchestration.definitions", "-h", host, "-p", str(port)]
    # The HTML report and the dbt docs open from the UI's links only over HTTP (orchestration.reports_server).
    from orchestration.reports_server import ReportsServer

    reports = ReportsServer(settings.reports_dir, host="127.0.0.1").start()
    env = {**ui_env(settings), "TUNEHOUSE_REPORTS_URL": reports.url}
    typer.echo(f"Dagster UI on http://{host}:{port} (warehouse {settings.warehouse}, DAGSTER_HOME={home}; "
               f"reports and dbt docs on {reports.url})")
    # dagster dev gets SIGTERM if this process dies (even by SIGKILL), so it can stop its own
    # webserver, daemon and code server; Ctrl-C reaches it directly (same process group).
    proc = subprocess.Popen(guarded(cmd, sig="TERM"), cwd=PROJECT_ROOT, env=env)
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP to tunehouse: let dagster dev shut down
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    raise typer.Exit(code)


@app.command()
def demo(warehouse: WarehouseOption = None, verbose: VerboseOption = False) -> None:
    """Run the whole pipeline on the built-in sample: ingest, build, and every later stage."""
    from rich.console import Console

    from orchestration.demo import run_demo

    run_demo(command_settings(warehouse), Console(soft_wrap=True), verbose=verbose)  # long paths stay copy-pasteable
