"""Which engine dbt builds on: `duckdb` (the warehouse file, the default) or `spark`.

One dbt project, two targets (`dbt_project/profiles.yml`). On Spark the raw sources are
external Parquet tables over the landing zone (`warehouse.lake`), which is brought up to
date first; the Spark metastore (Derby) and the table files live beside the warehouse
(`tunehouse.settings.spark_dir`), so an incremental model finds the table an earlier dbt
process built. The Dagster asset graph is the same for both; only the dbt invocation
differs: `--target spark` and the lake's and Spark folder's paths as dbt variables.
Light on purpose: no Dagster, dbt or Spark import here.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

#: The dbt targets of profiles.yml; the first is the default.
TARGETS: tuple[str, ...] = ("duckdb", "spark")
Target = Literal["duckdb", "spark"]
#: dbt variables the spark target reads (profiles.yml, macros/lake_sources.sql).
LAKE_VAR = "tunehouse_lake"
SPARK_DIR_VAR = "tunehouse_spark_dir"


class EngineError(RuntimeError):
    """The chosen engine cannot run here (one line: what is missing and how to get it)."""


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise EngineError(f"unknown dbt target {target!r}: use one of {', '.join(TARGETS)} (TUNEHOUSE_DBT_TARGET)")
    return target


def target_args(target: str) -> list[str]:
    """The `--target` arguments of a dbt invocation (none for the default, so the parsed
    manifest of the default target stays valid for it)."""
    return [] if check_target(target) == TARGETS[0] else ["--target", target]


def target_vars(target: str, warehouse: Path | str, lake: Path | str) -> dict[str, Any]:
    """The dbt variables a target needs besides the warehouse path."""
    from tunehouse.settings import spark_dir

    if check_target(target) != "spark":
        return {}
    return {
        LAKE_VAR: str(Path(lake).expanduser().resolve()),
        SPARK_DIR_VAR: str(spark_dir(Path(warehouse).expanduser().resolve())),
    }


def require_spark() -> None:
    """Fail with one line unless Java and pyspark (the `spark` extra) are installed."""
    import importlib.util

    if shutil.which("java") is None:
        raise EngineError("the spark target needs Java 17 on PATH (Debian: apt-get install openjdk-17-jre-headless)")
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("dbt.adapters.spark") is None:
        raise EngineError("the spark target needs pyspark and dbt-spark: pip install -e '.[spark]' (make install does)")


def prepare(target: str, warehouse: Path | str, lake: Path | str, lock_timeout_s: float | None = None):
    """Before a dbt build on `target`: the lake brought up to date (both engines: it
    follows every build), and for Spark its folder made and its requirements checked.
    Returns the lake's `SyncResult`. Raises EngineError, LakeError or WarehouseError."""
    from tunehouse.settings import spark_dir
    from warehouse.lake import sync

    check_target(target)
    if target == "spark":
        require_spark()
        spark_dir(Path(warehouse).expanduser().resolve()).mkdir(parents=True, exist_ok=True)
    return sync(warehouse, lake, timeout_s=lock_timeout_s)
