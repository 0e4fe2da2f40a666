"""Choosing the dbt engine from outside: the CLI's --target, the settings, the Dagster resource."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.engine import EngineError, LAKE_VAR, SPARK_DIR_VAR, check_target, target_args, target_vars
from tunehouse.settings import PROJECT_ROOT, load_settings

TUNEHOUSE = str(Path(sys.executable).parent / "tunehouse")


def test_the_default_target_adds_nothing_and_spark_gets_its_folders(tmp_path):
    warehouse = tmp_path / "data" / "w.duckdb"
    assert target_args("duckdb") == [] and target_vars("duckdb", warehouse, tmp_path / "lake") == {}
    assert target_args("spark") == ["--target", "spark"]
    assert target_vars("spark", warehouse, tmp_path / "lake") == {
        LAKE_VAR: str((tmp_path / "lake").resolve()),
        SPARK_DIR_VAR: str(tmp_path / "data" / "spark" / "w"),
    }
    with pytest.raises(EngineError, match="unknown dbt target 'trino'"):
        check_target("trino")


def test_settings_place_the_lake_and_pick_the_engine(tmp_path, monkeypatch):
    settings = load_settings(warehouse=tmp_path / "x" / "shop.duckdb")
    assert settings.lake == tmp_path / "x" / "lake" / "shop" and settings.dbt_target == "duckdb"
    monkeypatch.setenv("TUNEHOUSE_LAKE", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("TUNEHOUSE_DBT_TARGET", "spark")
    settings = load_settings()
    assert settings.lake == tmp_path / "elsewhere" and settings.dbt_target == "spark"


def test_the_dagster_engine_resource_follows_the_settings(tmp_path):
    from orchestration.definitions import build_resources

    resources = build_resources(load_settings(warehouse=tmp_path / "w.duckdb", dbt_target="spark"))
    assert resources["dbt_engine"].target == "spark"
    assert resources["lake"].path == str((tmp_path / "lake" / "w").resolve())


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([TUNEHOUSE, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_an_unknown_target_is_a_one_line_usage_error():
    result = _cli(["build", "--target", "trino"], dict(os.environ))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "trino" in lines[0], result.stderr


@pytest.mark.slow
def test_spark_without_java_fails_in_one_line_and_builds_nothing(built_warehouse, tmp_path):
    """No java on PATH: `build --target spark` says what is missing, in one line, and the
    lake stays unwritten (the check comes first)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dbt", "tunehouse", "dagster"):  # the venv's own tools, nothing else
        (bin_dir / tool).symlink_to(Path(sys.executable).parent / tool)
    env = {**os.environ, "PATH": str(bin_dir), "TUNEHOUSE_WAREHOUSE": str(built_warehouse),
           "TUNEHOUSE_LAKE": str(tmp_path / "lake")}
    result = _cli(["build", "--target", "spark"], env)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Java 17" in lines[0], result.stderr
    assert not (tmp_path / "lake").exists()
    assert not (built_warehouse.parent / "spark").exists()
