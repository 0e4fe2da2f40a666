"""The dbt project as Dagster sees it, and a plain way to run dbt outside Dagster.

The warehouse reaches every dbt process explicitly, as the dbt variable
`tunehouse_warehouse` (`--vars`), which `dbt_project/profiles.yml` reads before falling
back to `env_var('TUNEHOUSE_WAREHOUSE')` (someone running dbt by hand). dbt is the one in
this interpreter's environment (`DBT_EXECUTABLE`), so PATH need not name the venv.
Nothing here writes `os.environ`.

Every dbt process started here dies with the process that started it (`guarded_dbt`,
`orchestration.childguard`), and a failed dbt invocation is described in one line from
its own `run_results.json` (`describe_failure`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
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
    """dbt failed; the message names the failing model or test and dbt's own message, in one line."""


def warehouse_vars(warehouse: Path | str, extra: Mapping[str, Any] | None = None) -> list[str]:
    """The `--vars` arguments that point one dbt invocation at `warehouse` (plus `extra` variables;
    dbt takes one `--vars`, so every variable of an invocation travels in it)."""
    return ["--vars", json.dumps({**(extra or {}), WAREHOUSE_VAR: str(Path(warehouse).expanduser().resolve())})]


def dbt_env(warehouse: Path | str) -> dict[str, str]:
    """The environment of a dbt subprocess started here (a copy; os.environ is not changed)."""
    return {
        **os.environ,
        "TUNEHOUSE_WAREHOUSE": str(Path(warehouse).expanduser().resolve()),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "DBT_PROFILES_DIR": str(dbt_project.profiles_dir),
    }


def guarded_dbt(project: DbtProject = dbt_project) -> str:
    """An executable that runs `DBT_EXECUTABLE` so that dbt dies with its parent (also on SIGKILL).

    dagster-dbt starts dbt with `subprocess.Popen` and takes only an executable path, so the
    guard is a small launcher script kept in the project's target folder.
    """
    from orchestration.childguard import launcher

    return launcher(DBT_EXECUTABLE, project.project_dir / "target")


