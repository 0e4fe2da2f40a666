"""Start-up cost of the CLI and of the Dagster code location, beside a bare DuckDB import.

Each command runs as a fresh process (what a user pays on every invocation), round-robin
so that noise hits every command alike; medians over N rounds, and the ratio of each
to `python -c "import duckdb"` measured in the same rounds.

    .venv/bin/python -m bench.bench_startup [ROUNDS] [OLD_CHECKOUT]

OLD_CHECKOUT (e.g. `git worktree add /tmp/old <rev>`) adds the same CLI commands run from
that checkout's code with this venv, for a before/after in the same rounds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import machine, median
from tunehouse.settings import PROJECT_ROOT

BIN = Path(sys.executable).parent


def _commands(warehouse: Path, old: Path | None) -> dict[str, list[str]]:
    before = {} if old is None else {
        f"before ({old.name}): tunehouse --help": [sys.executable, "-m", "orchestration.cli", "--help"],
        f'before ({old.name}): tunehouse sql "select 1"': [
            sys.executable, "-m", "orchestration.cli", "sql", "select 1", "--warehouse", str(warehouse)],
    }
    return {
        'python -c "import duckdb"': [sys.executable, "-c", "import duckdb"],
        "tunehouse --help": [str(BIN / "tunehouse"), "--help"],
        'tunehouse sql "select 1"': [str(BIN / "tunehouse"), "sql", "select 1", "--warehouse", str(warehouse)],
        "import orchestration.definitions": [sys.executable, "-c", "import orchestration.definitions"],
        # What `dagster dev` does when it loads the code location: build every definition.
        "load the Dagster definitions (code location)": [
            sys.executable, "-c",
            "from orchestration.definitions import build_definitions; from tunehouse.settings import load_settings; "
            f"build_definitions(load_settings(warehouse={str(warehouse)!r}))"],
        **before,
    }


def _run(cmd: list[str], old: Path | None) -> float:
    # Only the "before" commands run from the old checkout (its code first on sys.path).
    env = {**os.environ, "PYTHONPATH": str(old)} if old is not None and cmd[1:3] == ["-m", "orchestration.cli"] else None
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=old if env else PROJECT_ROOT, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return elapsed


def main(rounds: int | None = None, old: Path | None = None) -> dict[str, float]:
    rounds = rounds or (int(sys.argv[1]) if len(sys.argv) > 1 else 15)
    old = old or (Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else None)
    with tempfile.TemporaryDirectory(prefix="tunehouse-bench-startup-") as tmp:
        warehouse = Path(tmp) / "startup.duckdb"
        import duckdb

        duckdb.connect(str(warehouse)).close()  # `tunehouse sql` reads an existing file
        commands = _commands(warehouse, old)
        for cmd in commands.values():  # warm the OS file cache and __pycache__ once
            _run(cmd, old)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, cmd in commands.items():
                times[name].append(_run(cmd, old))
    medians = {name: median(values) for name, values in times.items()}
    base = medians['python -c "import duckdb"']
    print(f"{machine()}; {rounds} rounds, each command a fresh process, medians")
    print("| command | median s | min s | max s | × import duckdb |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {medians[name]:.3f} | {min(values):.3f} | {max(values):.3f} | "
              f"{medians[name] / base:.2f} |")
    return medians


if __name__ == "__main__":
    main()
