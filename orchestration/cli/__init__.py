"""The `tunehouse` command line: thin commands over the Dagster jobs and plain functions.

Importing it imports typer and the settings only (no Dagster, dbt, scikit-learn or torch);
each command imports what it needs when it runs. Errors a user can act on (and usage
errors) print one line on stderr and exit non-zero, without a traceback.
"""

from __future__ import annotations

import sys

from orchestration.cli import crawl_commands, ml_commands, warehouse_commands  # noqa: F401 (register commands)
from orchestration.cli.app import UserError, app

#: Exceptions printed as one line: (module, class). Matched only if the module is loaded,
#: so catching them imports nothing.
EXPECTED_ERRORS = (
    ("orchestration.cli.app", "UserError"),
    ("orchestration.runner", "JobFailed"),
    ("orchestration.dbt", "DbtError"),
    ("warehouse.connection", "WarehouseError"),
    ("ingestion.kaggle_csv", "CsvFileError"),
    ("ml.families", "SelectionError"),
    ("pydantic", "ValidationError"),
)


def _expected(exc: BaseException) -> bool:
    for module, name in EXPECTED_ERRORS:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return True
    return False


def one_line(exc: BaseException) -> str:
    """The message of an expected error, in one line."""
    errors = getattr(exc, "errors", None)
    if type(exc).__name__ == "ValidationError" and callable(errors):  # pydantic: a bad setting
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        return f"invalid setting {where}: {first.get('msg', exc)}"
    text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> None:
    import typer
    from typer._click.exceptions import NoArgsIsHelpError  # typer bundles its own click

    try:
        status = app(args=argv, prog_name="tunehouse", standalone_mode=False)
    except NoArgsIsHelpError as exc:  # bare `tunehouse`: the help, not an error
        typer.echo(exc.format_message())
        sys.exit(0)
    except typer.TyperException as exc:  # usage errors: unknown command or option, bad value
        typer.secho(f"error: {one_line(exc)}", err=True, fg="red")
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:
        typer.secho("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if not _expected(exc):
            raise
        typer.secho(f"error: {one_line(exc)}", err=True, fg="red")
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)


__all__ = ["UserError", "app", "main"]
