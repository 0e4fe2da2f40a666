"""Pre-declared hypothesis tests: what goes with more YouTube views per Spotify stream?

The study (its chapter 7-2) says it set no hypotheses and controlled no variables: it fitted
models and read the results as they came. This module does the opposite. The set of
hypotheses, the outcome, the model, the covariates, the standard errors, the correction for
multiple tests and the decision rule are all fixed here, in code, before any data is read;
running it on new data cannot change what is tested, only the answers.

**Rows.** One per row of ``marts.track_features`` with Kaggle ``views`` and ``stream`` both
present (the Kaggle crawl measured both counts at the same moment, so their ratio compares
like with like; the crawled ``view_count`` is later than ``stream``). Every video, official or
not and children's music included: two of the hypotheses are about exactly those rows. A
hypothesis uses the rows where its predictor is defined (``published_year`` and the channel
columns only exist for crawled videos).

**Outcomes.** The primary outcome is the log-ratio ``ln(1+views) − ln(1+stream)``; the two
counts, ``ln(1+views)`` and ``ln(1+stream)``, are secondary: they say which side of the
ratio moves. ``exp(estimate)`` is the multiplicative effect on ``(1+views)/(1+stream)`` (on
``1+views`` or ``1+stream`` for the secondary outcomes): for a yes/no predictor, the ratio
between the two groups; for channel size, per doubling of the subscribers.

**Model.** Ordinary least squares. The primary model (``adjusted``) is each predictor on its
own plus the pre-declared covariates :data:`COVARIATES` (the Spotify audio features except
the pitch class ``key``, which has no order), because the kind of music could drive both a
predictor and the ratio (children's music is high in speechiness and valence and is on
official videos more often). The hypotheses' predictors are not adjusted for each other:
several of them lie on each other's causal paths (channel size → licensed content), so
mutual adjustment would answer a different question. The ``simple`` model (the predictor
alone) is reported beside it for context and never drives a verdict.

**Standard errors.** Clustered, via statsmodels ``cov_type="cluster"`` with its small-sample
correction and t-intervals with clusters − 1 degrees of freedom. The issue asks for
clustering by artist (columns ``std_error``, ``ci_*``, ``p``). But the same video or Spotify
track appears under several artists (collaborations): rows that are copies of one
observation then sit in different artist clusters, which clustering assumes independent.
Track groups (``track_group_id``: connected components of artist, Spotify URI and video)
contain every artist whole and every copy of a video or track, so clustering by them is
valid where artist clustering is not; their results are in the ``group_*`` columns. Rows are
not deduplicated: a collaboration is listed once per artist in the data, and the clustering
accounts for the copies being one observation. Clustered errors are also robust to
heteroscedasticity (the Breusch–Pagan p-value of each primary fit is kept to show it is
there).

**Multiple tests.** Holm (family-wise error) and Benjamini–Hochberg (false discovery rate)
via ``statsmodels.stats.multitest``, each over one family: the testable hypotheses of one
(model, outcome) pair. The hypothesis' verdict uses **Holm** on the primary family, with the
larger of the artist- and group-clustered adjusted p-values (a finding must hold under both);
BH is reported for readers who accept a false-discovery rate. A hypothesis that cannot be
tested (its column is missing, NULL everywhere, constant, or has too few artists on a side)
is reported as ``not testable`` with the reason and is not part of any family.

**Assumption checks** (primary model): residuals against fitted values and a normal QQ plot
per hypothesis (figures), Cook's distance (rows above 4/n are counted, the model is fitted
again without them and the verdict recomputed by the same rule), Breusch–Pagan.

Written to ``ml.hypothesis_tests`` (one row per hypothesis × model × outcome, one run id per
call, in one short transaction) with the figures in ``ml.artifacts`` under the same run id.
statsmodels and matplotlib are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

#: Significance level of every decision (two-sided).
ALPHA = 0.05
#: outcome → how it is computed from the Kaggle counts.
OUTCOMES: dict[str, str] = {
    "log_ratio": "ln(1+views) − ln(1+stream)",
    "log_views": "ln(1+views)",
    "log_stream": "ln(1+stream)",
}
PRIMARY_OUTCOME = "log_ratio"
#: The primary model first.
MODELS: tuple[str, ...] = ("adjusted", "simple")
PRIMARY_MODEL = "adjusted"
#: The pre-declared covariates of the adjusted model (standardised before fitting).
COVARIATES: tuple[str, ...] = (
    "danceability", "energy", "loudness", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo", "duration_ms",
)
#: Fewer distinct artists than this on either side of a yes/no predictor (or in all for a
#: numeric one, with at least this many distinct values) and clustered errors are not
#: trustworthy: such a hypothesis is "not testable" rather than a fragile p-value.
MIN_CLUSTERS_PER_SIDE = 5
MIN_CLUSTERS = 20
#: Cook's distance above COOKS_FACTOR / n marks an influential row.
COOKS_FACTOR = 4.0

TESTED = "tested"
NOT_TESTABLE = "not testable"
SUPPORTED = "supported"
OPPOSITE = "detected, opposite to the expected direction"
NO_ASSOCIATION = "no detectable association"

_CRAWL_ONLY = "it comes from crawled YouTube snapshots, which Kaggle data alone does not have"
_CHANNEL_ONLY = "it comes from crawled channel snapshots (channels.list), which Kaggle data alone does not have"


def _binary(column: str, test: Callable[[pl.Expr], pl.Expr]) -> Callable[[], pl.Expr]:
    return lambda: pl.when(pl.col(column).is_null()).then(None).otherwise(test(pl.col(column)).cast(pl.Float64))


@dataclass(frozen=True)
class Hypothesis:
    """One pre-declared hypothesis about the log-ratio of views to streams."""

    id: str
    statement: str  # in plain words
    predictor: str  # how the predictor is derived from marts.track_features, in words
    columns: tuple[str, ...]  # the marts.track_features columns it needs
    kind: Literal["binary", "numeric"]
    expected: Literal["+", "-"]  # expected sign of the effect on the log-ratio
    why: str  # why it is plausible
    missing_reason: str = ""  # why its columns may be NULL everywhere (appended to "not testable")
    derive: Callable[[], pl.Expr] = field(default=lambda: pl.lit(None), compare=False, repr=False)


#: THE pre-declared set (order = order of the report's table).
HYPOTHESES: tuple[Hypothesis, ...] = (
    Hypothesis(
        "children", "Children's music gets more YouTube views per Spotify stream than other music.",
        "is_children (1 = an act of the children's-music list, dbt seed children_music_acts)",
        ("is_children",), "binary", "+",
        "Young children watch on YouTube (autoplay on tablets and TVs) and have no Spotify accounts; the "
        "study's outliers far above the streams-views cloud were mostly children's music.",
        derive=_binary("is_children", lambda c: c.cast(pl.Float64) > 0),
    ),
    Hypothesis(
        "official_video", "Official music videos get more views per stream than other uploads of a song.",
        "is_official_video (1 = Kaggle's official_video)", ("is_official_video",), "binary", "+",
        "The label promotes the official video, and YouTube recommends it; lyric videos, audio uploads and "
        "fan uploads share a song's audience with it.",
        derive=_binary("is_official_video", lambda c: c.cast(pl.Float64) > 0),
    ),
    Hypothesis(
        "licensed", "Videos with licensed content get more views per stream.",
        "licensed (1 = Kaggle's Licensed: uploaded to a channel of a YouTube content partner and claimed)",
        ("licensed",), "binary", "+",
        "Content partners (labels, distributors) monetise and promote their claimed videos.",
        derive=_binary("licensed", lambda c: c.cast(pl.Float64) > 0),
    ),
    Hypothesis(
        "single", "Songs released as singles get more views per stream than album or compilation tracks.",
        "album_type = 'single' (1) against 'album' or 'compilation' (0)", ("album_type",), "binary", "+",
        "A single is what gets a music video and a promotion campaign; album tracks collect streams from "
        "album and playlist listening without a video of their own.",
        derive=_binary("album_type", lambda c: c == "single"),
    ),
    Hypothesis(
        "before_2015", "Videos published before 2015 have more views per stream than later ones.",
        "published_year < 2015 (1) against 2015 or later (0); published_year is the year of the video's "
        "snippet.publishedAt in its latest crawled snapshot", ("published_year",), "binary", "+",
        "Before about 2015 YouTube was the main free place to play a song on demand and Spotify was small "
        "(100 million users only in 2016): older videos collected years of plays that have no streams.",
        missing_reason=_CRAWL_ONLY,
        derive=_binary("published_year", lambda c: c < 2015),
    ),
    Hypothesis(
        "channel_size", "Videos on channels with more subscribers get more views per stream.",
        "log2(1 + channel_subscribers) as of the video's latest snapshot (effect per doubling; hidden "
        "subscriber counts are NULL)", ("channel_subscribers",), "numeric", "+",
        "Subscribers are notified of and recommended the channel's videos; streams do not depend on the "
        "YouTube channel.",
        missing_reason=_CHANNEL_ONLY,
        derive=lambda: (pl.col("channel_subscribers").cast(pl.Float64) + 1.0).log(2),
    ),
    Hypothesis(
        "topic_channel", "Videos on auto-generated 'Topic' channels get fewer views per stream.",
        "channel_kind = 'topic' (1) against 'official_artist' or 'other' (0)", ("channel_kind",), "binary", "-",
        "Topic channels hold art tracks (a still cover image) that YouTube Music serves; people who watch "
        "watch the music video on another channel instead.",
        missing_reason=_CHANNEL_ONLY,
        derive=_binary("channel_kind", lambda c: c == "topic"),
    ),
)


# --------------------------------------------------------------------------- results


@dataclass
class TestRow:
    """One row of ml.hypothesis_tests: one hypothesis × model × outcome."""

    __test__ = False  # not a pytest class

    hypothesis: str
    outcome: str
    model: str
    status: str
    status_reason: str | None = None
    n: int | None = None
    n_exposed: int | None = None  # rows with the yes/no predictor = 1
    clusters: int | None = None  # distinct artists
    group_clusters: int | None = None  # distinct track groups
    estimate: float | None = None
    naive_std_error: float | None = None  # ordinary OLS (independent rows): for comparison only
    std_error: float | None = None  # clustered by artist
    ci_low: float | None = None
    ci_high: float | None = None
    p: float | None = None
    p_holm: float | None = None
    p_bh: float | None = None
    group_std_error: float | None = None  # clustered by track group
    group_ci_low: float | None = None
    group_ci_high: float | None = None
    group_p: float | None = None
    group_p_holm: float | None = None
    group_p_bh: float | None = None
    detected: bool | None = None
    verdict: str | None = None  # primary rows only
    influential_points: int | None = None
    estimate_wo_influential: float | None = None
    p_wo_influential: float | None = None  # the larger of the two clusterings' p, unadjusted
    detected_wo_influential: bool | None = None
    breusch_pagan_p: float | None = None
    # In memory only (figures): residuals and fitted values of the primary fits.
    fitted: np.ndarray | None = field(default=None, repr=False)
    resid: np.ndarray | None = field(default=None, repr=False)
    # The refit without influential rows, per clustering (set while fitting; adjusted later).
    _wo: tuple[float, float] | None = field(default=None, repr=False)

    @property
    def is_primary(self) -> bool:
        return self.model == PRIMARY_MODEL and self.outcome == PRIMARY_OUTCOME

    @property
    def ratio(self) -> float | None:
        return None if self.estimate is None else math.exp(self.estimate)

    @property
    def p_decision(self) -> float | None:
        """The Holm-adjusted p that decides: the larger of the artist- and group-clustered ones."""
        values = [v for v in (self.p_holm, self.group_p_holm) if v is not None]
        return max(values) if values else None


@dataclass
class HypothesisRun:
    """What one call of :func:`evaluate` found (rows in the order of HYPOTHESES × MODELS × OUTCOMES)."""

    rows: list[TestRow]
    covariates: tuple[str, ...]
    rows_total: int  # rows with views and stream
    figures: dict[str, Path] = field(default_factory=dict)

    def primary(self) -> list[TestRow]:
        return [r for r in self.rows if r.is_primary]

    def row(self, hypothesis: str, outcome: str = PRIMARY_OUTCOME, model: str = PRIMARY_MODEL) -> TestRow:
        for r in self.rows:
            if (r.hypothesis, r.outcome, r.model) == (hypothesis, outcome, model):
                return r
        raise KeyError((hypothesis, outcome, model))


# --------------------------------------------------------------------------- the tests


def analysis_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows every hypothesis starts from: Kaggle views and stream present, with the outcomes."""
    rows = frame.filter(pl.col("views").is_not_null() & pl.col("stream").is_not_null())
    views = (pl.col("views").cast(pl.Float64) + 1.0).log()
    stream = (pl.col("stream").cast(pl.Float64) + 1.0).log()
    return rows.with_columns(log_views=views, log_stream=stream, log_ratio=views - stream)


