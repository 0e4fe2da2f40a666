"""Dagster's dbt runs each leave a target folder; `prune_run_targets` keeps the newest few and
never one a run may still be writing."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.dbt import prune_run_targets

NOW = 1_900_000_000.0
HOUR = 3600.0


@settings(max_examples=60, deadline=None)
@given(ages_h=st.lists(st.floats(min_value=0, max_value=24 * 30), max_size=25, unique=True),
       keep=st.integers(min_value=0, max_value=12))
def test_the_newest_and_the_recent_run_folders_stay_the_rest_go(ages_h, keep):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        runs = {}
        for i, age in enumerate(ages_h):
            path = root / f"tunehouse_dbt_assets-{i:03d}"
            (path / "compiled").mkdir(parents=True)
            (path / "dbt.log").write_text("log", encoding="utf-8")
            os.utime(path, (NOW - age * HOUR, NOW - age * HOUR))
            runs[path.name] = age
        other = root / "guard-abc"  # not a run folder: never touched
        other.mkdir()
        os.utime(other, (NOW - 1000 * HOUR, NOW - 1000 * HOUR))
        (root / "tunehouse_dbt_assets-file").write_text("a file, not a run folder", encoding="utf-8")

        removed = prune_run_targets(root, "tunehouse_dbt_assets", keep=keep, min_age_s=HOUR, now=NOW)

        newest = set(sorted(runs, key=runs.get)[:keep])
        expected_kept = {name for name, age in runs.items() if name in newest or age * HOUR < HOUR}
        left = {p.name for p in root.iterdir() if p.name.startswith("tunehouse_dbt_assets-") and p.is_dir()}
        assert left == expected_kept
        assert {p.name for p in removed} == set(runs) - expected_kept
        assert other.is_dir() and (root / "tunehouse_dbt_assets-file").is_file()


def test_a_missing_target_folder_removes_nothing(tmp_path):
    assert prune_run_targets(tmp_path / "no-target-yet", "tunehouse_dbt_assets") == []
