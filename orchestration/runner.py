"""Run Dagster jobs in-process against the persistent instance, so the UI shows CLI runs.

`run_job(name, settings, ...)` builds the definitions from `settings`, opens the instance
of `settings.dagster_home` explicitly (DAGSTER_HOME is never written to the environment)
and returns the run's results as data (`JobOutcome`).
"""

from __future__ import annotations

import re
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


def run_job(
    name: str,
    settings: Settings,
    run_config: dict[str, Any] | None = None,
    *,
    asset_keys: list[list[str]] | None = None,
    log_file: Path | None = None,
    verbose: bool = False,
    youtube_api_key: str | None = None,
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
    partition_key: str | None = None,