def testability(h: Hypothesis, rows: pl.DataFrame) -> str | None:
    """Why ``h`` cannot be tested on ``rows`` (the analysis rows), or None when it can."""
    missing = [c for c in h.columns if c not in rows.columns]
    if missing:
        return (f"column {', '.join(missing)} is not in marts.track_features (the warehouse was built before "
                "it existed: rebuild the dbt models)" + (f"; {h.missing_reason}" if h.missing_reason else ""))
    x = rows.select(h.derive().alias("x"))["x"]
    defined = rows.filter(x.is_not_null())
    if defined.height == 0:
        return (f"{', '.join(h.columns)} is NULL on every row with views and stream"
                + (f": {h.missing_reason}" if h.missing_reason else ""))
    values = x.drop_nulls()
    if values.n_unique() < 2:
        return f"the predictor takes one value ({values[0]:g}) on all {defined.height} rows where it is defined"
    if h.kind == "binary":
        for level in (0.0, 1.0):
            artists = defined.filter(x.drop_nulls() == level)["artist"].n_unique()
            if artists < MIN_CLUSTERS_PER_SIDE:
                return (f"only {artists} artist{'s' if artists != 1 else ''} with predictor = {level:g} (at least "
                        f"{MIN_CLUSTERS_PER_SIDE} are needed for clustered standard errors)")
    else:
        artists = defined["artist"].n_unique()
        if artists < MIN_CLUSTERS or values.n_unique() < MIN_CLUSTERS_PER_SIDE:
            return (f"{artists} artists and {values.n_unique()} distinct values where it is defined (at least "
                    f"{MIN_CLUSTERS} and {MIN_CLUSTERS_PER_SIDE} are needed)")
    return None


