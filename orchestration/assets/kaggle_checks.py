"""Checks of the Kaggle load (raw/kaggle_tracks) beyond dbt's tests.

`quarantine_share`: the share of the latest load's records that went to
raw.kaggle_quarantine. Passes up to 1 %; WARN above, ERROR above 5 % (probably the wrong
file, a broken export or a changed format). It runs after every ingest (checks of an asset
run in the jobs that select it).
"""

import dagster as dg

from ingestion.load_quality import latest_load_quarantine
from orchestration.resources import WarehouseResource

TRACKS_KEY = dg.AssetKey(["raw", "kaggle_tracks"])
QUARANTINE_WARN_ABOVE = 0.01
QUARANTINE_ERROR_ABOVE = 0.05


@dg.asset_check(
    asset=TRACKS_KEY,
    description=f"Share of the latest load's records quarantined. Passes up to {QUARANTINE_WARN_ABOVE:.0%}; "
    f"WARN above, ERROR above {QUARANTINE_ERROR_ABOVE:.0%} (probably the wrong file or a broken export).",
)
def quarantine_share(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.read_connection() as con:
        load = latest_load_quarantine(con)
    if load is None:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   description="nothing ingested yet")
    share = load.share
    return dg.AssetCheckResult(
        passed=share <= QUARANTINE_WARN_ABOVE,
        severity=dg.AssetCheckSeverity.ERROR if share > QUARANTINE_ERROR_ABOVE else dg.AssetCheckSeverity.WARN,
        metadata={"load_id": load.load_id, "source_file": load.source_file, "rows_loaded": load.rows_loaded,
                  "rows_quarantined": load.rows_quarantined, "share": dg.MetadataValue.float(round(share, 4))},
        description=f"{load.rows_quarantined} of {load.records} records of {load.source_file} (load "
        f"{load.load_id}) quarantined ({share:.2%})",
    )


checks = [quarantine_share]
