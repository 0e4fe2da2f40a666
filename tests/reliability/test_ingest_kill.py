"""SIGKILL during `tunehouse ingest`, then the invariants (issue #9, write-audit-publish).

`tunehouse ingest` runs as a subprocess in its own process group; at a seeded random
moment the whole group (the command and its dbt) gets SIGKILL: during the write stage
(the ingest lock held, before dbt starts: the CSV read and the load's transaction), during
the dbt audit, or anywhere. After every kill:

- the warehouse opens; no relation downstream (staging, intermediate, marts) shows a load
  that is not published, and the current load is the old one or, if the kill came after
  the publish, the new one;
- every load in raw.kaggle_loads has all its rows or none exist (a transaction is whole);
- ingesting the same file again works: one load for the file, published and current, its
  rows once, no pending load and no audit schema left.

By default three kills of a sample load, plus two kills at fixed points inside the write
transaction (the real ingest, paused there); `pytest -m campaign` kills a real-file load
twelve times.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from ingestion.kaggle_csv import ingest_csv
from tests.reliability.kaggle_warehouses import build_template, downstream_load_ids

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("ingest_kill"),
    pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds dbt through /proc (Linux)"),
]

SEED = 9
RESULTS: list[dict] = []


def _children(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def _dbt_running(pid: int) -> bool:
    for child in _children(pid):
        try:
            if b"dbt" in Path(f"/proc/{child}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def _start(csv_path: Path, warehouse: Path) -> subprocess.Popen:
    # Its own temporary folder: a SIGKILLed process cannot remove its tunehouse-* folders (dbt's
    # artifacts), and the session's folder must stay clean (tests/conftest.py).
    tmp = warehouse.parent / f"{warehouse.stem}-tmp"
    tmp.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "ingest", str(csv_path), "--warehouse", str(warehouse)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )


def _wait_for(proc: subprocess.Popen, condition, timeout: float = 600.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.005)
    return False


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def _calibrate(csv_path: Path, template: Path, folder: Path) -> dict[str, float]:
    """One ingest without a kill: when the write stage starts, when dbt starts, when it ends (seconds
    from the start; only to aim the kills, nothing is asserted on them), and the rows it loads."""
    warehouse = folder / "calibration.duckdb"
    shutil.copyfile(template, warehouse)
    lock = Path(str(warehouse) + ".ingest-lock")
    started = time.monotonic()
    proc = _start(csv_path, warehouse)
    _wait_for(proc, lock.exists)
    locked = time.monotonic() - started
    _wait_for(proc, lambda: _dbt_running(proc.pid))
    audit = time.monotonic() - started
    assert proc.wait(timeout=900) == 0
    ended = time.monotonic() - started
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (rows,) = con.execute("SELECT row_count FROM raw.kaggle_loads WHERE load_id = "
                              "(SELECT load_id FROM staging.stg_kaggle_loads WHERE is_latest)").fetchone()
    return {"write": locked, "audit": audit, "end": ended, "rows": rows}


def _kill_at(where: str, rng: random.Random, csv_path: Path, warehouse: Path, times: dict[str, float]) -> str:
    """Start an ingest, SIGKILL it at a random moment of stage `where`; returns the stage it hit."""
    lock = Path(str(warehouse) + ".ingest-lock")
    proc = _start(csv_path, warehouse)
    if where == "write":
        _wait_for(proc, lock.exists)
        time.sleep(rng.uniform(0, max(0.05, times["audit"] - times["write"])))
    elif where == "audit":
        _wait_for(proc, lambda: _dbt_running(proc.pid))
        time.sleep(rng.uniform(0, max(0.05, times["end"] - times["audit"])))
    else:
        time.sleep(rng.uniform(0, times["end"]))
    hit = "finished" if proc.poll() is not None else (
        "audit" if _dbt_running(proc.pid) else "write" if lock.exists() else "start-up"
    )
    _kill(proc)
    return hit


def _check_after_kill(warehouse: Path, base_sha: str, new_sha: str) -> dict:
    with duckdb.connect(str(warehouse)) as con:  # opens (replays the WAL) or fails the test
        loads = {r[0]: r[1:] for r in con.execute(
            "SELECT load_id, status, file_sha256, row_count, quarantined_count FROM raw.kaggle_loads").fetchall()}
        published = {i for i, r in loads.items() if r[0] == "published"}
        assert {loads[i][1] for i in published} <= {base_sha, new_sha}
        for load_id, (_status, _sha, rows, quarantined) in loads.items():
            (got_rows,) = con.execute("SELECT count(*) FROM raw.kaggle_tracks WHERE load_id = ?", [load_id]).fetchone()
            (got_bad,) = con.execute("SELECT count(DISTINCT line) FROM raw.kaggle_quarantine WHERE load_id = ?",
                                     [load_id]).fetchone()
            assert (got_rows, got_bad) == (rows, quarantined), f"load {load_id} is not whole"
        (orphans,) = con.execute(
            "SELECT count(*) FROM raw.kaggle_tracks WHERE load_id NOT IN (SELECT load_id FROM raw.kaggle_loads)"
        ).fetchone()
        assert orphans == 0
        (current,) = con.execute("SELECT load_id FROM staging.stg_kaggle_loads WHERE is_latest").fetchone()
        assert current in published
        for relation, ids in downstream_load_ids(con).items():
            assert ids <= published, f"{relation} shows loads {ids - published}, which are not published"
        for view in ("staging.stg_tracks", "intermediate.int_kaggle_videos"):
            assert {r[0] for r in con.execute(f"SELECT DISTINCT load_id FROM {view}").fetchall()} == {current}
        statuses = Counter(r[0] for r in loads.values())
    return {"current_is_new": loads[current][1] == new_sha, "statuses": dict(statuses)}


def _reingest_and_check(csv_path: Path, warehouse: Path, new_sha: str, expected_rows: int) -> None:
    result = ingest_csv(csv_path, warehouse)
    assert result.status == "published" and result.rows_loaded == expected_rows
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT load_id, status FROM raw.kaggle_loads WHERE file_sha256 = ?",
                           [new_sha]).fetchall() == [(result.load_id, "published")]
        assert con.execute("SELECT count(*), count(DISTINCT source_row_number) FROM raw.kaggle_tracks "
                           "WHERE load_id = ?", [result.load_id]).fetchone() == (expected_rows, expected_rows)
        assert con.execute("SELECT count(*) FROM raw.kaggle_loads WHERE status = 'pending'").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM information_schema.schemata "
                           "WHERE starts_with(schema_name, 'audit_')").fetchone() == (0,)
        assert con.execute("SELECT load_id FROM staging.stg_kaggle_loads WHERE is_latest").fetchall() == [
            (result.load_id,)]
        assert con.execute("SELECT DISTINCT load_id FROM staging.stg_tracks").fetchall() == [(result.load_id,)]


@pytest.fixture(scope="module")
def sample_template(sample_csv, tmp_path_factory) -> Path:
    """The sample published, its Kaggle models built; copy it, never write it."""
    return build_template(sample_csv, tmp_path_factory.mktemp("kill_template") / "template.duckdb")


def _campaign(base_csv: Path, template: Path, new_csv: Path, folder: Path, plan: list[str], label: str) -> None:
    import hashlib

    times = _calibrate(new_csv, template, folder)
    base_sha = hashlib.sha256(base_csv.read_bytes()).hexdigest()
    new_sha = hashlib.sha256(new_csv.read_bytes()).hexdigest()
    expected_rows = times["rows"]
    rng = random.Random(f"{SEED}-{label}")
    for n, where in enumerate(plan):
        warehouse = folder / f"kill-{n}.duckdb"
        shutil.copyfile(template, warehouse)
        hit = _kill_at(where, rng, new_csv, warehouse, times)
        state = _check_after_kill(warehouse, base_sha, new_sha)
        _reingest_and_check(new_csv, warehouse, new_sha, expected_rows)
        RESULTS.append({"mode": label, "aimed_at": where, "hit": hit, **state})


def test_sigkill_during_ingest_keeps_the_invariants(sample_csv, sample_template, tmp_path):
    from ingestion.sample import write_sample_csv

    new_csv = write_sample_csv(tmp_path / "new_sample.csv", rows=1000, seed=8)
    _campaign(sample_csv, sample_template, new_csv, tmp_path, ["write", "audit", "any"], "sample")
    assert len([r for r in RESULTS if r["mode"] == "sample"]) == 3


@pytest.mark.campaign
@pytest.mark.real_data
def test_campaign_sigkill_real_file(real_csv, tmp_path, request, tmp_path_factory):
    data = real_csv.read_bytes()
    new_csv = tmp_path / "spotify_youtube_changed.csv"
    new_csv.write_bytes(data.replace(b",693555221.0,", b",693555222.0,", 1))
    assert new_csv.read_bytes() != data
    plan = ["write"] * 5 + ["audit"] * 4 + ["any"] * 3
    template = build_template(real_csv, tmp_path / "template.duckdb")
    _campaign(real_csv, template, new_csv, tmp_path, plan, "campaign")
    results = [r for r in RESULTS if r["mode"] == "campaign"]
    figures = {"kills": len(results), "survived": len(results), "hit": dict(Counter(r["hit"] for r in results)),
               "new_load_current_after_kill": sum(r["current_is_new"] for r in results)}
    out = tmp_path_factory.getbasetemp() / "ingest_kill_campaign.json"
    out.write_text(json.dumps({"figures": figures, "kills": results}, indent=1), encoding="utf-8")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\ningest SIGKILL campaign: {json.dumps(figures)}\n  details: {out}")


_PAUSED_INGEST = """
import sys, time
from pathlib import Path
import ingestion.kaggle_csv as kaggle_csv

