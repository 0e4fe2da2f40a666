"""`tunehouse train --only` reaches the deep families too (a real subprocess, real warehouse)."""

from __future__ import annotations

import subprocess
import sys

import duckdb


def test_train_only_a_deep_model_runs_it_and_tracks_it(built_warehouse, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "train", "--only", "vae_clusters", "--protocol", "replication",
         "--warehouse", str(built_warehouse)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "vae_clusters" in proc.stdout
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        runs = con.execute("SELECT asset, protocol, status FROM ml.runs ORDER BY started_at").fetchall()
    assert runs and {r[1] for r in runs} == {"replication"}
    assert any("vae" in r[0] and r[2] == "succeeded" for r in runs), runs


def test_unknown_model_lists_the_deep_models_too(built_warehouse):
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "train", "--only", "nope", "--warehouse", str(built_warehouse)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "'nope'" in lines[0] and "tab_transformer" in lines[0] and "random_forest" in lines[0]