def _codes(values: Sequence) -> np.ndarray:
    """Dense integer codes of cluster labels (strings or numbers)."""
    return np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)[1]


def _design(x: np.ndarray, covariates: np.ndarray | None) -> np.ndarray:
    cols = [np.ones(len(x)), x]
    if covariates is not None and covariates.shape[1]:
        sd = covariates.std(axis=0)
        keep = sd > 0  # a constant covariate carries nothing and would duplicate the intercept
        cols.extend(((covariates[:, keep] - covariates[:, keep].mean(axis=0)) / sd[keep]).T)
    return np.column_stack(cols)


@dataclass(frozen=True)
class ClusteredFit:
    """The predictor's coefficient from one OLS fit, with its clustered inference."""

    estimate: float
    naive_se: float
    se: float
    ci: tuple[float, float]
    p: float
    clusters: int


def clustered_ols(y: np.ndarray, X: np.ndarray, groups: np.ndarray, column: int = 1, ols=None) -> ClusteredFit:
    """OLS of ``y`` on ``X`` (first column the constant), coefficient ``column`` with standard
    errors clustered by ``groups``: statsmodels ``cov_type="cluster"``, small-sample correction
    G/(G−1)·(n−1)/(n−k), t with G−1 degrees of freedom."""
    import statsmodels.api as sm

    ols = ols if ols is not None else sm.OLS(y, X).fit(method="qr")
    codes = _codes(groups)
    robust = ols.get_robustcov_results(cov_type="cluster", groups=codes, use_correction=True,
                                       df_correction=True, use_t=True)
    low, high = robust.conf_int(alpha=ALPHA)[column]
    return ClusteredFit(float(ols.params[column]), float(ols.bse[column]), float(robust.bse[column]),
                        (float(low), float(high)), float(robust.pvalues[column]), int(codes.max()) + 1)


