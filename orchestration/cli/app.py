"""The typer application every `tunehouse` command registers on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
        envvar="TUNEHOUSE_WAREHOUSE",
        help="DuckDB warehouse file (default: data/tunehouse.duckdb in the project).",
        show_default=False,
    ),
]
