"""Metadata the Dagster UI shows on assets: raw tables' column schemas, figures inline.

- `raw_table_schemas()`: the column names, types and descriptions of the tables tunehouse
  writes itself (raw.*), from the DDL in `warehouse/ddl/` applied to an in-memory DuckDB
  (types as DuckDB reports them) and the DDL's own `-- comments` (descriptions). Attached
  to the raw assets' definitions, so the UI shows them before anything runs.
- `figure_metadata(path)`: a PNG as Markdown with the image inline (a data-URI thumbnail,
  rendered by the UI's Markdown view), so a figure shows in the UI without opening a file.
- `results_figure_markdown(results)`: the ML report's headline figure, inline.
"""

from __future__ import annotations

import base64
import io
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from ml.registry import ModelResult

#: Width of the inline thumbnails: sharp enough to read, small enough for the event log
#: (a few tens of kB per figure; the full-size file stays where the path says).
THUMBNAIL_WIDTH = 720

_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)\s*\(", re.IGNORECASE)
_COLUMN = re.compile(r"^\s+(\w+)\s+[A-Z][A-Z0-9_(), ]*?(?:,\s*)?--\s*(.+?)\s*$")
_ALTER = re.compile(r"ALTER TABLE (\w+)\.(\w+) ADD COLUMN IF NOT EXISTS (\w+)", re.IGNORECASE)


def _ddl_comments(sql: str) -> dict[tuple[str, str, str], str]:
    """(schema, table, column) → the DDL's comment on it (the column line's, or the lines above an ALTER)."""
    comments: dict[tuple[str, str, str], str] = {}
    table: tuple[str, str] | None = None
    above: list[str] = []
    for line in sql.splitlines():
        stripped = line.strip()
        if m := _CREATE.search(line):
            table, above = (m.group(1), m.group(2)), []
            continue
        if m := _ALTER.search(line):
            if above:
                comments[(m.group(1), m.group(2), m.group(3))] = " ".join(above)
            above = []
            continue
        if stripped.startswith("--"):
            above.append(stripped.lstrip("- ").strip())
            continue
        above = [] if not stripped or not table else above
        if table and stripped.startswith(");"):
            table = None
        elif table and (m := _COLUMN.match(line)):
            comments[(*table, m.group(1))] = m.group(2)
    return comments


@cache
def raw_table_schemas() -> dict[dg.AssetKey, dg.TableSchema]:
    """Column schema of every raw.* table, keyed like its asset (`raw/<table>`)."""
    import duckdb

    from warehouse.schema import ddl_statements, ensure_schema

    comments: dict[tuple[str, str, str], str] = {}
    for _name, sql in ddl_statements():
        comments.update(_ddl_comments(sql))
    con = duckdb.connect()  # in memory: only the DDL's effect, never a warehouse
    try:
        ensure_schema(con)
        rows = con.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'raw' ORDER BY table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    schemas: dict[str, list[dg.TableColumn]] = {}
    for table, column, data_type, nullable in rows:
        schemas.setdefault(table, []).append(dg.TableColumn(
            name=column, type=data_type, description=comments.get(("raw", table, column)),
            constraints=dg.TableColumnConstraints(nullable=nullable == "YES"),
        ))
    return {dg.AssetKey(["raw", t]): dg.TableSchema(columns=cols) for t, cols in schemas.items()}


def png_thumbnail(path: Path, width: int = THUMBNAIL_WIDTH) -> bytes:
    """The PNG at `path`, scaled down to at most `width` pixels wide (PNG bytes)."""
    from PIL import Image

    with Image.open(path) as image:
        if image.width > width:
            image = image.resize((width, max(1, round(image.height * width / image.width))), Image.LANCZOS)
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()


def image_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def figure_metadata(path: Path | str) -> dg.MetadataValue:
    """A figure as metadata: a PNG inline (Markdown, thumbnail) with its file's path; other files as a path."""
    path = Path(path)
    if path.suffix.lower() != ".png" or not path.is_file():
        return dg.MetadataValue.path(str(path))
    return dg.MetadataValue.md(f"{image_markdown(png_thumbnail(path), path.stem)}\n\n`{path}`")


def results_figure_markdown(results: list[ModelResult]) -> str | None:
    """The report's headline as an inline figure: each honest-protocol supervised model's
    primary metric beside its trivial baseline (None when there is none to show)."""
    rows = []
    for r in results:
        if r.protocol != "honest" or r.is_baseline or r.status != "succeeded" or r.primary_metric not in ("accuracy", "r2"):
            continue
        _split, value, std = r.headline()
        if value is not None:
            rows.append((f"{r.family}/{r.model}" + (f" ({r.task})" if r.task else ""), r.primary_metric, value,
                         r.baseline_value(), std))
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows.sort(key=lambda row: (row[1], row[2]))
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(rows) + 1.6), dpi=100)
    try:
        y = range(len(rows))
        # The fold-to-fold spread beside each model: a bar a whisker above its baseline is no win.
        ax.barh([i + 0.2 for i in y], [row[2] for row in rows], height=0.4, label="model (± std over folds)",
                color="#4c72b0", xerr=[row[4] or 0.0 for row in rows], error_kw={"capsize": 3, "elinewidth": 1})
        ax.barh([i - 0.2 for i in y], [row[3] or 0.0 for row in rows], height=0.4, label="trivial baseline",
                color="#bbbbbb")
        ax.set_yticks(list(y), [f"{row[0]} · {row[1]}" for row in rows], fontsize=8)
        ax.set_xlabel("honest protocol: accuracy or R² (higher is better)")
        # Above the axes, where it cannot meet the x label whatever the figure's height.
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return image_markdown(out.getvalue(), "honest models vs their trivial baselines")
