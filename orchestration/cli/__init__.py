"""The `tunehouse` command line: thin commands over the Dagster jobs and plain functions."""

from __future__ import annotations

import sys

import typer

from orchestration.cli.app import UserError, app

# Each module registers its commands on `app`.
from orchestration.cli import warehouse_commands  # noqa: E402,F401
from orchestration.cli import crawl_commands  # noqa: E402,F401
from orchestration.cli import ml_commands  # noqa: E402,F401


def main() -> None:
    from ingestion.kaggle_csv import CsvFileError
    from orchestration.runner import JobFailed
    from warehouse import WarehouseError

    try:
        app(standalone_mode=False)
    except (UserError, JobFailed, CsvFileError, WarehouseError) as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.secho("aborted", err=True)
        sys.exit(130)
    except __import__("click").ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


__all__ = ["app", "main"]
