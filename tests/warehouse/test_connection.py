"""Warehouse connections: one writer process at a time, retries while the lock is held."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import pytest

from warehouse import WarehouseError, read_connection, transaction, write_connection

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("CREATE TABLE IF NOT EXISTS t AS SELECT 42 AS x")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
    """
)


def _hold_lock(path, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_waits_for_the_writer_and_then_reads(tmp_path):
    path = tmp_path / "w.duckdb"
    holder = _hold_lock(path, 1.5)
    try:
        with read_connection(path, timeout_s=30) as con:
            assert con.execute("SELECT x FROM t").fetchall() == [(42,)]
        assert holder.poll() is not None  # we only got in after the writer had gone
    finally:
        holder.wait(timeout=30)


def test_a_lock_held_too_long_is_a_clear_error(tmp_path):
    path = tmp_path / "w.duckdb"
    holder = _hold_lock(path, 20)
    try:
        with pytest.raises(WarehouseError, match=r"locked by another process \(waited 1s\)"), write_connection(
            path, timeout_s=1
        ):
            pass
        assert holder.poll() is None  # it gave up while the writer still held the lock
    finally:
        holder.kill()
        holder.wait()


def test_read_connection_is_read_only_and_needs_an_existing_file(tmp_path):
    path = tmp_path / "w.duckdb"
    with pytest.raises(WarehouseError, match="does not exist yet"), read_connection(path):
        pass
    with write_connection(path) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    with read_connection(path) as con, pytest.raises(duckdb.Error, match="read-only"):
        con.execute("INSERT INTO t VALUES (1)")


def test_transaction_rolls_back_everything_on_error(tmp_path):
    path = tmp_path / "w.duckdb"
    with write_connection(path) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
        with pytest.raises(RuntimeError), transaction(con):
            con.execute("INSERT INTO t VALUES (1)")
            con.execute("CREATE TABLE u (y INTEGER)")
            raise RuntimeError("boom")
        assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'u'").fetchone() == (0,)