def _fit(row: TestRow, y: np.ndarray, X: np.ndarray, artists: np.ndarray, groups: np.ndarray,
         diagnostics: bool) -> None:
    import statsmodels.api as sm

    ols = sm.OLS(y, X).fit(method="qr")  # QR: no SVD of the n × k design per fit
    by_artist = clustered_ols(y, X, artists, ols=ols)
    by_group = clustered_ols(y, X, groups, ols=ols)
    row.n, row.clusters, row.group_clusters = len(y), by_artist.clusters, by_group.clusters
    row.estimate, row.naive_std_error = by_artist.estimate, by_artist.naive_se
    row.std_error, (row.ci_low, row.ci_high), row.p = by_artist.se, by_artist.ci, by_artist.p
    row.group_std_error, (row.group_ci_low, row.group_ci_high), row.group_p = by_group.se, by_group.ci, by_group.p
    if not diagnostics:
        return
    from statsmodels.stats.diagnostic import het_breuschpagan

    row.fitted, row.resid = np.asarray(ols.fittedvalues), np.asarray(ols.resid)
    if X.shape[1] > 1:
        row.breusch_pagan_p = float(het_breuschpagan(ols.resid, X)[1])
    cooks = np.asarray(ols.get_influence().cooks_distance[0])
    influential = cooks > COOKS_FACTOR / len(y)
    row.influential_points = int(influential.sum())
    keep = ~influential
    x = X[keep, 1]
    if keep.sum() > X.shape[1] + 1 and np.unique(x).size > 1:
        a = clustered_ols(y[keep], X[keep], artists[keep])
        g = clustered_ols(y[keep], X[keep], groups[keep])
        row.estimate_wo_influential = a.estimate
        row.p_wo_influential = max(a.p, g.p)
        row._wo = (a.p, g.p)


