"""The typer application every `tunehouse` command registers on, and what commands share.

Light on purpose: importing the CLI imports typer and the settings, nothing else; each
command imports what it needs (DuckDB, Dagster, dbt, the ML code) when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tunehouse.settings import Settings

app = typer.Typer(
    name="tunehouse",
    help="A local-first warehouse for Spotify and YouTube music analytics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class UserError(Exception):
    """An expected failure: printed as one line on stderr, exit status 1."""


WarehouseOption = Annotated[
    Path | None,
    typer.Option(
        "--warehouse",
        help="DuckDB warehouse file (default: TUNEHOUSE_WAREHOUSE, else data/tunehouse.duckdb in the project).",
        show_default=False,
    ),
]

VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Also show the run's log (dbt's per-model lines, Dagster's events) on the terminal; "
        "it always goes to <warehouse dir>/logs/.",
    ),
]


def command_settings(warehouse: Path | None = None) -> Settings:
    """The settings of this invocation: the environment (and .env) plus the command's flags."""
    from tunehouse.settings import load_settings

    return load_settings(warehouse=Path(warehouse).expanduser().resolve() if warehouse else None)
