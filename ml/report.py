"""The HTML report: one self-contained page that says what each figure means.

Built from :func:`ml.registry.latest_results`, so it shows exactly what ``ml.*`` holds:

* a short **summary** at the top: how many honest models detectably beat their trivial
  baseline (by the one rule, :func:`ml.verdicts.verdict`), which replication rows use a
  feature that leaks the label, which results are degenerate;
* the **honest** table: per task and model, its score, the trivial baseline on the same
  rows *in a column beside it*, the paired difference ± SE, the verdict and on which rows
  it was reached (grouped CV folds, or fold 0 only for the tuned models);
* the **replication** table: the study's procedure reproduced, each row that uses a
  label-leaking feature marked as such, the study's published figure and a one-line reason
  for any difference (:func:`ml.study.difference_reason`);
* every figure with a **caption** saying what to conclude, replication | honest side by
  side, images embedded as ``data:`` URIs so the page works wherever it is moved (the
  interactive plotly figure stays a separate file; the page links it and embeds its static twin).

Building it never damages the last good report: the warehouse is only read (a missing
``ml`` schema means "no runs yet", and nothing is created), a warehouse without runs is
refused before any file is touched, the page is rendered in memory, and it replaces the old
one in a single atomic move (:mod:`tunehouse.files`).
"""

from __future__ import annotations

import base64
import html
import os
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from ml import study, verdicts
from ml.families import UNCOMPARED_MODELS
from ml.registry import ModelResult, latest_results
from tunehouse import files

REPORT_NAME = "ml_report.html"


