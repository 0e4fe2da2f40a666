"""The malformed-CSV campaign (issue #9, findings 1-3): every variant ends well or clearly.

Each variant of the built-in sample (and of the real Kaggle file when present) is ingested
into a copy of a warehouse where the unchanged file is the current load, with the Kaggle
models built, through
`ingest_csv` in process or the real `tunehouse ingest` subprocess. What must happen is
read independently (`csv_oracle`: Python's csv module and the documented value rules):

- a file the oracle refuses → a clear error: one line naming the file (CsvFileError, or
  exit 1 with one `error:` line and no traceback), the warehouse byte for byte (or, when
  the load got as far as a rolled-back transaction, table for table) unchanged;
- a file it reads → a load whose rows equal the oracle's good records and whose quarantine
  holds exactly its bad records (their lines, the blamed fields); published and current,
  or kept as `rejected` when it keeps fewer than 90 % of the current load's rows or breaks
  a dbt test, with every relation outside raw.* unchanged.

Never a crash (anything else), never silent loss (records neither loaded nor quarantined).
By default a seeded sample of 48 runs (`_in_default_sample`); the whole campaign (≥ 200 variants)
is `pytest -m campaign tests/reliability/test_csv_campaign.py -s`, which prints the figures
docs/reliability.md quotes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from ingestion.kaggle_csv import CsvFileError, LoadRejected, ingest_csv
from tests.reliability import csv_oracle
from tests.reliability.csv_variants import KINDS, Variant, make, variants

#: Variants per kind in the full campaign (20 kinds): 8 of the sample, 3 of the real file = 220.
CAMPAIGN_PER_KIND = {"sample": 8, "real": 3}
#: The default sample (48 variants). Kinds that mostly end before the audit (a file-level error,
#: or a shrink rejection) are cheap: three each, the second through the CLI. A load costs a dbt
#: audit: one each, two (the second through the CLI) for the findings' own kinds.
CHEAP_KINDS = ("byte_flip", "encoding", "header", "nul", "binary", "directory", "symlink", "empty", "truncate")
TWICE_KINDS = ("non_finite", "line_endings", "open_quote", "dbt_rule")
#: Kinds of the real file that also run by default (its own quirks: 20,718 rows, no Description).
DEFAULT_REAL_KINDS = ("truncate_tail", "non_finite", "line_endings", "open_quote", "short_last", "dbt_rule")


def _in_default_sample(variant: Variant) -> bool:
    if variant.base == "real":
        return variant.index == 0 and variant.kind in DEFAULT_REAL_KINDS
    if variant.kind in CHEAP_KINDS:
        return variant.index < 3
    return variant.index < (2 if variant.kind in TWICE_KINDS else 1)

#: Where a rejected load is expected to show: the raw tables, and the list of every load.
LOAD_TABLES = ("raw.kaggle_loads", "raw.kaggle_tracks", "raw.kaggle_quarantine", "staging.stg_kaggle_loads")
RESULTS: list[dict] = []


def _params(full: bool):
    """The full campaign (`full`), or the default sample: the first variants of each kind."""
    params = []
    for base, per_kind in CAMPAIGN_PER_KIND.items():
        for variant in variants(base, per_kind):
            if not full and not _in_default_sample(variant):
                continue
            marks = [pytest.mark.xdist_group("csv_campaign")]
            if base == "real":
                marks.append(pytest.mark.real_data)
            params.append(pytest.param(variant, id=variant.id, marks=marks))
    return params


pytestmark = pytest.mark.slow


# --- warehouses ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bases(request, sample_csv, tmp_path_factory):
    """base name → (the unchanged CSV, a warehouse where it is the current load), built once, lazily.

    The warehouse has every model built from the Kaggle load (the audit's selection, in the
    real schemas): what a variant must leave unchanged or make follow the new load.
    """
    built: dict[str, tuple[Path, Path]] = {}

    def get(name: str) -> tuple[Path, Path]:
        if name not in built:
            from ingestion.publish import AUDIT_SELECT
            from orchestration.dbt import run_dbt

            csv_path = sample_csv if name == "sample" else request.getfixturevalue("real_csv")
            template = tmp_path_factory.mktemp(f"{name}_template") / "warehouse.duckdb"
            ingest_csv(csv_path, template)
            run_dbt(["build", *AUDIT_SELECT], template)
            built[name] = (csv_path, template)
        return built[name]

    return get


def _relations(con) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() ORDER BY 1, 2"
    ).fetchall()


def _state(path: Path, except_load: int | None = None) -> dict:
    """Every relation's row count and content hash (rows of load `except_load` left out of LOAD_TABLES)."""
    with duckdb.connect(str(path), read_only=True) as con:
        state = {}
        for schema, name in _relations(con):
            where = ""
            if except_load is not None and f"{schema}.{name}" in LOAD_TABLES:
                where = f" WHERE load_id <> {int(except_load)}"
            state[(schema, name)] = con.execute(
                f'SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM "{schema}"."{name}" AS t{where}'
            ).fetchone()
        return state


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- running one variant -------------------------------------------------------------------------