def _adjust(rows: list[TestRow]) -> None:
    """Holm and BH within each (model, outcome) family of tested rows; detections; verdicts."""
    import gc

    # statsmodels' Holm runs gc.collect() on every call, which walks the whole heap (seconds in
    # a process holding Dagster, polars and matplotlib); frozen objects are not walked.
    gc.freeze()
    try:
        _adjust_families(rows)
    finally:
        gc.unfreeze()


def _adjust_families(rows: list[TestRow]) -> None:
    from statsmodels.stats.multitest import multipletests

    def adjusted(ps: list[float], method: str) -> list[float]:
        return list(multipletests(ps, alpha=ALPHA, method=method)[1])

    for model in MODELS:
        for outcome in OUTCOMES:
            family = [r for r in rows if r.model == model and r.outcome == outcome and r.status == TESTED]
            if not family:
                continue
            for attr, source in (("p", "p"), ("group_p", "group_p")):
                ps = [getattr(r, source) for r in family]
                for r, holm, bh in zip(family, adjusted(ps, "holm"), adjusted(ps, "fdr_bh"), strict=True):
                    setattr(r, f"{attr}_holm", float(holm))
                    setattr(r, f"{attr}_bh", float(bh))
            for r in family:
                r.detected = bool(r.p_decision < ALPHA)
            # The same rule on the refits without influential rows (rows whose refit failed count as undetected).
            refits = [r for r in family if r._wo is not None]
            if refits:
                holm_a = adjusted([r._wo[0] for r in refits], "holm")
                holm_g = adjusted([r._wo[1] for r in refits], "holm")
                for r, a, g in zip(refits, holm_a, holm_g, strict=True):
                    r.detected_wo_influential = bool(max(a, g) < ALPHA)
    expected = {h.id: h.expected for h in HYPOTHESES}
    for r in rows:
        if not r.is_primary or r.status != TESTED:
            continue
        if not r.detected:
            r.verdict = NO_ASSOCIATION
        else:
            sign = "+" if r.estimate > 0 else "-"
            r.verdict = SUPPORTED if sign == expected.get(r.hypothesis, sign) else OPPOSITE


