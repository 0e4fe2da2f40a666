"""Child processes die with their parent: a killed `tunehouse build` takes its dbt along.

Real processes throughout: the guard (`orchestration.childguard`) around `sleep`, then the
real CLI running the real dbt on a real warehouse, killed with SIGKILL, SIGTERM and SIGINT.
Deadlines below are generous bounds for "gone", not performance assertions.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from tunehouse.settings import PROJECT_ROOT

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux's")
#: How long a killed process's child may take to go (a bound for "gone", not a performance figure).
GONE_WITHIN_S = 60


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process, None if there is none (or only its zombie)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = text.rsplit(")", 1)[1].split()[:2]
    return None if state in ("Z", "X") else (state, int(ppid))


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat and stat[1] == pid:
                try:
                    cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                found.append((int(entry), cmdline))
    return found


def _wait_gone(pid: int, cmdline: str, within_s: float = GONE_WITHIN_S) -> bool:
    """True once process `pid` (still running `cmdline`, so not a reused pid) is gone."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            current = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return True
        if _proc_stat(pid) is None or current != cmdline:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _wait_for(condition, within_s: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: the command ended first (exit {proc.returncode}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {within_s}s")


PARENT = textwrap.dedent("""
    import subprocess, sys, time
    from orchestration.childguard import guarded, launcher
    how, folder, *command = sys.argv[1:]
    if how == "command":
        command = guarded(command)
    elif how == "launcher":
        command = [launcher(command[0], folder), *command[1:]]
    child = subprocess.Popen(command)
    print(child.pid, flush=True)
    time.sleep(600)
""")


def _start_parent(how: str, folder: Path) -> tuple[subprocess.Popen, int, str]:
    """A parent process that starts `sleep 600` (guarded: `how`) and waits; its child's pid and cmdline."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, how, str(folder), shutil.which("sleep"), "600"],
                              stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    child = int(parent.stdout.readline())
    cmdline = _wait_for(lambda: next((c for p, c in _children(parent.pid) if p == child and c.startswith(
        shutil.which("sleep"))), None), 30, "the child runs sleep")
    return parent, child, cmdline


@linux_only
@pytest.mark.parametrize("how", ["command", "launcher"])
def test_a_guarded_child_dies_when_its_parent_is_killed(tmp_path, how):
    parent, child, cmdline = _start_parent(how, tmp_path)
    assert _proc_stat(child) is not None  # alive while its parent lives
    parent.kill()
    parent.wait()
    assert _wait_gone(child, cmdline), "the guarded child outlived its SIGKILLed parent"


@linux_only
def test_an_unguarded_child_outlives_its_killed_parent(tmp_path):
    """The control: without the guard the same child survives (what issue #9 found for dbt)."""
    parent, child, cmdline = _start_parent("plain", tmp_path)
    parent.kill()
    parent.wait()
    try:
        time.sleep(1)
        assert _proc_stat(child) is not None
    finally:
        os.kill(child, signal.SIGKILL)


@linux_only
def test_the_guard_refuses_to_run_when_its_parent_is_already_gone():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from orchestration.childguard import guarded

    command = guarded(["/bin/echo", "ran"])
    command[command.index("--parent") + 1] = str(dead.pid)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 128 + signal.SIGKILL and "ran" not in proc.stdout


def _dbt_of(cli_pid: int, warehouse: Path) -> tuple[int, str] | None:
    """The dbt child of the CLI, once it has the warehouse file open (it holds the write lock)."""
    for pid, cmdline in _children(cli_pid):
        if "dbt" in cmdline and " build" in cmdline:
            try:
                fds = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            except OSError:
                continue
            if str(warehouse) in fds:
                return pid, cmdline
    return None


def _tunehouse(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestration.cli", *args], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@linux_only
@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "busy"),
    [(signal.SIGKILL, True), (signal.SIGTERM, False), (signal.SIGINT, False)],
    ids=["SIGKILL-dbt-busy", "SIGTERM", "SIGINT"],
)
def test_killing_tunehouse_build_stops_dbt_and_releases_the_lock(built_warehouse, sig, busy):
    """SIGTERM and SIGINT stop the build the way Ctrl-C does (Dagster sends SIGINT to dbt):
    one line, exit 130. A SIGKILL leaves no chance to clean up: dbt must die by itself. With
    `busy`, dbt is frozen (SIGSTOP) first, as it would be inside a long query: it cannot then
    notice its closed output pipe, which on small data ends an unguarded dbt within seconds
    anyway; only the kernel's parent-death signal stops it (see childguard)."""
    from warehouse import write_connection

    cli = _tunehouse("build", "--warehouse", str(built_warehouse))
    dbt = None
    try:
        dbt, cmdline = _wait_for(lambda: _dbt_of(cli.pid, built_warehouse), 300, "dbt holds the warehouse", cli)
        if busy:
            os.kill(dbt, signal.SIGSTOP)
        os.kill(cli.pid, sig)
        assert _wait_gone(dbt, cmdline), f"dbt ({dbt}) still runs {GONE_WITHIN_S}s after {sig.name} to tunehouse"
        _, err = cli.communicate(timeout=GONE_WITHIN_S)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        if dbt is not None and _proc_stat(dbt) is not None:  # a failed test leaves no frozen dbt behind
            os.kill(dbt, signal.SIGKILL)
    if sig is signal.SIGKILL:
        assert cli.returncode == -signal.SIGKILL
    else:  # stopped the way Ctrl-C stops it: one line, no traceback
        assert cli.returncode == 130, err
        assert [line for line in err.splitlines() if line.strip()] == ["interrupted"], err
    with write_connection(built_warehouse, timeout_s=GONE_WITHIN_S) as con:  # the lock is free
        assert con.execute("select count(*) from raw.kaggle_tracks").fetchone()[0] > 0


def _tables(con: duckdb.DuckDBPyConnection, catalog: str, schema: str) -> list[str]:
    return [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_catalog = ? and table_schema = ? "
        "order by 1", [catalog, schema]).fetchall()]


@linux_only
@pytest.mark.slow
def test_sigkill_at_random_points_of_a_build_then_a_rebuild_equals_a_clean_build(sample_csv, tmp_path):
    """Kill `tunehouse build` at random moments of its run (before dbt, inside a model, between
    models); afterwards the warehouse opens, a plain rebuild succeeds and every mart equals
    that of a clean build of the same load, row for row."""
    from ingestion.kaggle_csv import ingest_csv
    from orchestration.dbt import run_dbt

    killed, clean = tmp_path / "killed" / "warehouse.duckdb", tmp_path / "clean" / "warehouse.duckdb"
    killed.parent.mkdir()
    clean.parent.mkdir()
    ingest_csv(sample_csv, killed)
    shutil.copyfile(killed, clean)  # the same load (same load_id, loaded_at) in both
    started = time.monotonic()
    run_dbt(["build"], clean)
    duration = time.monotonic() - started
    kills = int(os.environ.get("TUNEHOUSE_TEST_BUILD_KILLS", "3"))
    seed = int(os.environ.get("TUNEHOUSE_TEST_SEED", "20260909"))
    rng = random.Random(seed)
    for n in range(kills):
        at = rng.uniform(0, duration + 10)  # the CLI's own start-up comes before dbt's run
        cli = _tunehouse("build", "--warehouse", str(killed))
        time.sleep(at)
        dbt = _dbt_of(cli.pid, killed)
        cli.kill()
        cli.communicate()
        if dbt is not None:
            assert _wait_gone(*dbt), f"kill {n} (seed {seed}, at {at:.1f}s): dbt outlived tunehouse"
    rebuild = _tunehouse("build", "--warehouse", str(killed))
    out, err = rebuild.communicate(timeout=900)
    assert rebuild.returncode == 0, f"rebuild after {kills} kills (seed {seed}) failed: {err}"
    with duckdb.connect() as con:
        con.execute(f"attach '{killed}' as k (read_only)")
        con.execute(f"attach '{clean}' as c (read_only)")
        marts = _tables(con, "c", "marts")
        assert marts and _tables(con, "k", "marts") == marts
        for table in marts:
            for a, b in (("k", "c"), ("c", "k")):
                diff = con.execute(
                    f"select count(*) from (select * from {a}.marts.{table} except all "
                    f"select * from {b}.marts.{table})").fetchone()[0]
                assert diff == 0, f"marts.{table}: {diff} rows of {a} not in {b} (seed {seed})"


def _descendants(root: int) -> list[tuple[int, str]]:
    found, stack = [], [root]
    while stack:
        for pid, cmdline in _children(stack.pop()):
            found.append((pid, cmdline))
            stack.append(pid)
    return found


@linux_only
@pytest.mark.slow
@pytest.mark.parametrize(("sig", "ignoring"), [(signal.SIGKILL, False), (signal.SIGTERM, False),
                                              (signal.SIGKILL, True)],
                         ids=["SIGKILL", "SIGTERM", "SIGKILL-started-ignoring-INT-and-TERM"])
def test_killing_tunehouse_ui_stops_dagster_dev_and_everything_it_started(built_warehouse, sig, ignoring):
    """`ignoring`: started as a background job of a script is (SIGINT ignored, and here SIGTERM
    too): the ignored signals are inherited, and dagster dev must still stop when tunehouse dies."""
    import socket
    import urllib.request

    def ignore_int_and_term():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cli = _tunehouse("ui", "--port", str(port), "--warehouse", str(built_warehouse),
                     **({"preexec_fn": ignore_int_and_term} if ignoring else {}))

    def serving() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                return True
        except OSError:
            return False

    started: list[tuple[int, str]] = []
    try:
        _wait_for(serving, 300, "the Dagster UI answers", cli)
        started = _descendants(cli.pid)
        assert any("dagster_webserver" in c for _, c in started), started
        os.kill(cli.pid, sig)
        left = [(pid, c) for pid, c in started if not _wait_gone(pid, c)]
        assert not left, f"still running {GONE_WITHIN_S}s after {sig.name} to tunehouse ui: {left}"
    finally:
        if cli.poll() is None:
            cli.kill()
        for pid, cmdline in started:  # a failed test leaves nothing running
            if not _wait_gone(pid, cmdline, within_s=0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        cli.communicate()  # after: a process left running holds its pipes open


@linux_only
def test_an_ignored_hangup_stays_ignored_and_sigterm_stops_the_command(built_warehouse):
    """`nohup tunehouse … &` keeps running when the terminal goes; SIGTERM stops the command
    like Ctrl-C (the emulator's Ctrl-C is a normal stop)."""
    cli = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "emulator", "--port", "0", "--warehouse", str(built_warehouse)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    try:
        assert "base URL" in "".join(cli.stdout.readline() for _ in range(2)), cli.stderr.read()
        os.kill(cli.pid, signal.SIGHUP)
        time.sleep(1)
        assert cli.poll() is None, "an ignored SIGHUP stopped the command"
        os.kill(cli.pid, signal.SIGTERM)
        _, err = cli.communicate(timeout=GONE_WITHIN_S)
        assert cli.returncode == 0 and "Traceback" not in err, err
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()


STREAM_UNDER_INTERRUPT = textwrap.dedent("""
    import os, signal, subprocess, sys, threading, time
    from concurrent.futures import ThreadPoolExecutor
    from dagster import DagsterExecutionInterruptedError
    from dagster._utils.interrupts import raise_interrupts_as
    from orchestration.dbt import stop_dbt_on_interrupt

    child = subprocess.Popen([sys.argv[1], "600"])
    print(child.pid, flush=True)
    polls = 0
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    try:
        # Dagster's handler inside a step raises its interrupt in the main thread; the stream
        # is read by a worker (as dagster-dbt's metadata fetching does) while this thread polls.
        with raise_interrupts_as(DagsterExecutionInterruptedError), stop_dbt_on_interrupt(child, grace_s=5):
            with ThreadPoolExecutor(1) as pool:
                reading = pool.submit(child.wait)
                while not reading.done():
                    polls += 1
        print("no interrupt", flush=True)
    except DagsterExecutionInterruptedError:
        print(f"interrupted after the stream ended, exit {child.returncode}, polled {polls > 0}", flush=True)
""")


def test_an_interrupt_stops_dbt_and_is_raised_once_its_stream_has_ended():
    """`stop_dbt_on_interrupt`: a SIGTERM inside the block stops the child (SIGINT) instead of
    raising into the polling loop; the interrupt comes after the stream, and the child is gone."""
    proc = subprocess.run([sys.executable, "-c", STREAM_UNDER_INTERRUPT, shutil.which("sleep")], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1] == f"interrupted after the stream ended, exit {-signal.SIGINT}, polled True", proc.stdout
