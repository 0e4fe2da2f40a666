"""raw/kaggle_tracks: the Kaggle CSV (or the built-in sample) loaded into the warehouse.

The load is written, audited and only then published (`ingestion.kaggle_csv.ingest_csv`,
`ingestion.publish`): a load that fails its audit is kept as rejected and the step fails
with one line naming the problem; the previous load stays current everywhere.
"""

from pathlib import Path

import dagster as dg

from ingestion.kaggle_csv import ingest_csv
from ingestion.sample import write_sample_csv
from orchestration.resources import KaggleSourceResource, WarehouseResource


class KaggleCsvConfig(dg.Config):
    csv_path: str | None = None
    """A Kaggle 'Spotify and Youtube' CSV. Empty: the kaggle resource's csv_path (TUNEHOUSE_CSV), else the sample."""
    sample_rows: int | None = None
    """Rows of the synthetic sample when no CSV is given (default: the kaggle resource's, TUNEHOUSE_SAMPLE_ROWS)."""
    allow_shrink: bool = False
    """Publish the load even if it has far fewer rows than the current one (TUNEHOUSE_KAGGLE_MAX_SHRINK), which
    otherwise rejects it as probably truncated."""


def resolve_csv(config: KaggleCsvConfig, source: KaggleSourceResource, warehouse_path: Path) -> Path:
    """The CSV to load: run config, else the resource's CSV, else a generated sample beside the warehouse."""
    if config.csv_path:
        return Path(config.csv_path)
    if source.csv_path:
        return Path(source.csv_path)
    rows = config.sample_rows or source.sample_rows
    target = warehouse_path.parent / "sample" / f"spotify_youtube_sample_{rows}_{source.sample_seed}.csv"
    if not target.exists():
        write_sample_csv(target, rows=rows, seed=source.sample_seed)
    return target


def _markdown_table(columns: list[str], rows: list[tuple]) -> str:
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")[:60]

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "\n".join("| " + " | ".join(cell(v) for v in r) + " |" for r in rows)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", "kaggle_tracks"],
            group_name="raw",
            kinds={"duckdb", "csv"},
            description="Every row of every Kaggle 'Spotify and Youtube' CSV load, typed, with "
            "lineage (file, sha256, row number, load time).",
        ),
        dg.AssetSpec(
            ["raw", "kaggle_loads"],
            group_name="raw",
            kinds={"duckdb"},
            description="One row per Kaggle CSV load with its status (pending, published, rejected and why); "
            "downstream models read the latest published load.",
        ),
        dg.AssetSpec(
            ["raw", "kaggle_quarantine"],
            group_name="raw",
            kinds={"duckdb"},
            description="Rows of a Kaggle CSV that could not be parsed or typed, with line and reason.",
        ),
    ],
    name="ingest_kaggle_csv",
)
def kaggle_tracks(
    context: dg.AssetExecutionContext,
    config: KaggleCsvConfig,
    warehouse: WarehouseResource,
    kaggle: KaggleSourceResource,
):
    csv_path = resolve_csv(config, kaggle, warehouse.path)
    result = ingest_csv(csv_path, warehouse.path, max_shrink=kaggle.max_shrink, allow_shrink=config.allow_shrink,
                        lock_timeout_s=warehouse.lock_timeout_s)
    with warehouse.read_connection() as con:
        preview_cols = ["track_id", "artist", "track", "views", "stream", "official_video"]
        preview = con.execute(
            "SELECT source_row_number, artist, track, views, stream, official_video "
            "FROM raw.kaggle_tracks WHERE load_id = ? ORDER BY source_row_number LIMIT 5",
            [result.load_id],
        ).fetchall()
        quarantine = con.execute(
            "SELECT line, field, reason FROM raw.kaggle_quarantine WHERE load_id = ? ORDER BY line LIMIT 10",
            [result.load_id],
        ).fetchall()
    if result.rows_quarantined:
        context.log.warning(f"{result.rows_quarantined} rows of {result.source_file} quarantined")
    lineage = {
        "status": result.status,
        "source_file": result.source_file,
        "file_sha256": result.file_sha256,
        "load_id": result.load_id,
        "already_loaded": result.already_loaded,
    }
    yield dg.MaterializeResult(
        asset_key=["raw", "kaggle_tracks"],
        metadata={
            **lineage,
            "dagster/row_count": result.rows_loaded,
            "rows_quarantined": result.rows_quarantined,
            "preview": dg.MetadataValue.md(_markdown_table(preview_cols, preview)),
        },
    )
    yield dg.MaterializeResult(asset_key=["raw", "kaggle_loads"], metadata=lineage)
    yield dg.MaterializeResult(
        asset_key=["raw", "kaggle_quarantine"],
        metadata={
            **lineage,
            "rows_quarantined": result.rows_quarantined,
            "preview": dg.MetadataValue.md(
                _markdown_table(["line", "field", "reason"], quarantine) if quarantine else "No rows quarantined."
            ),
        },
    )


assets = [kaggle_tracks]