def evaluate(
    frame: pl.DataFrame,
    hypotheses: Sequence[Hypothesis] = HYPOTHESES,
    covariates: Sequence[str] = COVARIATES,
) -> HypothesisRun:
    """Test every hypothesis on ``frame`` (``marts.track_features`` columns; ``artist`` and
    ``track_group_id`` are the clusters) under every model and outcome. Pure: no I/O."""
    rows_all = analysis_rows(frame)
    present = tuple(c for c in covariates if c in rows_all.columns)
    out: list[TestRow] = []
    for h in hypotheses:
        reason = testability(h, rows_all)
        for model in MODELS:
            for outcome in OUTCOMES:
                row = TestRow(h.id, outcome, model, TESTED if reason is None else NOT_TESTABLE, reason)
                out.append(row)
                if reason is not None:
                    continue
                data = rows_all.with_columns(h.derive().alias("_x")).filter(pl.col("_x").is_not_null())
                covs = present if model == "adjusted" else ()
                if covs:
                    data = data.drop_nulls(list(covs))
                x = data["_x"].to_numpy().astype(float)
                cov = data.select(covs).to_numpy().astype(float) if covs else None
                X = _design(x, cov)
                if np.unique(x).size < 2:  # the covariates' NULLs removed one side entirely
                    row.status, row.status_reason = NOT_TESTABLE, "the predictor is constant on the rows with covariates"
                    continue
                if h.kind == "binary":
                    row.n_exposed = int((x == 1).sum())
                _fit(row, data[outcome].to_numpy().astype(float), X, data["artist"].to_numpy(),
                     data["track_group_id"].to_numpy(), diagnostics=model == PRIMARY_MODEL)
    _adjust(out)
    return HypothesisRun(rows=out, covariates=present, rows_total=rows_all.height)


# --------------------------------------------------------------------------- figures


