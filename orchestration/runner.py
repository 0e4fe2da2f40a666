"""Run Dagster jobs in-process against the persistent instance, so the UI shows CLI runs.

`run_job(name, settings, ...)` builds the definitions from `settings`, opens the instance
of `settings.dagster_home` explicitly (DAGSTER_HOME is never written to the environment)
and returns the run's results as data (`JobOutcome`).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dagster as dg

    from tunehouse.settings import Settings


class JobFailed(RuntimeError):
    """A job failed; the message is the underlying error, in one line (then the log file's path).

    For a failed dbt step, the failing model or test and dbt's own message
    (`orchestration.dbt.describe_failure`).
    """


class JobInterrupted(KeyboardInterrupt):
    """The run stopped on SIGINT/SIGTERM (Dagster stopped its step and dbt); the CLI exits 130."""


@dataclass(frozen=True)
class JobOutcome:
    run_id: str
    #: Asset keys ("raw/kaggle_tracks") materialized, in order.
    materialized: list[str]
    #: Asset key → its materialization metadata (plain values).
    metadata: dict[str, dict[str, Any]]
    #: Op (step) name → the asset keys it materialized.
    by_op: dict[str, list[str]] = field(default_factory=dict)

    def assets_of(self, op: str) -> list[str]:
        """The asset keys op `op` materialized (e.g. every dbt model: `assets.dbt.DBT_OP`)."""
        return self.by_op.get(op, [])


def prepare_home(home: Path) -> Path:
    """The Dagster instance folder `home`, created (with telemetry off) if new."""
    home = Path(home).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home


def open_instance(home: Path) -> dg.DagsterInstance:
    """The persistent Dagster instance in `home`, opened explicitly (DAGSTER_HOME is not consulted)."""
    import dagster as dg

    return dg.DagsterInstance.from_config(str(prepare_home(home)))


def ui_env(settings: Settings) -> dict[str, str]:
    """The environment of `dagster dev`: this one, plus the settings its code location must see.

    The code location builds its definitions from `load_settings()`, i.e. from this env.
    """
    import os

    return {
        **os.environ,
        "TUNEHOUSE_WAREHOUSE": str(Path(settings.warehouse).expanduser().resolve()),
        "DAGSTER_HOME": str(prepare_home(settings.dagster_home)),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        # OpenMP threads of xgboost/shap/scikit-learn wait passively, or they spin against
        # each other on small machines; it must be set before the process loads libgomp.
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    }


def _chain(error) -> list:
    """A Dagster SerializableErrorInfo and its causes, outermost first."""
    chain = [error]
    while chain[-1].cause is not None:
        chain.append(chain[-1].cause)
    return chain


def _root_message(error) -> str:
    error = _chain(error)[-1]
    message = error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name
    # "pkg.module.ClsName: text" or "ClsName: text" -> "text"
    head, sep, rest = message.partition(": ")
    return rest if sep and head.rsplit(".", 1)[-1] == error.cls_name else message


def _failure_message(error, run_id: str) -> str:
    """One line for a failed step: dbt's failing node and message for a dbt step, else the root error."""
    dbt_error = next((e for e in _chain(error) if e.cls_name == "DagsterDbtCliRuntimeError"), None)
    if dbt_error is None:
        return _root_message(error)
    from orchestration.dbt import dbt_project, describe_failure

    # dagster-dbt gives each invocation its own target folder, named <op>-<run id[:7]>-<uuid[:7]>.
    root = dbt_project.project_dir / dbt_project.target_path
    targets = sorted(root.glob(f"*-{run_id[:7]}-*"), key=lambda p: p.stat().st_mtime)
    target = targets[-1] if targets else root / "no-run-results"
    # dagster-dbt's message quotes the command: "`…/dbt --no-use-colors build --vars …`".
    command = re.search(r"`\S+(?: --[\w-]+)* ((?:docs )?[a-z-]+)", dbt_error.message)
    return f"dbt {command.group(1) if command else 'build'} failed: {describe_failure(target, dbt_error.message)}"


def _interrupted(error) -> bool:
    return any(e.cls_name in ("DagsterExecutionInterruptedError", "KeyboardInterrupt") for e in _chain(error))


#: How long dbt gets to stop after SIGINT before it is killed.
STOP_GRACE_S = 10.0


def _dbt_children() -> list[int]:
    """This process's dbt children (Linux: from /proc)."""
    from orchestration.dbt import DBT_EXECUTABLE

    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me and DBT_EXECUTABLE.encode() in cmdline:
            found.append(int(entry))
    return found


def _stop_dbt_children(grace_s: float) -> None:
    """SIGINT to this process's dbt children (dbt stops cleanly), SIGKILL to those left after `grace_s`."""
    import signal
    import time

    children = _dbt_children()
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + grace_s
    while children and time.monotonic() < deadline:
        time.sleep(0.2)
        children = [pid for pid in children if pid in _dbt_children()]
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


#: How long the run may take to end after its dbt is stopped before the command exits anyway.
FORCE_EXIT_S = 30.0


@contextlib.contextmanager
def _dbt_stops_on_interrupt(grace_s: float = STOP_GRACE_S, force_exit_s: float = FORCE_EXIT_S) -> Iterator[None]:
    """While a job runs in this (main) thread: on SIGINT/SIGTERM, its dbt stops, and so does the command.

    The safety net under the dbt asset's own handling (`orchestration.dbt.stop_dbt_on_interrupt`)
    and dagster-dbt's (which forwards SIGINT only while its loop reads dbt's output in the
    main thread): Python's wakeup fd sees every signal that has a Python handler, whoever
    installed it, and a watcher thread stops this process's dbt children itself.

    Dagster's interrupt is an exception raised wherever the main thread is, and it can leave
    a lock held (a deadlock seen in dagster's `imap`). So if the run has not ended
    `force_exit_s` after the signal's dbt stop, or on a second signal, the command exits at
    once (status 130) without further clean-up; dbt is gone already. Linux only (/proc),
    like `orchestration.childguard`.
    """
    import signal
    import socket
    import sys
    import threading
    import time

    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        yield
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread of the main interpreter
        reader.close()
        writer.close()
        yield
        return

    def force_exit(why: str) -> None:
        sys.stderr.write(f"interrupted ({why}; exited without further clean-up)\n")
        sys.stderr.flush()
        os._exit(130)

    def watch() -> None:
        stopping, deadline = {signal.SIGINT, signal.SIGTERM}, None
        while True:
            reader.settimeout(None if deadline is None else max(0.0, deadline - time.monotonic()))
            try:
                data = reader.recv(64)
            except TimeoutError:
                force_exit(f"the run did not end within {force_exit_s:.0f}s of stopping dbt")
            except OSError:  # closed: the job is over
                return
            if not data:  # the job is over
                return
            if stopping & set(data):
                if deadline is not None:
                    force_exit("a second signal")
                _stop_dbt_children(grace_s)
                deadline = time.monotonic() + force_exit_s

    watcher = threading.Thread(target=watch, name="tunehouse-dbt-stopper", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        writer.close()  # ends the watcher's recv
        watcher.join(timeout=1)
        reader.close()


def run_job(
    name: str,
    settings: Settings,
    run_config: dict[str, Any] | None = None,
    *,
    asset_keys: list[list[str]] | None = None,
    log_file: Path | None = None,
    verbose: bool = False,
    youtube_api_key: str | None = None,
    partition_key: str | None = None,
) -> JobOutcome:
    """Execute job `name` (or only `asset_keys` of it) on the instance of `settings.dagster_home`.

    Run output (dbt's lines, warnings, Dagster's event log) goes to `log_file` and, with
    `verbose`, to the terminal too; without a log file and not verbose it is discarded.
    `youtube_api_key` binds the YouTube resource to a literal key (the emulator's) instead
    of YOUTUBE_API_KEY. `partition_key`: the partition of a partitioned job (an API day of
    the crawl, e.g. "2023-02-08"). Raises JobFailed with the root error.
    """
    import contextlib
    import os

    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.runlog import capture_run_output

    config = dict(run_config or {})
    loggers: dict[str, Any] = {"console": {"config": {"log_level": "INFO" if verbose else "CRITICAL"}}}
    if log_file is not None:
        loggers["file"] = {"config": {"path": str(log_file), "log_level": "DEBUG"}}
    config.setdefault("loggers", loggers)
    definitions = build_definitions(settings, youtube_api_key=youtube_api_key)
    job = definitions.resolve_job_def(name)
    selection = [dg.AssetKey(k) for k in asset_keys] if asset_keys else None
    with contextlib.ExitStack() as stack:
        if log_file is not None:
            stack.enter_context(capture_run_output(log_file, verbose))
        elif not verbose:
            sink = stack.enter_context(open(os.devnull, "w", encoding="utf-8"))
            stack.enter_context(contextlib.redirect_stdout(sink))
        instance = stack.enter_context(open_instance(settings.dagster_home))
        stack.enter_context(_dbt_stops_on_interrupt())
        try:
            result = job.execute_in_process(
                run_config=config, instance=instance, raise_on_error=False, asset_selection=selection,
                partition_key=partition_key,
            )
        except dg.DagsterExecutionInterruptedError:  # a BaseException: interrupted outside a step
            raise JobInterrupted() from None
    if not result.success:
        failures = result.get_step_failure_events()
        error = failures[0].step_failure_data.error if failures else None
        if error is not None and _interrupted(error):
            raise JobInterrupted()
        where = f" — full log: {log_file}" if log_file is not None else ""
        if error is not None:
            raise JobFailed(_failure_message(error, result.run_id) + where)
        raise JobFailed(f"job {name} failed (run {result.run_id}); see the Dagster UI{where}")
    metadata: dict[str, dict[str, Any]] = {}
    by_op: dict[str, list[str]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        key = mat.asset_key.to_user_string()
        metadata[key] = {k: v.value for k, v in mat.metadata.items()}
        by_op.setdefault(event.node_name, []).append(key)
    return JobOutcome(result.run_id, list(metadata), metadata, by_op)