class NoRunsYet(LookupError):
    """The warehouse holds no finished ML run (or no ``ml`` schema at all): nothing to report."""


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1700px;color:#222}
table{border-collapse:collapse;font-size:13px;margin-bottom:.6em}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f2f2f2} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.beats{color:#1a7f37;font-weight:600}.worse{color:#cf222e;font-weight:600}.nodiff{color:#9a6700;font-weight:600}
.muted{color:#777} td.verdict{min-width:190px} td.why{min-width:200px} td.notes{min-width:160px}
.src{white-space:normal;text-align:left;font-size:11px;min-width:120px}.leak{background:#ffebe9;color:#a40e26;font-weight:600;padding:0 3px}
.degenerate{background:#fff1c2;padding:0 3px}
.summary{background:#f6f8fa;border:1px solid #d0d7de;padding:.6em 1.2em;margin-bottom:1.5em}
.caption{font-size:13px;margin:.2em 0 1.5em 0;color:#333}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em;margin-bottom:.3em}
.pair img{max-width:100%;border:1px solid #ddd} .pub{background:#fff8e1;padding:4px 8px;font-size:12px}
pre{font-size:11px;background:#f7f7f7;padding:6px;overflow:auto;max-height:320px}
"""

#: What to conclude from a figure, by artifact name (exact) or name suffix (after "*").
CAPTIONS: dict[str, str] = {
    "kmeans_elbow": "Inertia always falls as k grows; without a sharp bend there is no natural k, so the "
                    "study's k = 4 is a choice, not a finding. Silhouettes around 0.1–0.2 mean weakly "
                    "separated clusters.",
    "dbscan_k_distance": "Distances to the minPts-th neighbour, sorted. DBSCAN separates dense regions only "
                         "where this curve has a clear knee; when both eps values give one cluster, the audio "
                         "features have no density structure DBSCAN can find.",
    "correlation_heatmap": "Only |r| ≥ 0.2 is shown. The YouTube counts and streams correlate with each other; "
                           "the audio features hardly correlate with any count — why honest models that may use "
                           "only audio features predict views and the stream gap poorly.",
    "stream_vs_views": "Each dot is a track (interactive: hover for artist and track). Streams and views rise "
                       "together with a wide spread; the outliers far above the cloud are mostly children's music.",
    "stream_vs_views_static": "Each dot is a track (log scales). Streams and views rise together with a wide "
                              "spread; the outliers far above the cloud are mostly children's music.",
    "ols_fits": "Least-squares lines of each YouTube count on streams, fitted to every row (descriptive: the "
                "R² in the title is in-sample; the honest table has the out-of-sample R²).",
    "knn_ablation": "NRMSE and R² over K for the study's six feature ablations. The curves lie close together: "
                    "the study's 'best' configuration is one of many near-ties, and picking it on the scored "
                    "rows (replication) flatters it; the honest run selects on inner folds instead.",
    "xgboost_optuna_history": "Inner-CV accuracy of each Optuna trial; a best-so-far line that stays flat "
                              "means tuning adds little over the defaults.",
    "*_confusion": "Rows: true label; columns: predicted. A model that fills mostly one column predicts the "
                   "majority class; compare the off-diagonal cells of the two protocols.",
    "*_importances": "What the fitted model relies on. Under replication `stream` dominates because it is half "
                     "of the label; the honest model has only audio features and flags left.",
    "*_shap": "Mean |SHAP value| per feature on the test rows (exact TreeSHAP): the same question as the "
              "importances, answered per prediction. Honest values are small: little signal is left.",
    "*_grid_scores": "Inner-CV accuracy of each grid candidate (bars: ± std over inner folds); candidates "
                     "within each other's bars are not distinguishable.",
    "*_pca": "Tracks on the first two principal components, coloured by cluster. Clusters that overlap here "
             "may still separate in more dimensions; colours that do not group mean weak clusters.",
    "*_tsne": "t-SNE of a sample, coloured by cluster. t-SNE exaggerates separation: well-separated blobs here "
              "are not evidence of real clusters by themselves.",
    "*_profiles": "Mean views and scaled feature means per cluster (descriptive: the clusters were formed "
                  "without views, so view differences between them are associations, not effects).",
    "*_summary": "statsmodels summary of the fit on all rows; its p-values assume independent rows, which "
                 "tracks of one artist or collaboration are not.",
    "*_loss_curves": "Training and validation loss per epoch. A validation loss that flattens early means the "
                     "budget was not the limit; one still falling at the end means more epochs might help.",
    "*_masks": "TabNet's attention over features at each decision step for 60 test tracks.",
    "*_optuna": "Validation loss per Optuna trial (trial 0 is the study's starting configuration).",
    "*_silhouette": "Silhouette of the clusters from the learned code next to K-Means on the raw features "
                    "(both in the scaled feature space): higher = better separated.",
}


def caption(name: str) -> str | None:
    if name in CAPTIONS:
        return CAPTIONS[name]
    for key, text in CAPTIONS.items():
        if key.startswith("*") and name.endswith(key[1:]):
            return text
    return None


# --------------------------------------------------------------------------- cells


def _fmt(v: float | None, std: float | None = None, digits: int = 4) -> str:
    if v is None:
        return "<span class='muted'>–</span>"
    text = f"{v:.{digits}f}"
    return text + (f" ± {std:.{digits}f}" if std is not None else "")


def _e(text: object) -> str:
    return html.escape(str(text))


def _verdict_cell(r: ModelResult) -> str:
    v = r.verdict
    if v.label == verdicts.NOT_COMPARED:
        return f"<span class='muted'>{_e(v.summary())}</span>"
    css = {verdicts.BEATS: "beats", verdicts.WORSE: "worse"}.get(v.label, "nodiff")
    c = v.comparison
    return (f"<span class='{css}'>{_e(v.label)}</span><br><span class='muted'>t = {v.t:.2f}, df = {c.df}, "
            f"one-sided p = {v.p_value:.3f}; {_e(c.scope)}</span>")


def _difference_cell(r: ModelResult) -> str:
    c = r.comparison
    if c is None:
        return _fmt(None)
    return f"{c.difference:+.4f} ± {c.standard_error:.4f}"


def _size_cell(r: ModelResult) -> str:
    """n rows and the test size of the run's split."""
    s = r.split_sizes
    if not s:
        rows = r.params.get("rows")
        return f"n = {rows:,}" if isinstance(rows, int) else "<span class='muted'>–</span>"
    tests = [t for t in s["test_rows"] if t]
    if not tests:
        return f"n = {s['rows']:,}<br><span class='muted'>all rows, no test rows</span>"
    if len(tests) == 1:
        share = tests[0] / s["rows"] if s["rows"] else 0
        return f"n = {s['rows']:,}<br>test {tests[0]:,} ({share:.0%})"
    return f"n = {s['rows']:,}<br>{len(tests)} folds, test {min(tests):,}–{max(tests):,}"


def leaky_features(r: ModelResult) -> dict[str, str]:
    """Features of the run that leak its task's target, with why (empty if none or unknown task)."""
    from ml.datasets import TASKS

    task = TASKS.get(r.task or "")
    if task is None:
        return {}
    return {f: task.leaky[f] for f in r.features if f in task.leaky}


def degenerate_notes(r: ModelResult) -> list[str]:
    """What makes a result degenerate or easy to over-read, in words."""
    notes = []
    full = r.metrics.get("full", {})
    if r.model == "dbscan" and full.get("n_clusters") is not None and full["n_clusters"] <= 1:
        share = full.get("noise_share")
        notes.append(f"degenerate: DBSCAN finds {int(full['n_clusters'])} cluster"
                     + (f" (+ {share:.0%} noise)" if share is not None else "") + " at eps "
                     + f"{full.get('eps', float('nan')):.2f}: no density structure")
    if r.model in ("kmeans", "dbscan") and "silhouette" in full:
        notes.append("in-sample: clusters fitted and scored on the same rows")
    if r.protocol == "honest" and r.split_sizes.get("folds") == 1 and "test" in r.metrics:
        notes.append("tuned and scored on one fold only (not the full CV of the other honest rows)")
    split, value, _ = r.headline()
    if r.primary_metric == "r2" and value is not None and value < 0 and split in ("test", "cv_mean"):
        notes.append("R² below 0: worse than predicting the mean")
    for split in ("cv_mean", "test"):
        recall = r.metrics.get(split, {}).get("recall")
        if recall is not None and recall < 0.01:
            notes.append("(almost) never predicts the positive class")
            break
    if r.model == "knn_regression":
        sel = r.params.get("selection")
        if sel:
            notes.append(f"selection: {sel}")
    return notes


def _study_config_cell(r: ModelResult) -> str:
    """The study's own KNN configuration scored on the same split (beside the selected one)."""
    cfg = r.params.get("study_config")
    values = r.metrics.get("study_config")
    if not cfg or not values:
        return ""
    std = r.metrics.get("study_config_std", {})
    return (f"<br>study's configuration ({_e(cfg['ablation'])}, K = {cfg['k']}) on the same rows: "
            f"R² {_fmt(values.get('r2'), std.get('r2'))}, NRMSE {_fmt(values.get('nrmse'), std.get('nrmse'))}")


def _selected_cell(r: ModelResult) -> str:
    picks = r.params.get("selected")
    if not picks:
        return ""
    text = "; ".join(f"fold {p['fold']}: {p['ablation']}, K = {p['k']}" for p in picks)
    return f"<br><span class='muted'>selected on inner folds — {_e(text)}</span>"


def _notes_cell(r: ModelResult) -> str:
    parts = [f"<span class='degenerate'>{_e(n)}</span>" if n.startswith(("degenerate", "in-sample"))
             else _e(n) for n in degenerate_notes(r)]
    return "<br>".join(parts) + _study_config_cell(r) + _selected_cell(r)


def _model_cell(r: ModelResult) -> str:
    split, value, std = r.headline()
    if r.status == "skipped":
        return "<span class='muted'>skipped</span>"
    return f"{_fmt(value, std)}<br><span class='muted'>{_e(split or '')}</span>"


# --------------------------------------------------------------------------- tables


def _rows(results: list[ModelResult], protocol: str) -> list[ModelResult]:
    return sorted((r for r in results if r.protocol == protocol and not r.is_baseline and r.model != "exploration"),
                  key=lambda r: (r.task or "", r.family, r.model))


def _honest_table(results: list[ModelResult]) -> str:
    rows = []
    for r in _rows(results, "honest"):
        status = "" if r.status == "succeeded" else f"<br><span class='muted'>{_e(r.status_reason or r.status)}</span>"
        rows.append(
            "<tr>"
            f"<td>{_e(r.task or '')}</td><td class='num'>{_size_cell(r)}</td>"
            f"<td>{_e(r.model)}<br><span class='muted'>{_e(r.family)}</span>{status}</td>"
            f"<td>{_e(r.primary_metric or '')}</td><td class='num'>{_model_cell(r)}</td>"
            f"<td class='num'>{_fmt(r.baseline_value())}</td><td class='num'>{_difference_cell(r)}</td>"
            f"<td class='verdict'>{_verdict_cell(r)}</td><td class='notes'>{_notes_cell(r)}</td>"
            f"<td class='num'>{_fmt(r.duration_s, digits=1)}</td>"
            "</tr>")
    head = ("<tr><th>task</th><th>rows</th><th>model</th><th>metric</th><th>model's score</th>"
            "<th>trivial baseline (same rows)</th><th>difference ± SE</th><th>verdict</th><th>notes</th>"
            "<th>seconds</th></tr>")
    return f"<table id='honest'>{head}{''.join(rows)}</table>"


def _published_cells(r: ModelResult) -> tuple[str, str]:
    pub = r.published_value()
    if not pub:
        return _fmt(None), ""
    value = r.headline()[1]
    if value is None:
        return f"{_fmt(pub[0])}<div class='src muted'>{_e(pub[1])}</div>", ""
    reason = study.difference_reason(r.task, r.model, value, pub[0], r.data_version.get("rows"))
    return (f"{_fmt(pub[0])}<div class='src muted'>{_e(pub[1])}</div>",
            f"{value - pub[0]:+.4f}: {_e(reason)}")


def _replication_table(results: list[ModelResult]) -> str:
    rows = []
    for r in _rows(results, "replication"):
        leaks = leaky_features(r)
        why = "; ".join(sorted(set(leaks.values())))
        leak = (f"<span class='leak' title='{_e(why)}'>leaks the label</span> via "
                + ", ".join(f"<b title='{_e(leaks[f])}'>{_e(f)}</b>" for f in leaks)) if leaks else ""
        published, delta = _published_cells(r)
        rows.append(
            "<tr>"
            f"<td>{_e(r.task or '')}</td><td class='num'>{_size_cell(r)}</td>"
            f"<td>{_e(r.model)}<br><span class='muted'>{_e(r.family)}</span></td>"
            f"<td>{_e(r.primary_metric or '')}</td><td class='num'>{_model_cell(r)}</td>"
            f"<td class='num'>{_fmt(r.baseline_value())}</td><td class='verdict'>{_verdict_cell(r)}</td>"
            f"<td class='num'>{published}</td><td class='why'>{delta}</td><td class='notes'>{leak}</td>"
            f"<td class='notes'>{_notes_cell(r)}</td>"
            "</tr>")
    head = ("<tr><th>task</th><th>rows</th><th>model</th><th>metric</th><th>ours</th>"
            "<th>trivial baseline (same rows)</th><th>verdict</th><th>study's figure</th>"
            "<th>ours − study's: why</th><th>leak</th><th>notes</th></tr>")
    return f"<table id='replication'>{head}{''.join(rows)}</table>"


# --------------------------------------------------------------------------- summary


def _summary(results: list[ModelResult]) -> str:
    honest = [r for r in _rows(results, "honest")]
    compared = [r for r in honest if r.verdict.label != verdicts.NOT_COMPARED]
    by_label: dict[str, list[ModelResult]] = defaultdict(list)
    for r in compared:
        by_label[r.verdict.label].append(r)

    def names(rs):
        return ", ".join(f"{r.model} ({r.task})" for r in rs) or "none"

    skipped = [r for r in honest if r.status == "skipped"]
    replication = _rows(results, "replication")
    leaking = [r for r in replication if leaky_features(r)]
    degenerate = [(r, n) for r in results if not r.is_baseline for n in degenerate_notes(r)
                  if n.startswith(("degenerate", "in-sample"))]
    one_fold = [r for r in honest if r.split_sizes.get("folds") == 1 and r.status == "succeeded" and "test" in r.metrics]
    items = [
        f"<li><b>Honest protocol:</b> {len(by_label[verdicts.BEATS])} of {len(compared)} compared models "
        f"detectably beat their trivial baseline ({_e(names(by_label[verdicts.BEATS]))}); "
        f"{len(by_label[verdicts.NO_DIFFERENCE])} show <b>no detectable difference</b>"
        + (f" ({_e(names(by_label[verdicts.NO_DIFFERENCE]))})" if by_label[verdicts.NO_DIFFERENCE] else "")
        + f"; {len(by_label[verdicts.WORSE])} {'is' if len(by_label[verdicts.WORSE]) == 1 else 'are'} worse"
        + (f" ({_e(names(by_label[verdicts.WORSE]))})" if by_label[verdicts.WORSE] else "")
        + (f"; {len(skipped)} skipped ({_e(names(skipped))})" if skipped else "") + ".</li>",
        f"<li><b>Rule:</b> {_e(verdicts.RULE)}</li>",
        "<li><b>Honest splits</b> keep every track group whole: tracks joined by a shared artist, Spotify URI or "
        "YouTube video (a collaboration listed under several artists is one group), so no song, video or artist is "
        "on both sides of a split.</li>",
    ]
    if one_fold:
        items.append(f"<li><b>Tuned models</b> ({_e(', '.join(sorted({r.model for r in one_fold})))}) are tuned on "
                     "one fold's training rows and scored on that fold only; their verdict compares them with the "
                     "baseline on that fold (rows clustered by track group).</li>")
    if leaking:
        items.append(f"<li><b>Replication protocol:</b> {len(leaking)} of {len(replication)} rows use a feature that "
                     "<span class='leak'>leaks the label</span> (marked in the table); their scores say nothing about "
                     "what the audio features can predict.</li>")
    if degenerate:
        items.append("<li><b>Degenerate or in-sample:</b> " + "; ".join(
            f"{_e(r.model)} ({_e(r.protocol)}): {_e(n)}" for r, n in degenerate) + ".</li>")
    return f"<div class='summary'><h2>Summary</h2><ul>{''.join(items)}</ul></div>"


# --------------------------------------------------------------------------- figures


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _rel(path: str, base: Path) -> str:
    try:
        return html.escape(os.path.relpath(path, base))
    except ValueError:
        return html.escape(path)


def _artifact_html(a: dict, base: Path) -> str:
    title = _e(a["title"] or a["name"])
    path = Path(a["path"])
    rel = _rel(a["path"], base)
    if not path.exists():
        body = f"<p class='muted'>missing file {_e(a['path'])}</p>"
    elif a["kind"] == "png":
        body = f"<img src='{_data_uri(path, 'image/png')}' alt='{title}'>"
    elif a["kind"] == "html":
        body = (f"<p><a href='{rel}'>open the interactive figure</a> <span class='muted'>(a separate file in the "
                "reports folder, not embedded in this page)</span></p>")
    elif a["kind"] == "txt":
        body = f"<pre>{_e(path.read_text(encoding='utf-8', errors='replace'))}</pre>"
    else:
        body = f"<p><a href='{rel}'>{rel}</a></p>"
    pub = f"<div class='pub'>Study: {_e(a['published'])}</div>" if a.get("published") else ""
    return f"<div><h4>{title}</h4>{pub}{body}<div class='muted' style='font-size:11px'>file: {rel}</div></div>"


def _figures(results: list[ModelResult], base: Path) -> str:
    """Figures grouped by family and figure name (replication left, honest right), each with its caption."""
    groups: dict[str, dict[str, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for r in results:
        for a in r.artifacts:
            groups[r.family][a["name"]].setdefault(r.protocol, a)
    out = ["<h2>Figures</h2>"]
    for family in sorted(groups):
        out.append(f"<h3>{_e(family)}</h3>")
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
            text = caption(name)
            if text:
                out.append(f"<p class='caption'><b>What to conclude:</b> {_e(text)}</p>")
    return "".join(out)


# --------------------------------------------------------------------------- page


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
    from ml.hypotheses_report import section_html

    sections = [section_html(warehouse, path.parent)]  # ml.hypothesis_tests, read-only
    return files.write_text(path, render_report(results, path.parent, sections))


def render_report(results: list[ModelResult], base: Path, sections: list[str] | None = None) -> str:
    """The report page for ``results``; figures are embedded, other files linked relative to ``base``.

    ``sections``: HTML fragments placed after the tables, before the figures."""
    from ml import forecasting  # the forecasts have their own section, not the model tables

    forecasts = [r for r in results if r.family == forecasting.FAMILY]
    results = [r for r in results if r.family != forecasting.FAMILY]
    version = next((r.data_version for r in results if r.data_version), {})
    uncompared = ", ".join(f"{m} ({why})" for m, why in UNCOMPARED_MODELS.items())
    page = [
        "<!doctype html><html><head><meta charset='utf-8'><title>tunehouse ML report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>tunehouse ML report</h1>",
        f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from schema <code>ml</code>. Data: Kaggle load "
        f"{_e(version.get('kaggle_load_id'))} ({_e(version.get('kaggle_file'))}), "
        f"{version.get('rows', '?')} rows after filters; YouTube crawl: "
        f"{_e(version.get('crawl_id') or 'none (Kaggle counts stand in)')}.</p>",
        _summary(results),
        "<p><b>Protocols.</b> <i>replication</i> reproduces the study's random splits and features to compare "
        "with its published figures, leaks included. <i>honest</i> splits by track group, rejects features that "
        "leak the target, cross-validates, and compares every model with a trivial baseline (majority class / "
        "mean of the training rows; random labels for a clustering's silhouette) scored on the same rows. "
        f"Not compared: {_e(uncompared)}.</p>",
        "<h2>Honest protocol: does a model beat its trivial baseline?</h2>",
        "<p class='caption'><b>What to conclude:</b> only a green <i>beats baseline</i> is evidence that the "
        "model learned something the baseline does not know; <i>no detectable difference</i> means the gap is "
        "within what changing the test rows would change, whatever its sign.</p>",
        _honest_table(results),
        "<h2>Replication protocol: the study's figures reproduced</h2>",
        "<p class='caption'><b>What to conclude:</b> how close the reproduction is to the study, and why it "
        "differs where it does. Rows marked <span class='leak'>leaks the label</span> score high because a "
        "feature contains the answer; compare them with the honest table, not with each other.</p>",
        _replication_table(results),
        *(sections or []),
        _figures(results, base),
        forecasting.report_section(forecasts, base),
        "</body></html>",
    ]
    return "".join(page)
