"""Run Dagster jobs in-process against the persistent instance, so the UI shows CLI runs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunehouse.settings import PROJECT_ROOT, get_settings


class JobFailed(RuntimeError):
    """A job failed; the message is the underlying error, in one line."""


@dataclass(frozen=True)
class JobOutcome:
    run_id: str
    materialized: list[str]
    metadata: dict[str, dict[str, Any]]


def use_warehouse(path: Path | None) -> Path:
    """Point every component (settings, dbt, Dagster resources) at one warehouse file."""
    if path is not None:
        os.environ["TUNEHOUSE_WAREHOUSE"] = str(Path(path).expanduser().resolve())
    get_settings.cache_clear()
    return get_settings().warehouse


def dagster_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home


def _root_message(error) -> str:
    while error.cause is not None:
        error = error.cause
    message = error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name
    # "pkg.module.ClsName: text" or "ClsName: text" -> "text"
    head, sep, rest = message.partition(": ")
    return rest if sep and head.rsplit(".", 1)[-1] == error.cls_name else message


def run_job(
    name: str,
    run_config: dict[str, Any] | None = None,
    quiet: bool = True,
    asset_keys: list[list[str]] | None = None,
) -> JobOutcome:
    """Execute job `name` (or only `asset_keys` of it); raise JobFailed with the root error."""
    import dagster as dg

    from orchestration.definitions import build_definitions

    dagster_home()
    config = dict(run_config or {})
    if quiet:  # the CLI prints its own summary; Dagster's event log stays in the instance
        config.setdefault("loggers", {"console": {"config": {"log_level": "CRITICAL"}}})
    job = build_definitions().resolve_job_def(name)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            run_config=config,
            instance=instance,
            raise_on_error=False,
            asset_selection=[dg.AssetKey(k) for k in asset_keys] if asset_keys else None,
        )
    if not result.success:
        failures = result.get_step_failure_events()
        if failures and failures[0].step_failure_data.error is not None:
            raise JobFailed(_root_message(failures[0].step_failure_data.error))
        raise JobFailed(f"job {name} failed (run {result.run_id}); see the Dagster UI")
    metadata: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        metadata[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return JobOutcome(result.run_id, list(metadata), metadata)