def _run(variant: Variant, path: Path, warehouse: Path) -> tuple[str, str]:
    """('ok'|'error'|'crash', detail) of ingesting `path`."""
    if variant.via_cli:
        proc = subprocess.run(
            [sys.executable, "-m", "orchestration.cli", "ingest", str(path), "--warehouse", str(warehouse)],
            capture_output=True, text=True, timeout=900,
        )
        output = proc.stdout + proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        if "Traceback" in output or proc.returncode not in (0, 1):
            return "crash", f"exit {proc.returncode}: {output[-2000:]}"
        if proc.returncode == 1:
            if len(errors) != 1:
                return "crash", f"{len(errors)} error lines: {proc.stderr[-2000:]}"
            return "error", errors[0]
        return "ok", proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
    try:
        result = ingest_csv(path, warehouse)
    except CsvFileError as exc:
        message = str(exc)
        if "\n" in message:
            return "crash", f"multi-line error: {message!r}"
        return "error", message
    except Exception as exc:  # noqa: BLE001 - the campaign counts it
        return "crash", f"{type(exc).__name__}: {exc}"
    return "ok", repr(result)


def _loads(warehouse: Path) -> dict[int, tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT load_id, status, status_reason, row_count, quarantined_count, file_sha256 FROM raw.kaggle_loads"
        ).fetchall()}


def _check_rows(warehouse: Path, load_id: int, expected: csv_oracle.Expected) -> list[str]:
    """Problems (empty: none) between load `load_id` and the oracle's good and bad records."""
    problems = []
    columns = [c for c in expected.columns]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        got = con.execute(
            f"SELECT source_row_number, {', '.join(columns)} FROM raw.kaggle_tracks WHERE load_id = ? "
            "ORDER BY source_row_number", [load_id],
        ).fetchall()
        quarantined = con.execute(
            "SELECT line, list(DISTINCT field) FROM raw.kaggle_quarantine WHERE load_id = ? GROUP BY line",
            [load_id],
        ).fetchall()
    want = [(number, *(values.get(c) for c in columns)) for number, values in sorted(expected.good.items())]
    got = [tuple(float(v) if isinstance(v, int) and not isinstance(v, bool) and i > 0 else v
                 for i, v in enumerate(row)) for row in got]
    if got != want:
        missing = sorted({w[0] for w in want} - {g[0] for g in got})[:5]
        extra = sorted({g[0] for g in got} - {w[0] for w in want})[:5]
        differ = [w[0] for w, g in zip(want, got, strict=False) if w != g][:3]
        problems.append(f"good rows differ: {len(got)} loaded, {len(want)} expected; missing records {missing}, "
                        f"unexpected {extra}, first differing {differ}")
    # The Kaggle file's first column (the row index) has an empty name: a blamed "" is a field.
    lines = {line: set(f for f in fields if f is not None) for line, fields in quarantined}
    if set(lines) != set(expected.bad.values()):
        problems.append(f"quarantined lines {sorted(lines)[:10]} != bad records' lines "
                        f"{sorted(expected.bad.values())[:10]}")
    for line, blamed in expected.bad_fields.items():
        if line in lines and not blamed <= lines[line]:
            problems.append(f"line {line}: quarantine blames {sorted(lines[line])}, expected {sorted(blamed)}")
    return problems


