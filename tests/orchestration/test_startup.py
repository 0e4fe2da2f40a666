"""What a command costs to start, and how it fails: imports (checked in fresh interpreters),
usage errors in one line, and no module writing the process environment."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tunehouse.settings import PROJECT_ROOT

#: Top-level packages a command must not import unless it needs them.
HEAVY = ("dagster", "dagster_dbt", "dbt", "sklearn", "torch", "xgboost")
#: What loading the Dagster definitions must not import (model code runs inside asset bodies).
MODEL_LIBRARIES = ("torch", "sklearn", "xgboost")

REPORT_LOADED = """
import json as _json, sys as _sys
with open({out!r}, "w") as _f:
    _json.dump(sorted({{name.split(".")[0] for name in _sys.modules}}), _f)
"""


def loaded_after(code: str, *args: str) -> tuple[set[str], subprocess.CompletedProcess]:
    """Top-level modules loaded after running `code` in a fresh interpreter, and the process."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "modules.json"
        proc = subprocess.run([sys.executable, "-c", code + REPORT_LOADED.format(out=str(out)), *args],
                              capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return set(json.loads(out.read_text())), proc


def test_importing_orchestration_and_the_cli_imports_nothing_heavy():
    loaded, _ = loaded_after("import orchestration, orchestration.cli, orchestration.cli.app")
    assert "typer" in loaded  # the check sees what was imported
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_sql_query_costs_about_what_duckdb_costs(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE TABLE t AS SELECT 42 AS answer")
    code = (
        "import sys\n"
        "from orchestration.cli import main\n"
        "try:\n"
        "    main(['sql', 'select answer from t', '--format', 'json', '--warehouse', sys.argv[1]])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
    )
    loaded, proc = loaded_after(code, str(warehouse))
    assert json.loads(proc.stdout) == [{"answer": 42}]
    assert "duckdb" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize("command", [["--help"], ["sql", "--help"], ["emulator", "--help"], ["train", "--help"]])
def test_help_imports_nothing_heavy(command):
    code = (
        "import sys\n"
        "from orchestration.cli import main\n"
        "try:\n"
        f"    main({command!r})\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
    )
    loaded, proc = loaded_after(code)
    assert "Usage" in proc.stdout
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_loading_the_dagster_definitions_imports_no_model_library(tmp_path):
    # What `dagster dev` does: import the module, build the definitions, resolve every job.
    code = (
        "import sys\n"
        "import orchestration.definitions as d\n"
        "from tunehouse.settings import load_settings\n"
        "defs = d.build_definitions(load_settings(warehouse=sys.argv[1]))\n"
        "graph = defs.resolve_asset_graph()\n"
        "assert any(k.path[0] == 'ml' for k in graph.get_all_asset_keys())\n"
        "for job in defs.resolve_all_job_defs(): pass\n"
    )
    loaded, _ = loaded_after(code, str(tmp_path / "w.duckdb"))
    assert {"dagster", "dagster_dbt"} <= loaded
    assert not loaded & set(MODEL_LIBRARIES), sorted(loaded & set(MODEL_LIBRARIES))


def tunehouse(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=PROJECT_ROOT)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["no-such-command"], "No such command 'no-such-command'"),
        (["sql"], "Missing argument 'query'"),
        (["sql", "select 1", "--format", "xml"], "'xml' is not one of"),
        (["sql", "select 1", "--no-such-option"], "No such option: --no-such-option"),
        (["train", "--protocol", "report"], "'report' is not one of 'replication', 'honest'"),
        (["train", "--only", "nosuchmodel"], "unknown family or model 'nosuchmodel'"),
    ],
)
def test_usage_errors_are_one_line_without_traceback(args, fragment):
    proc = tunehouse(*args)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_bare_command_prints_the_help():
    proc = tunehouse()
    assert proc.returncode == 0 and "Usage" in proc.stdout and "sql" in proc.stdout


def test_a_bad_setting_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "sql", "select 1", "--warehouse", str(tmp_path / "w.duckdb")],
        capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
        env={**__import__("os").environ, "TUNEHOUSE_LOCK_TIMEOUT_S": "soon"},
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1 and "lock_timeout_s" in lines[0], proc.stderr


# Writing the process environment, in any spelling (reading it is fine).
ENV_WRITES = re.compile(
    r"os\.environ\s*\[[^\]]+\]\s*=(?!=)"
    r"|os\.environ\.(setdefault|pop|popitem|update|clear)\s*\("
    r"|\b(putenv|unsetenv)\s*\("
    r"|del\s+os\.environ"
)


@pytest.mark.parametrize("package", ["orchestration", "warehouse", "ingestion", "ml", "tunehouse"])
def test_no_module_writes_the_environment(package):
    writes = [
        f"{path.relative_to(PROJECT_ROOT)}:{n}: {line.strip()}"
        for path in sorted((PROJECT_ROOT / package).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ENV_WRITES.search(line)
    ]
    assert not writes, "\n".join(writes)


def test_the_env_write_pattern_catches_writes_and_not_reads():
    writes = ['os.environ["X"] = "1"', "os.environ.setdefault('X', '1')", "os.environ.pop('X', None)",
              "os.putenv('X', '1')", "del os.environ['X']", "os.environ.update(X='1')"]
    reads = ['os.environ["X"]', "os.environ.get('X')", 'os.environ["X"] == "1"', "{**os.environ, 'X': '1'}"]
    assert all(ENV_WRITES.search(w) for w in writes)
    assert not any(ENV_WRITES.search(r) for r in reads)


def test_run_dbt_removes_its_temporary_folder_also_on_failure(tmp_path, monkeypatch):
    import tempfile

    from orchestration.dbt import run_dbt

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    run_dbt(["parse"], tmp_path / "w.duckdb")
    assert list(scratch.iterdir()) == []
    with pytest.raises(Exception):
        run_dbt(["parse", "--no-such-dbt-flag"], tmp_path / "w.duckdb")
    assert list(scratch.iterdir()) == []
    assert not Path(tmp_path / "w.duckdb").exists()  # parsing opens no warehouse
