"""The report and figures replace their files only when complete, and leave a warehouse as it was when
there is nothing to report; each warehouse has its own reports folder by default."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tunehouse.settings import default_reports_dir, load_settings

#: What a previous, good report looked like (its bytes must survive a failed rebuild).
OLD_REPORT = ("<!doctype html><html><body><h1>tunehouse ML report</h1>"
              + "<tr><td>xgboost</td><td>0.7123</td></tr>" * 400 + "</body></html>").encode()


def tunehouse(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)


def schemata(warehouse: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return sorted(con.execute("SELECT catalog_name, schema_name FROM information_schema.schemata").fetchall())
    finally:
        con.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record_run(warehouse: Path, reports: Path, model: str, accuracy: float) -> None:
    """One finished classification run with a figure, written through ml.tracking as a family would."""
    from ml import plots
    from ml.tracking import tracked_run

    fig, ax = plots.new_figure()
    ax.plot([0, 1], [0, accuracy])
    png = plots.save_png(fig, plots.figure_path(reports, "classification", "honest", f"{model}_curve"))
    with tracked_run(warehouse, asset="ml/classification", family="classification", model=model,
                     protocol="honest", task="stream_gap_label") as run:
        run.log_metrics({"accuracy": accuracy}, split="test")
        run.log_artifact(f"{model}_curve", png, title=f"{model} curve")


def no_ml_schema(path: Path) -> None:
    """A warehouse that never saw tunehouse's ML code (no ml schema at all)."""
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA raw; CREATE TABLE raw.kaggle_tracks (track_id INTEGER)")
    con.close()


def empty_ml_schema(path: Path) -> None:
    """A warehouse whose ml.* tables exist (every tunehouse write applies the DDL) but hold no run."""
    from warehouse import ensure_schema, write_connection

    with write_connection(path) as con:
        ensure_schema(con)


@pytest.mark.parametrize("make_warehouse", [no_ml_schema, empty_ml_schema])
def test_failing_report_leaves_the_old_report_and_the_warehouse_as_they_were(make_warehouse, tmp_path, monkeypatch):
    warehouse = tmp_path / "w.duckdb"
    make_warehouse(warehouse)
    monkeypatch.delenv("TUNEHOUSE_REPORTS_DIR")  # the default folder, where the CLI puts it for a user
    report = default_reports_dir(warehouse) / "ml_report.html"
    report.parent.mkdir(parents=True)
    report.write_bytes(OLD_REPORT)
    before = (schemata(warehouse), digest(warehouse), sorted(os.listdir(report.parent)))

    proc = tunehouse("report", "--warehouse", str(warehouse), env=dict(os.environ))

    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert len(lines) == 1 and "no ML runs in" in lines[0] and "tunehouse train" in lines[0], proc.stderr
    assert report.read_bytes() == OLD_REPORT
    assert (schemata(warehouse), digest(warehouse), sorted(os.listdir(report.parent))) == before
    # spelled out: the warehouse without an ml schema still has none
    assert ("ml" in {schema for _, schema in schemata(warehouse)}) == (make_warehouse is empty_ml_schema)


@pytest.mark.parametrize("where", ["rendering", "moving into place"])
def test_report_interrupted_mid_build_keeps_the_previous_report(where, tmp_path, monkeypatch):
    import ml.report
    from ml.report import build_report

    warehouse, reports = tmp_path / "w.duckdb", tmp_path / "reports"
    record_run(warehouse, reports, "xgboost", 0.71)
    good = build_report(warehouse, reports)
    previous = good.read_bytes()
    assert b"xgboost" in previous and b"xgboost_curve.png" in previous
    record_run(warehouse, reports, "random_forest", 0.69)  # the next build would differ

    def interrupted(*args, **kwargs):
        raise RuntimeError(f"interrupted while {where}")

    if where == "rendering":  # after the table is rendered, before the page is complete
        monkeypatch.setattr(ml.report, "_figures", interrupted)
    else:
        monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(RuntimeError, match="interrupted"):
        build_report(warehouse, reports)

    assert good.read_bytes() == previous
    assert sorted(p.name for p in reports.iterdir()) == ["figures", "ml_report.html"]  # no temporary file
    monkeypatch.undo()
    assert b"random_forest" in build_report(warehouse, reports).read_bytes()


def test_a_figure_that_fails_to_save_keeps_the_previous_figure(tmp_path):
    import matplotlib.pyplot as plt

    from ml import plots

    path = plots.figure_path(tmp_path, "clustering", "honest", "elbow")
    fig, ax = plots.new_figure()
    ax.plot([1, 2, 3])
    plots.save_png(fig, path)
    previous = path.read_bytes()
    assert previous.startswith(b"\x89PNG")

    fig, ax = plots.new_figure()
    real_savefig = fig.savefig

    def savefig_then_fail(handle, **kwargs):
        real_savefig(handle, **kwargs)  # the PNG is (partly) written...
        raise OSError("no space left on device")  # ...then the disk fills up

    fig.savefig = savefig_then_fail
    with pytest.raises(OSError, match="no space left"):
        plots.save_png(fig, path)
    assert path.read_bytes() == previous
    assert os.listdir(path.parent) == ["elbow.png"]
    assert not plt.fignum_exists(fig.number)  # closed even though saving failed


def test_html_figures_share_one_plotly_bundle_beside_them(tmp_path):
    import plotly.graph_objects as go

    from ml import plots

    first = plots.save_html(go.Figure(go.Scatter(y=[1, 2])), plots.figure_path(tmp_path, "c", "honest", "a", "html"))
    plots.save_html(go.Figure(go.Scatter(y=[3, 4])), plots.figure_path(tmp_path, "c", "honest", "b", "html"))
    assert sorted(os.listdir(first.parent)) == ["a.html", "b.html", "plotly.min.js"]
    assert 'src="plotly.min.js"' in first.read_text(encoding="utf-8")
    assert len((first.parent / "plotly.min.js").read_bytes()) > 1_000_000  # the whole bundle: opens offline


def test_two_warehouses_get_two_report_folders(tmp_path, monkeypatch):
    monkeypatch.delenv("TUNEHOUSE_REPORTS_DIR")
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    folders = {w: load_settings(warehouse=w).reports_dir for w in (a, b)}
    assert folders == {a: tmp_path / "reports" / "a", b: tmp_path / "reports" / "b"}

    # End to end, as a user runs it: each warehouse's report lands in its own folder, and the
    # command says where.
    for warehouse, model in ((a, "xgboost"), (b, "random_forest")):
        record_run(warehouse, folders[warehouse], model, 0.7)
    for warehouse, model in ((a, "xgboost"), (b, "random_forest")):
        proc = tunehouse("report", "--warehouse", str(warehouse), env=dict(os.environ))
        report = folders[warehouse] / "ml_report.html"
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"{report} ("), proc.stdout
    assert b"xgboost" in (folders[a] / "ml_report.html").read_bytes()
    assert b"xgboost" not in (folders[b] / "ml_report.html").read_bytes()
    assert b"random_forest" in (folders[b] / "ml_report.html").read_bytes()

    monkeypatch.setenv("TUNEHOUSE_REPORTS_DIR", str(tmp_path / "elsewhere"))  # the setting still wins
    assert load_settings(warehouse=a).reports_dir == tmp_path / "elsewhere"