def dbt_resource(project: DbtProject = dbt_project) -> DbtCliResource:
    """The DbtCliResource of the tunehouse project (the warehouse comes per call, see `warehouse_vars`)."""
    # No ANSI colours: dbt's lines go to the run's log file (and the terminal with --verbose).
    return DbtCliResource(
        project_dir=project, dbt_executable=guarded_dbt(project), global_config_flags=["--no-use-colors"]
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
    from orchestration.childguard import guarded

    target = project.project_dir / project.target_path
    proc = subprocess.run(
        guarded([DBT_EXECUTABLE, "parse", "--quiet", *warehouse_vars(warehouse)]),
        cwd=project.project_dir,
        env={**dbt_env(warehouse), "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)},
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        detail = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        raise DbtError(f"dbt parse failed: {' '.join(detail[-3:]) or f'exit status {proc.returncode}'}")


def run_dbt(
    args: list[str], warehouse: Path | str, project: DbtProject = dbt_project, dbt_vars: Mapping[str, Any] | None = None
) -> None:
    """Run dbt on `warehouse` outside Dagster (tests, benchmarks).

    `dbt_vars`: more dbt variables (e.g. the Kaggle audit's, `ingestion.publish`).
    Raises DbtError naming what failed (`describe_failure`). Artifacts go to a temporary
    folder, removed when dbt is done (also on failure).
    """
    from dagster_dbt.errors import DagsterDbtCliRuntimeError

    resource = dbt_resource(project)
    target = Path(tempfile.mkdtemp(prefix="tunehouse-dbt-"))
    try:
        resource.cli([*args, *warehouse_vars(warehouse, dbt_vars)], target_path=target).wait()
    except DagsterDbtCliRuntimeError as exc:
        raise DbtError(f"dbt {args[0] if args else ''} failed: {describe_failure(target, str(exc))}") from None
    finally:
        shutil.rmtree(target, ignore_errors=True)


#: Dagster's dbt runs each leave a target folder (artifacts and dbt.log, ~12 MB): the newest are
#: kept for looking into a run, older ones removed (a daily build would otherwise add GBs a year).
KEEP_RUN_TARGETS = 10
#: A folder written to this recently may belong to a run still going: never removed.
RUN_TARGET_MIN_AGE_S = 3600.0


def prune_run_targets(target_root: Path, prefix: str, keep: int = KEEP_RUN_TARGETS,
                      min_age_s: float = RUN_TARGET_MIN_AGE_S, now: float | None = None) -> list[Path]:
    """Remove all but the `keep` newest `<prefix>-*` folders of `target_root`; the removed ones."""
    import time

    now = time.time() if now is None else now
    runs = []
    for path in target_root.glob(f"{prefix}-*"):
        with contextlib.suppress(OSError):  # another run removed it meanwhile
            if path.is_dir():
                runs.append((path.stat().st_mtime, path))
    runs.sort(reverse=True)
    removed = [path for mtime, path in runs[keep:] if now - mtime >= min_age_s]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


#: How long dbt gets to stop after SIGINT before it is killed.
STOP_GRACE_S = 10.0


def stop_process(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGINT to `process` (dbt stops cleanly, closing its connections), SIGKILL after `grace_s`."""
    import signal

    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()


@contextlib.contextmanager
def stop_dbt_on_interrupt(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> Iterator[None]:
    """While dbt's output is read in a thread pool: an interrupt stops dbt, then ends the step.

    dagster-dbt's `fetch_row_counts()`/`fetch_column_metadata()` read dbt's events in a
    worker thread while the step's (main) thread polls their futures. Dagster raises its
    interrupt (SIGINT/SIGTERM) as an exception wherever the main thread is; inside that
    polling it can leave a future's lock held and the step waits forever for the worker,
    which itself waits for dbt to finish the whole build (seen in tests, about one kill in
    two). Inside this block a signal only stops dbt (`stop_process`, from a helper thread);
    the stream then ends by itself and Dagster's interrupt is raised here, at a safe point.
    Only in the main thread (elsewhere signals cannot be handled; Dagster does the same).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from dagster import DagsterExecutionInterruptedError

    received: list[int] = []

    def on_signal(signum: int, _frame) -> None:
        if not received:
            threading.Thread(target=stop_process, args=(process, grace_s), name="tunehouse-stop-dbt",
                             daemon=True).start()
        received.append(signum)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, on_signal)
    try:
        yield
    except Exception:
        if received:  # dbt failed because it was stopped: the interrupt is what happened
            raise DagsterExecutionInterruptedError() from None
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        raise DagsterExecutionInterruptedError()


#: run_results.json statuses that fail an invocation ("warn" does not).
_FAILED = ("error", "fail", "runtime error")
#: The first line of dbt's message for a node, e.g. "Runtime Error in model stg_tracks (models/…)".
_HEADER = re.compile(r"^(Runtime|Database|Compilation|Dependency|Parsing|Internal) Error in ")
#: A database error line, e.g. DuckDB's "Binder Error: Referenced column …" or "Conversion Error: …".
_ENGINE_ERROR = re.compile(r"^[A-Z][A-Za-z]*( [A-Z][A-Za-z]*)* Error: ")


def describe_failure(target: Path | str, error_text: str = "") -> str:
    """What failed in the dbt invocation whose artifacts are in `target`, in one line.

    From dbt's `run_results.json`: the first failing node (`test not_null_stg_tracks_views
    failed (3 rows): Got 3 results, configured to fail if != 0`), then how many more failed
    and how many were skipped. Without results (dbt stopped before running anything: a
    parse or connection error), the error lines dbt logged, as dagster-dbt collected them
    in `error_text` (its exception's text).
    """
    path = Path(target) / "run_results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8")).get("results", [])
    except (OSError, ValueError):
        results = []
    failed = [r for r in results if r.get("status") in _FAILED]
    if failed:
        text = _describe_node(failed[0])
        more = len(failed) - 1
        skipped = sum(r.get("status") == "skipped" for r in results)
        if more:
            text += f"; {more} more failed"
        if skipped:
            text += f"; {skipped} node{'s' if skipped != 1 else ''} skipped"
        return text
    return _logged_errors(error_text) or "dbt exited with an error (no run results)"


def _describe_node(result: Mapping[str, Any]) -> str:
    unique_id = str(result.get("unique_id", "?"))
    kind, _, rest = unique_id.partition(".")
    parts = rest.split(".")  # package, name[, hash] — unit tests: package, model, name
    name = parts[2] if kind == "unit_test" and len(parts) > 2 else parts[1] if len(parts) > 1 else unique_id
    relation = str(result.get("relation_name") or "").replace('"', "").split(".")
    if kind in ("model", "seed", "snapshot") and len(relation) >= 2:
        name = ".".join(relation[-2:])  # schema.name, as the tables are queried
    what = {"unit_test": "unit test"}.get(kind, kind)
    if kind == "unit_test" and len(parts) > 2:
        name += f" (model {parts[1]})"
    rows = result.get("failures")
    verb = "failed" + (f" ({rows} row{'s' if rows != 1 else ''})" if kind == "test" and rows else "")
    message = _first_message_line(str(result.get("message") or ""))
    return f"{what} {name} {verb}" + (f": {message}" if message else "")


def _first_message_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if lines and _HEADER.match(lines[0]):
        lines = lines[1:]
    lines = [line for line in lines if not line.startswith("compiled code at ")]
    engine = [line for line in lines if _ENGINE_ERROR.match(line)]
    line = (engine or lines or [""])[0]
    return line if len(line) <= 300 else line[:299] + "…"


def _logged_errors(error_text: str) -> str:
    """dbt's own error lines from a dagster-dbt error's text ("Errors parsed from dbt logs:")."""
    _, found, tail = error_text.partition("Errors parsed from dbt logs:")
    if not found:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Encountered an error")]
    # "Compilation Error in model x (models/x.sql)" + its first detail line
    return " ".join(": ".join(lines[:2]).split())[:400]


def manifest_for_warehouse(manifest_path: Path, warehouse: Path | str) -> dict[str, Any]:
    """The parsed manifest with its relations in `warehouse`'s DuckDB database.

    dbt-duckdb names a relation with the database of the file it was parsed against (DuckDB
    calls the database after the file's stem: `"tunehouse"."marts"."dim_tracks"`), and the
    one manifest serves every warehouse. dagster-dbt reads row counts and columns through
    those names after a run, so they must name this warehouse's database, or the metadata of
    any other warehouse would be looked up in a database that is not attached.
    """
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    if manifest.get("metadata", {}).get("adapter_type") != "duckdb":
        return manifest
    database = Path(warehouse).expanduser().resolve().stem
    for node in [*manifest.get("nodes", {}).values(), *manifest.get("sources", {}).values()]:
        parsed = node.get("database")
        if parsed and parsed != database:
            node["database"] = database
            if (node.get("relation_name") or "").startswith(f'"{parsed}".'):
                node["relation_name"] = f'"{database}".' + node["relation_name"][len(parsed) + 3:]
    return manifest


#: Dagster's metadata key for an asset's code references (links to its source files).
CODE_REFERENCES_KEY = "dagster/code_references"


class TunehouseDbtTranslator(DagsterDbtTranslator):
    """How a dbt node appears in Dagster.

    - key: ``[schema, name]`` for models and seeds (the relation, e.g. ``marts/dim_tracks``);
      sources by their ``meta.dagster.asset_key`` (the Python assets that write ``raw.*``).
    - group: the node's dbt group (``dbt_project/models/_groups.yml``: kaggle → youtube →
      features, the stages of the flow, so the graph reads left to right), else its schema.
    - owners: the dbt group's owner (its ``name``, ``team:…``).
    - tags: ``layer`` (the schema: staging, intermediate, marts) and ``domain`` (the group).
    - code references: the model's SQL file (dagster-dbt's ``enable_code_references``) and
      its YAML file (columns, tests).
    """

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props.get("config", {}).get("group") or dbt_resource_props.get("schema")

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        # dagster-dbt passes the node with "group" replaced by the dbt group's properties.
        group = dbt_resource_props.get("group")
        owner = group.get("owner", {}) if isinstance(group, Mapping) else {}
        return [owner["name"]] if owner.get("name") else super().get_owners(dbt_resource_props)

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        if dbt_resource_props["resource_type"] != "source":
            tags["layer"] = dbt_resource_props["schema"]
            group = dbt_resource_props.get("config", {}).get("group")
            if group:
                tags["domain"] = group
        return tags

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None):
        import warnings

        from dagster import BetaWarning, CodeReferencesMetadataValue, LocalFileCodeReference

        with warnings.catch_warnings():  # code references are a beta API: a warning per model otherwise
            warnings.simplefilter("ignore", BetaWarning)
            spec = super().get_asset_spec(manifest, unique_id, project)
            patch = self.get_resource_props(manifest, unique_id).get("patch_path")  # "tunehouse://models/x.yml"
            if project is None or not patch:
                return spec
            current = spec.metadata.get(CODE_REFERENCES_KEY)
            yaml = LocalFileCodeReference(
                file_path=str(Path(project.project_dir) / patch.split("://", 1)[-1]), label="YAML (columns, tests)"
            )
            references = [*(current.code_references if current else []), yaml]
            return spec.replace_attributes(metadata={
                **spec.metadata, CODE_REFERENCES_KEY: CodeReferencesMetadataValue(code_references=references)
            })