@pytest.mark.parametrize("variant", _params(full=False))
def test_malformed_csv_ends_in_a_clear_error_or_an_exact_load(variant, bases, tmp_path):
    """The default sample of the campaign."""
    _campaign_case(variant, bases, tmp_path, "sample")


@pytest.mark.campaign
@pytest.mark.parametrize("variant", _params(full=True))
def test_campaign_malformed_csv(variant, bases, tmp_path):
    """The whole campaign: every variant (`pytest -m campaign`)."""
    _campaign_case(variant, bases, tmp_path, "campaign")


def _campaign_case(variant, bases, tmp_path, mode):
    base_csv, template = bases(variant.base)
    path = make(variant, base_csv.read_bytes(), tmp_path / "variant")
    expected = csv_oracle.expect_path(path)
    if isinstance(expected, bytes):
        data = expected
        expected = csv_oracle.expect(data)
        same_as_base = data == base_csv.read_bytes()
    else:
        same_as_base = False
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(template, warehouse)
    sha_before, state_before = _sha(warehouse), _state(warehouse)
    loads_before = _loads(warehouse)
    (current_id,) = [i for i, r in loads_before.items() if r[0] == "published"]
    current_rows = loads_before[current_id][2]

    outcome, detail = _run(variant, path, warehouse)
    record = {"mode": mode, "variant": variant.id, "base": variant.base, "kind": variant.kind, "cli": variant.via_cli,
              "expected": expected.kind, "outcome": outcome, "detail": detail[:300], "crash": outcome == "crash",
              "silent_loss": False, "mismatch": False, "result": None}
    problems: list[str] = []
    try:
        if outcome == "crash":
            problems.append(f"crash: {detail}")
        elif expected.kind == "error":
            record["result"] = "clear error"
            if outcome != "error":
                problems.append(f"loaded a file the oracle refuses ({expected.why}): {detail}")
            elif str(path) not in detail and path.name not in detail:
                problems.append(f"the error does not name the file: {detail}")
            elif "rejected" in detail:
                problems.append(f"rejected as a load, but the file should be refused ({expected.why}): {detail}")
            if _sha(warehouse) != sha_before:
                record["result"] = "clear error (table for table)"
                if _state(warehouse) != state_before:
                    problems.append("the warehouse changed")
        elif same_as_base:
            record["result"] = "already loaded"
            if outcome != "ok" or _loads(warehouse).keys() != loads_before.keys():
                problems.append(f"the current file again must be 'already loaded': {detail}")
        else:
            problems += _check_load(variant, path, warehouse, expected, outcome, detail, record,
                                    current_id, current_rows, state_before)
    finally:
        record["mismatch"] = bool(problems) and not record["crash"] and not record["silent_loss"]
        record["problems"] = problems
        RESULTS.append(record)
    assert not problems, f"{variant.id} ({path.name}): " + "; ".join(problems)