def _grid(count: int):
    """A figure with ``count`` small panels, four to a row."""
    from ml import plots  # noqa: F401  (sets matplotlib's file-only backend first)
    import matplotlib.pyplot as plt

    ncols = min(4, max(1, count))
    nrows = max(1, math.ceil(count / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, list(axes[:count])


def save_figures(run: HypothesisRun, folder: Path | str) -> dict[str, Path]:
    """Residuals vs fitted, normal QQ plots and the effects with their CIs (primary model), as PNGs."""
    from statsmodels.graphics.gofplots import qqplot

    from ml.plots import save_png

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tested = [r for r in run.primary() if r.status == TESTED and r.resid is not None]
    figures: dict[str, Path] = {}
    if not tested:
        return figures
    fig, axes = _grid(len(tested))
    for ax, r in zip(axes, tested, strict=True):
        ax.scatter(r.fitted, r.resid, s=3, alpha=0.25, color="#4c72b0", rasterized=True)
        # Mean residual in 20 bins of the fitted value: a flat line at 0 means the mean is modelled well.
        edges = np.quantile(r.fitted, np.linspace(0, 1, 21))
        which = np.clip(np.searchsorted(edges, r.fitted, side="right") - 1, 0, 19)
        centres = [r.fitted[which == b].mean() for b in range(20) if (which == b).any()]
        means = [r.resid[which == b].mean() for b in range(20) if (which == b).any()]
        ax.plot(centres, means, color="#cf222e", lw=1.5)
        ax.axhline(0, color="#333", lw=0.8)
        ax.set_title(f"{r.hypothesis} (n = {r.n:,})", fontsize=9)
        ax.set_xlabel("fitted log-ratio", fontsize=8)
        ax.set_ylabel("residual", fontsize=8)
    figures["hypotheses_residuals"] = save_png(fig, folder / "hypotheses_residuals.png")

    fig, axes = _grid(len(tested))
    for ax, r in zip(axes, tested, strict=True):
        qqplot(r.resid, line="s", ax=ax, markersize=2, alpha=0.3)
        ax.set_title(f"{r.hypothesis}", fontsize=9)
        ax.set_xlabel("normal quantiles", fontsize=8)
        ax.set_ylabel("residual quantiles", fontsize=8)
    figures["hypotheses_qq"] = save_png(fig, folder / "hypotheses_qq.png")

    from ml.plots import new_figure

    fig, ax = new_figure(7.5, 0.55 * len(tested) + 1.4)
    ys = np.arange(len(tested))[::-1]
    for y, r in zip(ys, tested, strict=True):
        ax.errorbar([math.exp(r.estimate)], [y], xerr=[[math.exp(r.estimate) - math.exp(r.group_ci_low)],
                                                       [math.exp(r.group_ci_high) - math.exp(r.estimate)]],
                    fmt="o", color="#1a7f37" if r.detected else "#777", capsize=3)
    ax.axvline(1.0, color="#333", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(ys, [r.hypothesis for r in tested], fontsize=8)
    ax.set_xlabel("ratio of (1+views)/(1+stream) (95 % CI clustered by track group; log scale; 1 = no effect)",
                  fontsize=8)
    figures["hypotheses_effects"] = save_png(fig, folder / "hypotheses_effects.png")
    run.figures = figures
    return figures


# --------------------------------------------------------------------------- the table

_COLUMNS = (
    "run_id", "tested_at", "hypothesis", "statement", "predictor", "predictor_kind", "expected_direction",
    "outcome", "model", "covariates", "is_primary", "status", "status_reason", "n", "n_exposed", "clusters",
    "group_clusters", "estimate", "ratio", "naive_std_error", "std_error", "ci_low", "ci_high", "p", "p_holm",
    "p_bh", "group_std_error", "group_ci_low", "group_ci_high", "group_p", "group_p_holm", "group_p_bh",
    "detected", "verdict", "influential_points", "estimate_wo_influential", "p_wo_influential",
    "detected_wo_influential", "breusch_pagan_p", "data_version", "kaggle_load_id", "crawl_id",
)


def table_rows(run: HypothesisRun, run_id: str, tested_at: datetime, version: dict) -> list[tuple]:
    """The ml.hypothesis_tests rows of ``run`` (in :data:`_COLUMNS` order)."""
    by_id = {h.id: h for h in HYPOTHESES}
    out = []
    for r in run.rows:
        h = by_id.get(r.hypothesis)
        covs = ", ".join(run.covariates) if r.model == "adjusted" else ""
        out.append((
            run_id, tested_at, r.hypothesis, h.statement if h else None, h.predictor if h else None,
            h.kind if h else None, h.expected if h else None, r.outcome, r.model, covs, r.is_primary, r.status,
            r.status_reason, r.n, r.n_exposed, r.clusters, r.group_clusters, r.estimate, r.ratio,
            r.naive_std_error, r.std_error, r.ci_low, r.ci_high, r.p, r.p_holm, r.p_bh, r.group_std_error,
            r.group_ci_low, r.group_ci_high, r.group_p, r.group_p_holm, r.group_p_bh, r.detected, r.verdict,
            r.influential_points, r.estimate_wo_influential, r.p_wo_influential, r.detected_wo_influential,
            r.breusch_pagan_p, json.dumps(version, sort_keys=True), version.get("kaggle_load_id"),
            version.get("crawl_id"),
        ))
    return out


def write_run(warehouse: Path | str, run: HypothesisRun, version: dict, lock_timeout_s: float | None = None) -> str:
    """Append ``run`` to ml.hypothesis_tests (and its figures to ml.artifacts) in one transaction."""
    from warehouse import ensure_schema, transaction, write_connection

    run_id, now = uuid.uuid4().hex, datetime.now(UTC)
    rows = table_rows(run, run_id, now, version)
    titles = {"hypotheses_residuals": "Residuals vs fitted values (primary model)",
              "hypotheses_qq": "Normal QQ plots of the residuals (primary model)",
              "hypotheses_effects": "Effects on the views-per-stream ratio with 95 % CIs (primary model)"}
    with write_connection(warehouse, lock_timeout_s) as con, transaction(con):
        ensure_schema(con)
        con.executemany(f"INSERT INTO ml.hypothesis_tests ({', '.join(_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(_COLUMNS))})", rows)
        if run.figures:
            con.executemany("INSERT INTO ml.artifacts VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [(run_id, name, "png", str(path), titles.get(name), None, now)
                             for name, path in run.figures.items()])
    return run_id


def run_hypothesis_tests(warehouse: Path | str, reports_dir: Path | str,
                         lock_timeout_s: float | None = None) -> tuple[str, HypothesisRun, dict]:
    """Read the mart, test the pre-declared set, save the figures, append the results.

    Returns (run id, the run, the data version). No connection is held while fitting.
    """
    from ml.datasets import load_track_features

    data = load_track_features(warehouse, official_only=False, children="flag")
    run = evaluate(data.frame)
    save_figures(run, Path(reports_dir) / "figures" / "hypotheses")
    version = {**data.version.as_dict(), "rows": run.rows_total}
    return write_run(warehouse, run, version, lock_timeout_s), run, version


# --------------------------------------------------------------------------- reading back


def latest_rows(warehouse: Path | str) -> list[dict]:
    """The rows of the latest run in ml.hypothesis_tests ([] when none or no table). Read-only."""
    from warehouse import read_connection

    with read_connection(warehouse) as con:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ml' "
            "AND table_name = 'hypothesis_tests'").fetchall()[0][0]
        if not exists:
            return []
        cursor = con.execute(
            """SELECT * FROM ml.hypothesis_tests
               WHERE run_id = (SELECT run_id FROM ml.hypothesis_tests ORDER BY tested_at DESC LIMIT 1)""")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        figures = con.execute(
            "SELECT name, path, title FROM ml.artifacts WHERE run_id = ? ORDER BY name",
            [rows[0]["run_id"]]).fetchall() if rows else []
    order = {(h.id): i for i, h in enumerate(HYPOTHESES)}
    rows.sort(key=lambda r: (order.get(r["hypothesis"], len(order)), MODELS.index(r["model"]) if r["model"] in MODELS
                             else 9, list(OUTCOMES).index(r["outcome"]) if r["outcome"] in OUTCOMES else 9))
    for r in rows:
        r["figures"] = [{"name": n, "path": p, "title": t} for n, p, t in figures]
    return rows


def _num(v: float | None, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def _p(v: float | None) -> str:
    if v is None:
        return "–"
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def markdown_table(rows: Sequence[TestRow] | Sequence[dict]) -> str:
    """The results as a Markdown table (Dagster metadata): one line per hypothesis × model × outcome."""
    def get(r, name):
        return r[name] if isinstance(r, dict) else getattr(r, name)

    lines = ["| hypothesis | outcome | model | estimate [95 % CI, artist] | ratio | p | p Holm | p BH | "
             "p Holm (groups) | n | artists | groups | verdict / status |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if get(r, "status") != TESTED:
            lines.append(f"| {get(r, 'hypothesis')} | {get(r, 'outcome')} | {get(r, 'model')} | | | | | | | | | | "
                         f"not testable: {get(r, 'status_reason')} |")
            continue
        estimate = get(r, "estimate")
        verdict = get(r, "verdict") or ("detected" if get(r, "detected") else "not detected")
        lines.append(
            f"| {get(r, 'hypothesis')} | {get(r, 'outcome')} | {get(r, 'model')} | {estimate:+.3f} "
            f"[{get(r, 'ci_low'):+.3f}, {get(r, 'ci_high'):+.3f}] | {math.exp(estimate):.2f} | {_p(get(r, 'p'))} | "
            f"{_p(get(r, 'p_holm'))} | {_p(get(r, 'p_bh'))} | {_p(get(r, 'group_p_holm'))} | {get(r, 'n'):,} | "
            f"{get(r, 'clusters'):,} | {get(r, 'group_clusters'):,} | {verdict} |")
    return "\n".join(lines)
