"""The dbt project as Dagster sees it, and a plain way to run dbt outside Dagster."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject

from tunehouse.settings import DBT_PROJECT_DIR, get_settings

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# dbt runs as a subprocess: use the dbt of this interpreter's environment even when the
# venv is not activated (e.g. `.venv/bin/tunehouse`).
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

_PROJECT_INPUTS = ("models", "seeds", "macros", "snapshots", "tests", "dbt_project.yml")


def manifest_is_stale(project: DbtProject = dbt_project) -> bool:
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    for name in _PROJECT_INPUTS:
        root = project.project_dir / name
        paths = [root] if root.is_file() else root.rglob("*") if root.exists() else []
        if any(p.is_file() and p.stat().st_mtime > built for p in paths):
            return True
    return False


def ensure_manifest(project: DbtProject = dbt_project, force: bool = False) -> Path:
    """`dbt parse` when the manifest is missing or older than the project files.

    Parsing reads no data and takes no DuckDB lock; dagster-dbt guards concurrent parses.
    It parses with the configured warehouse path because dbt's partial parsing (which
    dagster-dbt reuses in every invocation) is only valid for the same profile.
    """
    if force or manifest_is_stale(project):
        env_before = os.environ.get("TUNEHOUSE_WAREHOUSE")
        os.environ["TUNEHOUSE_WAREHOUSE"] = str(get_settings().warehouse.resolve())
        try:
            project.preparer.prepare(project)
        finally:
            if env_before is None:
                os.environ.pop("TUNEHOUSE_WAREHOUSE", None)
            else:
                os.environ["TUNEHOUSE_WAREHOUSE"] = env_before
    return project.manifest_path


def run_dbt(args: list[str], warehouse: Path | str) -> None:
    """Run dbt on `warehouse` outside Dagster (tests, benchmarks). Raises on failure."""
    target = Path(tempfile.mkdtemp(prefix="tunehouse-dbt-"))
    env_before = os.environ.get("TUNEHOUSE_WAREHOUSE")
    os.environ["TUNEHOUSE_WAREHOUSE"] = str(Path(warehouse).resolve())
    try:
        DbtCliResource(project_dir=dbt_project).cli([*args], target_path=target).wait()
    finally:
        if env_before is None:
            os.environ.pop("TUNEHOUSE_WAREHOUSE", None)
        else:
            os.environ["TUNEHOUSE_WAREHOUSE"] = env_before


class TunehouseDbtTranslator(DagsterDbtTranslator):
    """Models, seeds and snapshots are keyed [schema, name]; sources by their meta key."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props.get("schema")
