"""The HTML report: one page with every model × protocol, its trivial baseline, the study's
published figure, and this run's figures beside each other (replication protocol | honest).

Built from :func:`ml.registry.latest_results`, so it shows exactly what ``ml.*`` holds.
Figures are linked relative to the page (``<reports_dir>/ml_report.html``), so the folder
can be copied or served as a whole.

Building it never damages the last good report: the warehouse is only read (a missing
``ml`` schema means "no runs yet", and nothing is created), a warehouse without runs is
refused before any file is touched, the page is rendered in memory, and it replaces the old
one in a single atomic move (:mod:`tunehouse.files`).
"""

from __future__ import annotations

import html
import os
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from ml.registry import ModelResult, latest_results
from tunehouse import files

REPORT_NAME = "ml_report.html"


class NoRunsYet(LookupError):
    """The warehouse holds no finished ML run (or no ``ml`` schema at all): nothing to report."""

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;font-size:13px;margin-bottom:1.5em}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f2f2f2} td.num{text-align:right;font-variant-numeric:tabular-nums}
.yes{color:#1a7f37;font-weight:600}.no{color:#cf222e;font-weight:600}.muted{color:#777}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em;margin-bottom:1.5em}
.pair img{max-width:100%;border:1px solid #ddd} .pub{background:#fff8e1;padding:4px 8px;font-size:12px}
pre{font-size:11px;background:#f7f7f7;padding:6px;overflow:auto;max-height:320px}
"""


def _fmt(v: float | None, std: float | None = None) -> str:
    if v is None:
        return "<span class='muted'>–</span>"
    text = f"{v:.4f}"
    return text + (f" ± {std:.4f}" if std is not None else "")


def _rel(path: str, base: Path) -> str:
    try:
        return html.escape(os.path.relpath(path, base))
    except ValueError:
        return html.escape(path)


def _results_table(results: list[ModelResult]) -> str:
    rows = []
    for r in sorted(results, key=lambda r: (r.family, r.task or "", r.model, r.protocol)):
        split, value, std = r.headline()
        base = r.baseline_value()
        beats = r.beats_baseline()
        pub = r.published_value()
        status = html.escape(r.status + (f": {r.status_reason}" if r.status_reason else ""))
        verdict = ("<span class='muted'>–</span>" if beats is None or r.is_baseline
                   else "<span class='yes'>yes</span>" if beats else "<span class='no'>no</span>")
        rows.append(
            "<tr>"
            f"<td>{html.escape(r.family)}</td><td>{html.escape(r.task or '')}</td><td>{html.escape(r.model)}</td>"
            f"<td>{html.escape(r.protocol)}</td><td>{status}</td>"
            f"<td>{html.escape(r.primary_metric or '')}{' (' + split + ')' if split else ''}</td>"
            f"<td class='num'>{_fmt(value, std)}</td><td class='num'>{_fmt(base)}</td><td>{verdict}</td>"
            f"<td class='num'>{_fmt(pub[0]) if pub else _fmt(None)}</td>"
            f"<td>{html.escape(pub[1]) if pub else ''}</td>"
            f"<td class='num'>{_fmt(r.duration_s)}</td>"
            "</tr>"
        )
    head = ("<tr><th>family</th><th>task</th><th>model</th><th>protocol</th><th>status</th><th>metric</th>"
            "<th>this run</th><th>trivial baseline</th><th>beats baseline</th><th>study's figure</th>"
            "<th>study's source</th><th>seconds</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _artifact_html(a: dict, base: Path) -> str:
    title = html.escape(a["title"] or a["name"])
    rel = _rel(a["path"], base)
    if not Path(a["path"]).exists():
        body = f"<p class='muted'>missing file {html.escape(a['path'])}</p>"
    elif a["kind"] == "png":
        body = f"<a href='{rel}'><img src='{rel}' alt='{title}'></a>"
    elif a["kind"] == "html":
        body = f"<p><a href='{rel}'>open the interactive figure</a></p>"
    elif a["kind"] == "txt":
        text = Path(a["path"]).read_text(encoding="utf-8", errors="replace")
        body = f"<pre>{html.escape(text)}</pre>"
    else:
        body = f"<p><a href='{rel}'>{rel}</a></p>"
    pub = f"<div class='pub'>Study: {html.escape(a['published'])}</div>" if a.get("published") else ""
    return f"<div><h4>{title}</h4>{pub}{body}</div>"


def _figures(results: list[ModelResult], base: Path) -> str:
    """Figures grouped by family and figure name: replication protocol on the left, honest on the right."""
    groups: dict[str, dict[str, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for r in results:
        for a in r.artifacts:
            groups[r.family][a["name"]].setdefault(r.protocol, a)
    out = []
    for family in sorted(groups):
        out.append(f"<h2>{html.escape(family)}</h2>")
        for name in sorted(groups[family]):
            by_protocol = groups[family][name]
            cells = []
            seen_paths = set()
            for protocol in ("replication", "honest"):
                a = by_protocol.get(protocol)
                if a is None or a["path"] in seen_paths:
                    cells.append(f"<div class='muted'>{protocol}: same figure as beside, or none</div>"
                                 if a is not None or protocol == "honest" else "<div></div>")
                    continue
                seen_paths.add(a["path"])
                cells.append(f"<div><b>{protocol} protocol</b>{_artifact_html(a, base)}</div>")
            out.append(f"<div class='pair'>{''.join(cells)}</div>")
    return "".join(out)


def build_report(
    warehouse: Path | str, reports_dir: Path | str, results: list[ModelResult] | None = None
) -> Path:
    """Write ``<reports_dir>/ml_report.html`` from ml.* and return its path.

    ``results`` are the warehouse's :func:`~ml.registry.latest_results` when the caller has
    them already (the asset also puts them in its metadata). Raises :class:`NoRunsYet`
    before touching any file when there is nothing to report; on any error the previous
    report stays as it was.
    """
    if results is None:
        results = latest_results(warehouse)
    if not results:
        raise NoRunsYet(f"no ML runs in {warehouse} yet; run `tunehouse train` first")
    path = Path(reports_dir) / REPORT_NAME
    return files.write_text(path, render_report(results, path.parent))


def render_report(results: list[ModelResult], base: Path) -> str:
    """The report page for ``results``; figures are linked relative to ``base`` (the page's folder)."""
    version = next((r.data_version for r in results if r.data_version), {})
    supervised = [r for r in results if r.primary_metric in ("accuracy", "r2") and not r.is_baseline
                  and r.protocol == "honest" and r.status == "succeeded"]
    beaten = sum(1 for r in supervised if r.beats_baseline())
    skipped = [r for r in results if r.status == "skipped"]
    page = [
        "<!doctype html><html><head><meta charset='utf-8'><title>tunehouse ML report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>tunehouse ML report</h1>",
        f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from schema <code>ml</code>. Data: Kaggle load "
        f"{html.escape(str(version.get('kaggle_load_id')))} ({html.escape(str(version.get('kaggle_file')))}), "
        f"{version.get('rows', '?')} rows after filters; YouTube crawl: "
        f"{html.escape(str(version.get('crawl_id') or 'none (Kaggle counts stand in)'))}.</p>",
        "<p><b>Protocols.</b> <i>replication</i> reproduces the study's random splits and features for comparison "
        "with its published figures. <i>honest</i> splits by artist (no artist in both train and test), "
        "rejects features that leak the target, and cross-validates (mean ± std over folds). "
        "Each model is compared with a trivial baseline (majority class / mean predictor; random labels for "
        "clustering silhouette).</p>",
        f"<p>Honest protocol: <b>{beaten} of {len(supervised)}</b> supervised models beat their trivial "
        f"baseline; {len(skipped)} run(s) skipped (reason in the table).</p>",
        "<h2>Results</h2>",
        _results_table(results),
        _figures(results, base),
        "</body></html>",
    ]
    return "".join(page)
