"""The `tunehouse` command line: thin commands over the Dagster jobs and plain functions.

Importing it imports typer and the settings only (no Dagster, dbt, scikit-learn or torch);
each command imports what it needs when it runs. Every failure prints one line on stderr
and exits non-zero, without a traceback: errors a user can act on (and usage errors, 2)
as they are, anything else as "unexpected …" (`--verbose` adds the traceback). Ctrl-C,
SIGTERM and SIGHUP print "interrupted" and exit 130.
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


def _stop_on_terminate() -> None:
    """SIGTERM (and SIGHUP) stop a command the way Ctrl-C does: KeyboardInterrupt in the main thread.

    So `finally` blocks run (temporary folders go, DuckDB connections close) and a child
    started with `subprocess.run` is killed; during a Dagster run, Dagster maps both to its
    own interrupt, which stops the step and sends SIGINT to dbt. A child that outlives all
    that (or a SIGKILL of this process) dies with it: see `orchestration.childguard`.
    """
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        # An ignored signal stays ignored (`nohup tunehouse build &` must survive the hangup).
        if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, signal.default_int_handler)


def _unexpected(exc: BaseException, argv: list[str]) -> str:
    """One line for an error nobody planned for; the traceback only with --verbose."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    if "--verbose" in argv or "-v" in argv:
        import traceback

        traceback.print_exception(exc)
    return f"unexpected {type(exc).__name__}: {one_line(exc)} (a bug? --verbose shows where)"


def main(argv: list[str] | None = None) -> None:
    import typer
    from typer._click.exceptions import NoArgsIsHelpError  # typer bundles its own click

    args = list(sys.argv[1:] if argv is None else argv)
    _stop_on_terminate()
    try:
        status = app(args=args, prog_name="tunehouse", standalone_mode=False)
    except NoArgsIsHelpError as exc:  # bare `tunehouse`: the help, not an error
        typer.echo(exc.format_message())
        sys.exit(0)
    except typer.TyperException as exc:  # usage errors: unknown command or option, bad value
        typer.secho(f"error: {one_line(exc)}", err=True, fg="red")
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:
        typer.secho("interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP outside a command (typer handles those inside)
        typer.secho("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        message = one_line(exc) if _expected(exc) else _unexpected(exc, args)
        typer.secho(f"error: {message}", err=True, fg="red")
        sys.exit(1)
    if status == 130:  # typer turns a KeyboardInterrupt inside a command into exit status 130
        typer.secho("interrupted", err=True)
    sys.exit(status if isinstance(status, int) else 0)


__all__ = ["UserError", "app", "main"]