original, marker, when = kaggle_csv._write_rows, Path(sys.argv[3]), sys.argv[4]

def paused(*args, **kwargs):  # inside write_pending's transaction
    if when == "before_rows":
        marker.touch()
        time.sleep(600)
    result = original(*args, **kwargs)
    marker.touch()
    time.sleep(600)
    return result

kaggle_csv._write_rows = paused
kaggle_csv.ingest_csv(sys.argv[1], sys.argv[2])
"""


@pytest.mark.parametrize("when", ["before_rows", "after_rows"])
def test_sigkill_inside_the_write_transaction_leaves_no_trace(when, sample_csv, sample_template, tmp_path):
    """The real ingest, paused inside its transaction (before or after the rows are written), then SIGKILL."""
    import hashlib

    from ingestion.sample import write_sample_csv

    template = sample_template
    new_csv = write_sample_csv(tmp_path / "new_sample.csv", rows=1000, seed=8)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(template, warehouse)
    marker = tmp_path / "inside"
    proc = subprocess.Popen([sys.executable, "-c", _PAUSED_INGEST, str(new_csv), str(warehouse), str(marker), when],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert _wait_for(proc, marker.exists), "the ingest never reached its transaction"
    _kill(proc)
    base_sha = hashlib.sha256(sample_csv.read_bytes()).hexdigest()
    new_sha = hashlib.sha256(new_csv.read_bytes()).hexdigest()
    state = _check_after_kill(warehouse, base_sha, new_sha)
    assert not state["current_is_new"] and state["statuses"] == {"published": 1}  # as if it never ran
    with duckdb.connect(str(warehouse), read_only=True) as con, duckdb.connect(":memory:") as ref:
        ref.execute(f"ATTACH '{template}' AS t (READ_ONLY)")
        for table in ("raw.kaggle_loads", "raw.kaggle_tracks", "raw.kaggle_quarantine"):
            assert sorted(map(repr, con.execute(f"SELECT * FROM {table}").fetchall())) == sorted(
                map(repr, ref.execute(f"SELECT * FROM t.{table}").fetchall()))
    _reingest_and_check(new_csv, warehouse, new_sha, 1000)
