"""How `tunehouse sql` and `tunehouse analysis` print a result: a table, or one record per row.

A table is drawn only if every column gets at least `MIN_CELL` characters (or its whole
content, if shorter) on the console; long cells wrap inside their column. A result too
wide for that is printed as records (`column │ value`, one line per column, like psql's
expanded display), with a note pointing to `--format csv|json`. Nothing is cut: a long
value wraps onto the next lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

#: The narrowest a column may get in a table, in terminal cells (unless its content is shorter).
MIN_CELL = 12
#: A table's border and padding: "│ " before each cell, " " after, one "│" at the end.
_PER_COLUMN = 3


def cell_text(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _natural(header: str, cells: Sequence[str]) -> int:
    return max([cell_len(header), *(max((cell_len(x) for x in c.splitlines()), default=0) for c in cells)]) or 1


def column_widths(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[int] | None:
    """Content widths of a table that fits `width` cells with no column under MIN_CELL; None if none does.

    Columns that fit keep their natural width; the widest share what is left (water-filling).
    """
    natural = [_natural(c, [r[i] for r in rows]) for i, c in enumerate(columns)]
    room = width - (_PER_COLUMN * len(columns) + 1)
    if sum(min(n, MIN_CELL) for n in natural) > room:
        return None
    if sum(natural) <= room:
        return natural
    cap = MIN_CELL  # the largest cap with sum(min(n, cap)) <= room
    while sum(min(n, cap + 1) for n in natural) <= room:
        cap += 1
    widths = [min(n, cap) for n in natural]
    spare = room - sum(widths)
    for i, n in enumerate(natural):  # leftover cells to the widest columns, one each
        if spare and n > cap:
            widths[i] += 1
            spare -= 1
    return widths


def print_table(console: Console, columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int) -> None:
    """Print `rows` (at most `limit`; 0 = all) as a table if it fits the console, else as records."""
    shown = [[cell_text(v) for v in r] for r in (rows if limit == 0 else rows[:limit])]
    widths = column_widths(columns, shown, console.width)
    if widths is not None:
        table = Table(show_lines=False)
        for name, w in zip(columns, widths):
            table.add_column(Text(name), width=w, overflow="fold")
        for r in shown:
            table.add_row(*map(Text, r))  # Text: a value like "[Official Video]" is not rich markup
        console.print(table)
    else:
        _print_records(console, columns, shown)
    count = (f"({len(rows)} rows, {len(shown)} shown; --limit 0 shows all)" if len(shown) < len(rows)
             else f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    if widths is None:
        count += (f"; {len(columns)} columns do not fit {console.width} characters, so one record per row: "
                  "--format csv or --format json print them one line each")
    console.print(count, soft_wrap=True, markup=False, highlight=False)


def _print_records(console: Console, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    label = min(max((cell_len(c) for c in columns), default=1), max(MIN_CELL, console.width // 3))
    for n, r in enumerate(rows, 1):
        console.print(Rule(f"row {n}", align="left", characters="─"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=label, overflow="fold")
        grid.add_column(width=1)
        grid.add_column(overflow="fold")
        for name, value in zip(columns, r):
            grid.add_row(Text(name), "│", Text(value))
        console.print(grid)
