"""The report's section on the pre-declared hypothesis tests, for a reader who never saw the code.

Rendered from the latest run in ``ml.hypothesis_tests`` (:func:`ml.hypotheses.latest_rows`);
:func:`ml.report.build_report` adds it with one call. Read-only: no table means the section
says how to produce it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ml.hypotheses import (
    ALPHA,
    COOKS_FACTOR,
    HYPOTHESES,
    MIN_CLUSTERS,
    MIN_CLUSTERS_PER_SIDE,
    NO_ASSOCIATION,
    OPPOSITE,
    OUTCOMES,
    PRIMARY_MODEL,
    PRIMARY_OUTCOME,
    SUPPORTED,
    TESTED,
    latest_rows,
)

SECTION_ID = "hypothesis-tests"

CAPTIONS = {
    "hypotheses_effects": "Each dot is how many times more (or fewer) YouTube views per Spotify stream the rows "
                          "with the property have, after the audio features; the bar is the 95 % confidence "
                          "interval with standard errors clustered by track group. A bar that crosses 1 is "
                          "compatible with no effect. Green: detected after the Holm correction.",
    "hypotheses_residuals": "Residuals (observed minus fitted log-ratio) against fitted values, one panel per "
                            "hypothesis; the red line is the mean residual in 20 bins of the fitted value. A red "
                            "line close to 0 means the model gets the average right across the range; a funnel "
                            "shape means the spread changes with the fitted value (heteroscedasticity), which the "
                            "clustered standard errors allow for.",
    "hypotheses_qq": "Quantiles of the residuals against those of a normal distribution. Points on the line mean "
                     "normal residuals; bent tails mean heavier tails than normal. With thousands of rows the "
                     "estimates and their clustered intervals do not need normal residuals (central limit "
                     "theorem), but heavy tails are why the refit without influential rows is shown too.",
}


def _e(text: object) -> str:
    import html

    return html.escape(str(text))


def _p(v: float | None) -> str:
    if v is None:
        return "–"
    return "&lt; 0.001" if v < 0.001 else f"{v:.3f}"


def _p_text(v: float) -> str:
    """A p-value as plain text (escaped where it is put into the page)."""
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def _ratio(b: float | None) -> str:
    return "–" if b is None else f"{math.exp(b):.2f}×"


def _ci(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "–"
    return f"{math.exp(low):.2f}–{math.exp(high):.2f}×"


def plain_verdict(r: dict) -> str:
    """One sentence a reader can act on, from a primary row."""
    if r["status"] != TESTED:
        return f"not testable: {r['status_reason']}"
    ratio, ci = math.exp(r["estimate"]), _ci(r["group_ci_low"], r["group_ci_high"])
    more = f"{ratio:.2f} times the views per stream" if ratio >= 1 else f"{1 / ratio:.2f} times fewer views per stream"
    p = max(v for v in (r["p_holm"], r["group_p_holm"]) if v is not None)
    if r["verdict"] == SUPPORTED:
        return f"supported: {more} (95 % CI {ci}; Holm-adjusted p {_p_text(p)})"
    if r["verdict"] == OPPOSITE:
        return f"detected, but in the opposite direction: {more} (95 % CI {ci}; Holm-adjusted p {_p_text(p)})"
    return (f"{NO_ASSOCIATION}: estimate {ratio:.2f}× with 95 % CI {ci}, Holm-adjusted p {_p_text(p)} — the data "
            "cannot tell this apart from no effect")


def _declared_table() -> str:
    rows = "".join(
        f"<tr><td>{_e(h.id)}</td><td>{_e(h.statement)}</td><td>{_e(h.predictor)}</td>"
        f"<td>{'more' if h.expected == '+' else 'fewer'} views per stream</td><td>{_e(h.why)}</td></tr>"
        for h in HYPOTHESES)
    return ("<table id='hypotheses_declared'><tr><th>hypothesis</th><th>statement</th><th>predictor</th>"
            f"<th>expected</th><th>why it is plausible</th></tr>{rows}</table>")


def _results_table(primary: list[dict]) -> str:
    out = []
    for r in primary:
        if r["status"] != TESTED:
            out.append(f"<tr><td>{_e(r['hypothesis'])}</td>" + "<td class='num'>–</td>" * 9
                       + f"<td class='verdict'><span class='muted'>{_e(plain_verdict(r))}</span></td>"
                         "<td>–</td></tr>")
            continue
        css = {SUPPORTED: "beats", OPPOSITE: "worse"}.get(r["verdict"], "nodiff")
        holds = ("–" if r["detected_wo_influential"] is None else
                 ("same conclusion" if r["detected_wo_influential"] == r["detected"]
                  and (r["estimate_wo_influential"] > 0) == (r["estimate"] > 0) else "<b>conclusion changes</b>"))
        influence = (f"{r['influential_points']:,} rows with Cook's D &gt; 4/n; without them "
                     f"{_ratio(r['estimate_wo_influential'])} (p {_p(r['p_wo_influential'])}): {holds}")
        out.append(
            f"<tr><td>{_e(r['hypothesis'])}</td>"
            f"<td class='num'>{r['n']:,}" + (f"<br>{r['n_exposed']:,} with it" if r["n_exposed"] is not None else "")
            + f"</td><td class='num'>{r['clusters']:,}</td><td class='num'>{r['group_clusters']:,}</td>"
            f"<td class='num'>{r['estimate']:+.3f}<br>{_ratio(r['estimate'])}</td>"
            f"<td class='num'>{_ci(r['ci_low'], r['ci_high'])}<br><span class='muted'>p {_p(r['p'])}</span></td>"
            f"<td class='num'>{_ci(r['group_ci_low'], r['group_ci_high'])}<br><span class='muted'>p "
            f"{_p(r['group_p'])}</span></td>"
            f"<td class='num'>{_p(r['p_holm'])}<br><span class='muted'>groups {_p(r['group_p_holm'])}</span></td>"
            f"<td class='num'>{_p(r['p_bh'])}<br><span class='muted'>groups {_p(r['group_p_bh'])}</span></td>"
            f"<td class='num'>{r['naive_std_error']:.3f} → {r['std_error']:.3f} / {r['group_std_error']:.3f}</td>"
            f"<td class='verdict'><span class='{css}'>{_e(plain_verdict(r))}</span></td>"
            f"<td class='notes'>{influence}</td></tr>")
    head = ("<tr><th>hypothesis</th><th>rows</th><th>artists</th><th>track groups</th><th>estimate (ratio)</th>"
            "<th>95 % CI, by artist</th><th>95 % CI, by track group</th><th>Holm p</th><th>BH p</th>"
            "<th>SE: naive → artist / group</th><th>verdict</th><th>influential rows</th></tr>")
    return f"<table id='hypotheses'>{head}{''.join(out)}</table>"


def _secondary_table(rows: list[dict]) -> str:
    """Per hypothesis: the adjusted model on each count, and the simple model on the log-ratio."""
    cells = {(r["hypothesis"], r["model"], r["outcome"]): r for r in rows}
    cols = [(PRIMARY_MODEL, "log_views"), (PRIMARY_MODEL, "log_stream"), ("simple", PRIMARY_OUTCOME)]
    out = []
    for h in HYPOTHESES:
        tds = []
        for key in cols:
            r = cells.get((h.id, *key))
            if r is None or r["status"] != TESTED:
                tds.append("<td class='num muted'>–</td>")
                continue
            tds.append(f"<td class='num'>{_ratio(r['estimate'])} [{_ci(r['ci_low'], r['ci_high'])}]<br>"
                       f"<span class='muted'>Holm p {_p(r['p_holm'])} (groups {_p(r['group_p_holm'])}); "
                       f"n {r['n']:,}</span></td>")
        out.append(f"<tr><td>{_e(h.id)}</td>{''.join(tds)}</tr>")
    head = ("<tr><th>hypothesis</th><th>views: ln(1+views), adjusted</th><th>streams: ln(1+stream), adjusted</th>"
            "<th>log-ratio, predictor alone (simple)</th></tr>")
    return f"<table id='hypotheses_counts'>{head}{''.join(out)}</table>"


def _figures(rows: list[dict], base: Path) -> str:
    from ml.report import _data_uri, _rel

    if not rows or not rows[0]["figures"]:
        return "<p class='muted'>No figures: no hypothesis could be tested.</p>"
    out = []
    for name in ("hypotheses_effects", "hypotheses_residuals", "hypotheses_qq"):
        a = next((f for f in rows[0]["figures"] if f["name"] == name), None)
        if a is None:
            continue
        path = Path(a["path"])
        body = (f"<img src='{_data_uri(path, 'image/png')}' alt='{_e(a['title'] or name)}' style='max-width:100%'>"
                if path.exists() else f"<p class='muted'>missing file {_e(a['path'])}</p>")
        out.append(f"<div><h4>{_e(a['title'] or name)}</h4>{body}<div class='muted' style='font-size:11px'>file: "
                   f"{_rel(a['path'], base)}</div></div><p class='caption'><b>What to conclude:</b> "
                   f"{_e(CAPTIONS[name])}</p>")
    return "".join(out)


def _checks(primary: list[dict]) -> str:
    tested = [r for r in primary if r["status"] == TESTED]
    if not tested:
        return ""
    changed = [r["hypothesis"] for r in tested if r["detected_wo_influential"] is not None
               and (r["detected_wo_influential"] != r["detected"]
                    or (r["estimate_wo_influential"] > 0) != (r["estimate"] > 0))]
    bp = [r["breusch_pagan_p"] for r in tested if r["breusch_pagan_p"] is not None]
    widen = [r["group_std_error"] / r["naive_std_error"] for r in tested if r["naive_std_error"]]
    items = [
        f"<li><b>Influential rows:</b> Cook's distance above {COOKS_FACTOR:g}/n flags "
        f"{min(r['influential_points'] for r in tested):,}–{max(r['influential_points'] for r in tested):,} rows per "
        "hypothesis; fitted again without them, "
        + ("every verdict stays the same." if not changed else
           f"the verdict changes for {_e(', '.join(changed))}: read those with care.") + "</li>",
        "<li><b>Heteroscedasticity:</b> Breusch–Pagan p "
        + ("–" if not bp else "&lt; 0.001 in every fit" if max(bp) < 0.001 else f"{_p(min(bp))}–{_p(max(bp))}")
        + " (small p: the spread of the residuals depends on the covariates). Clustered standard errors are "
          "robust to that and to correlation within a cluster, so the intervals stay valid; the ordinary OLS "
          "ones would not be.</li>",
        "<li><b>Clustering matters:</b> the track-group-clustered standard errors are "
        + (f"{min(widen):.1f}–{max(widen):.1f} times" if widen else "–")
        + " the naive ones that treat every row as independent.</li>",
    ]
    return f"<ul>{''.join(items)}</ul>"


def section_html(warehouse: Path | str, base: Path) -> str:
    """The section (an HTML fragment); ``base`` is the report's folder (figures' relative paths)."""
    rows = latest_rows(warehouse)
    head = f"<section id='{SECTION_ID}'><h2>Hypothesis tests: what goes with more YouTube views per Spotify stream?</h2>"
    if not rows:
        return (head + "<p class='muted'>Not run yet: materialize <code>ml/hypotheses</code> (job "
                "<code>ml_hypotheses</code>) to test the pre-declared hypotheses.</p></section>")
    primary = [r for r in rows if r["is_primary"]]
    first = rows[0]
    version = first["data_version"]
    version = json.loads(version) if isinstance(version, str) else (version or {})
    tested = [r for r in primary if r["status"] == TESTED]
    supported = [r["hypothesis"] for r in tested if r["verdict"] == SUPPORTED]
    untestable = [r["hypothesis"] for r in primary if r["status"] != TESTED]
    return "".join([
        head,
        "<div style='background:#f6f8fa;border:1px solid #d0d7de;padding:.6em 1.2em;margin-bottom:1em'><ul>",
        f"<li><b>Asked:</b> which properties of a song or its video go with more YouTube views <i>relative to</i> "
        "its Spotify streams — the study's own question, answered with hypotheses fixed before looking at the "
        "data (the study's chapter 7-2 says it had none).</li>",
        f"<li><b>Answer on these data:</b> {len(tested)} of {len(primary)} hypotheses could be tested; "
        f"{len(supported)} supported ({_e(', '.join(supported) or 'none')})"
        + (f"; not testable: {_e(', '.join(untestable))}" if untestable else "") + ".</li>",
        f"<li><b>Data:</b> {version.get('rows', 0):,} rows of <code>marts.track_features</code> with Kaggle views "
        f"and streams (run {_e(first['run_id'][:8])}, {first['tested_at']:%Y-%m-%d %H:%M %Z}; Kaggle load "
        f"{_e(first['kaggle_load_id'])} ({_e(version.get('kaggle_file'))}), crawl "
        f"{_e(first['crawl_id'] or 'none')}).</li>",
        "</ul></div>",
        "<h3>The pre-declared hypotheses</h3>",
        "<p>Each says a property goes with <i>more</i> (or fewer) YouTube views per Spotify stream. They were "
        "written down, with the expected direction and the reason, before the tests were run; nothing was added "
        "or dropped after seeing a result.</p>",
        _declared_table(),
        "<h3>The model</h3>",
        f"<p><b>Outcome:</b> the log-ratio {_e(OUTCOMES[PRIMARY_OUTCOME])} of each track's Kaggle counts (measured "
        "at the same moment). A coefficient <i>b</i> means the rows with the property have exp(<i>b</i>) times the "
        "views per stream of the rows without it (for channel size: per doubling of the subscribers). "
        "<b>Model:</b> ordinary least squares of the outcome on the predictor plus the Spotify audio features "
        f"({_e(first['covariates'] or 'none')}), so that a property is not credited with what the kind of music "
        "explains; each hypothesis is its own model. <b>Uncertainty:</b> songs of one artist are not independent, "
        "so standard errors are clustered by artist, as asked, and by <i>track group</i> (artists joined by a "
        "shared Spotify track or video: a collaboration listed under two artists is one observation, which "
        "clustering by artist alone would count as two independent ones). <b>Many tests:</b> Holm's correction "
        "across the tested hypotheses (family-wise error 5 %) decides, using the larger of the two clusterings' "
        "adjusted p; Benjamini–Hochberg (false-discovery rate) is shown too. A hypothesis is "
        f"<i>not testable</i> when its column is missing or empty, constant, or has fewer than "
        f"{MIN_CLUSTERS_PER_SIDE} artists on one side (numeric: {MIN_CLUSTERS} artists); it is then left out of "
        f"the correction. Significance level {ALPHA:g}, two-sided.</p>",
        "<h3>Results</h3>",
        "<p class='caption'><b>What to conclude:</b> a green <i>supported</i> is an association that survives "
        "the correction for testing several hypotheses, in the expected direction, under both clusterings; "
        "<i>no detectable association</i> means the interval is compatible with no effect. The estimates are "
        "associations in observational data, not effects of changing the property.</p>",
        _results_table(primary),
        "<h4>Which side of the ratio moves, and the predictor alone</h4>",
        "<p class='caption'><b>What to conclude:</b> the log-ratio rises when views rise or streams fall; these "
        "columns say which (same model on each count, Holm within each column), and what the predictor shows "
        "without the audio features.</p>",
        _secondary_table(rows),
        "<h3>Assumption checks</h3>",
        _checks(primary),
        _figures(rows, base),
        "<h3>Limits</h3><ul>",
        "<li><b>Observational, not causal.</b> The data record what happened, not what would happen if a property "
        "changed; a confounder outside the audio features (an artist's fame, the marketing budget) can produce "
        "any of these associations. Channel size may also be a result of views rather than a cause.</li>",
        "<li><b>A sample of popular songs.</b> The Kaggle file holds the top tracks of about 2,000 artists found "
        "on Spotify, with the first YouTube search result for each: neither all music nor a random sample of "
        "it.</li>",
        "<li><b>Crawl-only columns.</b> Release era and the channel properties need a YouTube crawl of the "
        "videos and their channels; on Kaggle data alone they are not testable, and after a crawl they are "
        "measured later than the Kaggle counts.</li>",
        f"<li><b>Data version:</b> <code>{_e(json.dumps(version, sort_keys=True))}</code></li>",
        "</ul></section>",
    ])
