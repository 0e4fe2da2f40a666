"""The dbt project as Dagster sees it, and a plain way to run dbt outside Dagster.

The warehouse reaches every dbt process explicitly, as the dbt variable
`tunehouse_warehouse` (`--vars`), which `dbt_project/profiles.yml` reads before falling
back to `env_var('TUNEHOUSE_WAREHOUSE')` (someone running dbt by hand). dbt is the one in
this interpreter's environment (`DBT_EXECUTABLE`), so PATH need not name the venv.
Nothing here writes `os.environ`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject

from tunehouse.settings import DBT_PROJECT_DIR

#: The dbt of this interpreter's environment (works without an activated venv).
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
#: The dbt variable profiles.yml reads the warehouse path from.
WAREHOUSE_VAR = "tunehouse_warehouse"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

_PROJECT_INPUTS = ("models", "seeds", "macros", "analyses", "tests", "dbt_project.yml", "profiles.yml")


class DbtError(RuntimeError):
    """dbt failed outside Dagster; the message is dbt's own error, in short."""


def warehouse_vars(warehouse: Path | str) -> list[str]:
    """The `--vars` arguments that point one dbt invocation at `warehouse`."""
    return ["--vars", json.dumps({WAREHOUSE_VAR: str(Path(warehouse).expanduser().resolve())})]


def dbt_env(warehouse: Path | str) -> dict[str, str]:
    """The environment of a dbt subprocess started here (a copy; os.environ is not changed)."""
    return {
        **os.environ,
        "TUNEHOUSE_WAREHOUSE": str(Path(warehouse).expanduser().resolve()),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "DBT_PROFILES_DIR": str(dbt_project.profiles_dir),
    }


def dbt_resource() -> DbtCliResource:
    """The DbtCliResource of the tunehouse project (the warehouse comes per call, see `warehouse_vars`)."""
    # No ANSI colours: dbt's lines go to the run's log file (and the terminal with --verbose).
    return DbtCliResource(
        project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE, global_config_flags=["--no-use-colors"]
    )


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


def ensure_manifest(warehouse: Path | str, force: bool = False, project: DbtProject = dbt_project) -> Path:
    """`dbt parse` when the manifest is missing or older than the project files.

    Parsing reads no data and takes no DuckDB lock. It parses with the warehouse the
    definitions are built for, with the same `--vars` the dbt asset passes, so dbt's
    partial parsing (which dagster-dbt reuses in every invocation) stays valid.
    """
    if force or manifest_is_stale(project):
        # dagster-dbt's own guard (DbtProject.prepare uses it): one parse at a time per manifest.
        from dagster._utils import run_with_concurrent_update_guard

        run_with_concurrent_update_guard(project.manifest_path, _parse, project=project, warehouse=warehouse)
    return project.manifest_path


def _parse(project: DbtProject, warehouse: Path | str) -> None:
    target = project.project_dir / project.target_path
    proc = subprocess.run(
        [DBT_EXECUTABLE, "parse", "--quiet", *warehouse_vars(warehouse)],
        cwd=project.project_dir,
        env={**dbt_env(warehouse), "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)},
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        detail = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        raise DbtError(f"dbt parse failed: {' '.join(detail[-3:]) or f'exit status {proc.returncode}'}")


def run_dbt(args: list[str], warehouse: Path | str) -> None:
    """Run dbt on `warehouse` outside Dagster (tests, benchmarks). Raises on failure.

    Artifacts go to a temporary folder, removed when dbt is done (also on failure).
    """
    target = Path(tempfile.mkdtemp(prefix="tunehouse-dbt-"))
    try:
        dbt_resource().cli([*args, *warehouse_vars(warehouse)], target_path=target).wait()
    finally:
        shutil.rmtree(target, ignore_errors=True)


class TunehouseDbtTranslator(DagsterDbtTranslator):
    """Models and seeds are keyed [schema, name]; sources by their meta key."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props.get("schema")