def _check_load(variant, path, warehouse, expected, outcome, detail, record, current_id, current_rows,
                state_before) -> list[str]:
    problems = []
    new = {i: r for i, r in _loads(warehouse).items() if i != current_id}
    if len(new) != 1:
        if outcome == "error":
            problems.append(f"refused a file the oracle reads ({len(expected.good)} good rows): {detail}")
        else:
            problems.append(f"{len(new)} new loads after ingesting one file")
        return problems
    ((load_id, (status, reason, rows, quarantined, _sha)),) = new.items()
    mismatch = _check_rows(warehouse, load_id, expected)
    if mismatch or rows + quarantined != len(expected.good) + len(expected.bad):
        record["silent_loss"] = True
        problems += mismatch or [f"{rows} rows + {quarantined} quarantined != {len(expected.good)} + "
                                 f"{len(expected.bad)} records"]
    truncated = len(expected.good) < 0.9 * current_rows
    should_reject = truncated or expected.dbt_failure is not None
    if should_reject:
        record["result"] = "rejected load"
        cause = "probably truncated" if truncated else "dbt"
        if status != "rejected" or outcome != "error" or cause not in (reason or ""):
            problems.append(f"expected a rejection ({cause}); got status {status} ({reason}), {outcome}: {detail}")
        elif str(path) not in detail and path.name not in detail:
            problems.append(f"the error does not name the file: {detail}")
        after = _state(warehouse, except_load=load_id)
        if after != state_before:
            changed = sorted(k for k in set(after) | set(state_before) if after.get(k) != state_before.get(k))
            problems.append(f"a rejected load changed {changed}")
    else:
        record["result"] = "quarantined load" if quarantined else "clean load"
        if status != "published" or outcome != "ok":
            problems.append(f"expected a published load; got status {status} ({reason}), {outcome}: {detail}")
        with duckdb.connect(str(warehouse), read_only=True) as con:
            latest = con.execute("SELECT load_id FROM staging.stg_kaggle_loads WHERE is_latest").fetchall()
            shown = con.execute("SELECT DISTINCT load_id FROM staging.stg_tracks").fetchall()
            audit = con.execute("SELECT count(*) FROM information_schema.schemata "
                                "WHERE schema_name LIKE 'audit_kaggle_%'").fetchone()[0]
        if latest != [(load_id,)] or shown != [(load_id,)] or audit:
            problems.append(f"the published load is not current everywhere: latest {latest}, stg_tracks {shown}, "
                            f"{audit} audit schemas left")
    return problems


# --- the figures --------------------------------------------------------------------------------


def _figures(request, tmp_path_factory, mode: str) -> dict:
    results = [r for r in RESULTS if r["mode"] == mode]
    if not results:
        pytest.skip("no variant ran in this process (deselected, or on another xdist worker)")
    counts = Counter(r["result"] or r["outcome"] for r in results)
    figures = {
        "variants": len(results),
        "by_base": dict(Counter(r["base"] for r in results)),
        "through_cli": sum(r["cli"] for r in results),
        "kinds": len({r["kind"] for r in results}),
        "clear_errors": counts["clear error"] + counts["clear error (table for table)"],
        "clear_errors_table_for_table": counts["clear error (table for table)"],
        "rejected_loads": counts["rejected load"],
        "quarantined_loads": counts["quarantined load"],
        "clean_loads": counts["clean load"],
        "already_loaded": counts["already loaded"],
        "crashes": sum(r["crash"] for r in results),
        "silent_loss": sum(r["silent_loss"] for r in results),
        "mismatches": sum(r["mismatch"] for r in results),
    }
    out = tmp_path_factory.getbasetemp() / f"csv_{mode}.json"
    out.write_text(json.dumps({"figures": figures, "variants": results}, indent=1, default=str), encoding="utf-8")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\nCSV {mode}: {json.dumps(figures)}\n  details: {out}")
    return figures


def test_sample_figures(request, tmp_path_factory):
    """Runs after the default sample (pytest keeps file order): no crash, no silent loss."""
    figures = _figures(request, tmp_path_factory, "sample")
    assert figures["crashes"] == 0 and figures["silent_loss"] == 0 and figures["mismatches"] == 0, figures


@pytest.mark.campaign
def test_campaign_figures(request, tmp_path_factory):
    """Runs after the whole campaign: its figures (docs/reliability.md), no crash, no silent loss."""
    figures = _figures(request, tmp_path_factory, "campaign")
    assert figures["crashes"] == 0 and figures["silent_loss"] == 0 and figures["mismatches"] == 0, figures


def test_the_campaign_has_the_promised_size():
    full = [v for base, n in CAMPAIGN_PER_KIND.items() for v in variants(base, n)]
    assert len(full) >= 200 and len({v.id for v in full}) == len(full)
    assert {v.kind for v in full} == set(KINDS) and any(v.via_cli for v in full)
