"""Growth forecasts: a video's view count h days ahead, from what is known at the forecast's origin.

**Task.** At an origin (a snapshot of a video, observed at time T) predict ``views(T + h)``
for the horizons :data:`HORIZONS` (days), with an interval of nominal coverage
:data:`NOMINAL`. Models predict the log growth ``ln(1 + views(T+h)) − ln(1 + views(T))``;
every error is measured on ``ln(1 + views)`` at the horizon (the same number, since
``views(T)`` is known).

**What is known at the origin** (:func:`origin_features`): the video's snapshot history up
to T (``marts.video_growth`` plus its Kaggle-time count as a first point): the count at T,
the last observed daily rate (since the previous point), the rate over the whole history
so far, how many points; its age at T (from ``published_at``, ``marts.dim_videos``); its
Spotify streams and audio features and flags (``marts.track_features``, the video's first
track); its channel when ``marts.track_features`` has the channel columns: the channel's
kind and its age at T. Channel *counts* (subscribers, views, videos) are left out: the mart
holds them as of the video's latest snapshot, which is after an earlier origin, so using
them would let the evaluation look ahead.

**Methods.**

* ``last_rate`` (baseline a): the last observed daily rate carried forward,
  ``views(T) + h · rate``. No rate yet (one point): the rate over the history, else the
  lifetime rate ``views / age``, else no growth.
* ``rate_decay`` (baseline b): the daily rate decays log-linearly with age,
  ``ln rate = a_video + b · ln age``; ``b`` is fitted on the training window (within
  videos: consecutive snapshots, each video's own level removed), ``a_video`` anchors the
  curve at the video's last rate; integrated over ``[age, age + h]``. No age: as ``last_rate``.
* ``gradient_boosting`` (the model): scikit-learn's histogram gradient boosting on the
  features above (missing values handled natively), one model for every horizon (the
  horizon is a feature).

**Intervals**: split conformal. The training pairs' track groups are split 75/25; the
model is fitted on the first part, and the quantiles of its signed log residuals on the
second part (per horizon; all horizons pooled when a horizon has fewer than
:data:`MIN_CALIBRATION` residuals) give ``[lower, upper]``, widened when needed so that
``lower ≤ predicted ≤ upper``. The baselines get their intervals the same way.

**Evaluation, honest in time and by group** (:func:`evaluate`): a rolling origin over the
crawl days. For each day D and each half of the track groups (a seeded random halving;
``track_group_id`` joins tracks sharing an artist, a Spotify URI or a video), the methods
are trained on the other half's pairs whose *target* was observed on day D or before, and
tested on this half's pairs whose *origin* is day D: nothing after the test origin is ever
trained on, and no group is on both sides. A horizon is tested in a fold only when the
training window holds at least 80 pairs of it (enough to learn it and calibrate its
interval); a horizon never tested is not forecast. Test predictions are pooled over folds per
horizon; each method gets the median absolute log error, the Spearman correlation of
predicted and real views gained, and the interval coverage, each with a 95 % bootstrap
interval over track groups (a group's rows of every fold resampled together), and the
model's differences from each baseline with the same paired bootstrap.

:func:`forecast_later_counts` is the real test (docs/forecasting.md): one Kaggle-time
snapshot and a later one at an unknown date, scored against both baselines.

Plain functions; scikit-learn, scipy and matplotlib are imported inside the functions that
use them. :func:`run_forecasts` is what the Dagster asset ``ml/forecasts`` calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

FAMILY = "forecasting"
ASSET = "ml/forecasts"
TASK = "views_at_horizon"
PROTOCOL = "honest"
MODEL = "gradient_boosting"
LAST_RATE = "last_rate"
RATE_DECAY = "rate_decay"
BASELINES: tuple[str, ...] = (LAST_RATE, RATE_DECAY)
METHODS: tuple[str, ...] = (MODEL, *BASELINES)
LABELS = {MODEL: "gradient boosting (model)", LAST_RATE: "last daily rate carried forward (baseline a)",
          RATE_DECAY: "log-linear decay of the rate with age (baseline b)"}
#: Horizons (days) forecast and evaluated; one without a test pair in any fold is not forecast.
HORIZONS: tuple[int, ...] = (1, 3, 7)
#: Nominal coverage of every interval.
NOMINAL = 0.8
#: Bootstrap replicates of every confidence interval.
BOOTSTRAP = 1000
#: A fold needs at least this many training pairs (and 4 track groups).
MIN_TRAIN_PAIRS = 40
#: Fewer calibration residuals for a horizon than this: the horizons' residuals are pooled.
MIN_CALIBRATION = 20
CALIBRATION_SHARE = 0.25
#: A target snapshot counts for horizon h when it is within this many days of origin + h.
TOLERANCE_DAYS = 0.5

AUDIO = ("danceability", "energy", "key", "loudness", "speechiness", "acousticness", "instrumentalness",
         "liveness", "valence", "tempo", "duration_ms")
FLAGS = ("is_official_video", "licensed", "is_children")
STATIC = ("log_stream", *AUDIO, *FLAGS)
CHANNEL_KINDS = ("topic", "official_artist", "other")
HISTORY = ("log_views", "log_last_rate", "log_history_rate", "relative_last_rate", "relative_history_rate", "n_points",
           "log_age", "h_days", "log_h")


class ForecastDataError(ValueError):
    """The warehouse cannot give snapshot histories (one line, names the relation)."""


# --------------------------------------------------------------------------- data


@dataclass
class History:
    """Every video's snapshot points and its per-video features.

    ``points``: video_id, t (days since 1970-01-01 UTC), views, one row per distinct
    observation. ``videos``: one row per video: group, published_t, last_t, the static
    features and, when the mart has them, channel_kind and channel_age_days.
    """

    points: pd.DataFrame
    videos: pd.DataFrame
    channel_features: bool
    channel_reason: str
    version: object | None = None


def _exists(con, schema: str, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                            [schema, name]).fetchall()[0][0])


def load_history(warehouse: Path | str) -> History:
    """Read the snapshot points and per-video features (dbt models only; read-only, closed on return)."""
    from ml.datasets import DataVersion
    from warehouse import read_connection

    with read_connection(warehouse) as con:
        for schema, name in (("marts", "video_growth"), ("marts", "track_features"), ("marts", "dim_videos")):
            if not _exists(con, schema, name):
                raise ForecastDataError(f"{schema}.{name} does not exist in the warehouse; build the dbt models "
                                        "(`tunehouse build`) first")
        points = con.execute(
            """
            SELECT video_id, epoch(observed_at) / 86400.0 AS t, view_count AS views
            FROM marts.video_growth WHERE view_count IS NOT NULL AND observed_at IS NOT NULL
            UNION
            -- the Kaggle-time count: the first point of every crawled video's history
            SELECT video_id, epoch(kaggle_observed_at) / 86400.0, kaggle_views
            FROM marts.video_growth WHERE kaggle_views IS NOT NULL AND kaggle_observed_at IS NOT NULL
            """).df()
        columns = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' "
            "AND table_name = 'track_features'").fetchall()}
        channel = {"channel_kind", "channel_age_days"} <= columns
        wanted = ["video_id", "track_group_id", "artist", *STATIC] + (["channel_kind", "channel_age_days"] if channel else [])
        select = ", ".join(f"tf.{c}" for c in wanted)
        videos = con.execute(
            f"""
            SELECT {select}, epoch(v.published_at) / 86400.0 AS published_t,
                   epoch(v.last_available_at) / 86400.0 AS last_t
            FROM (SELECT *, row_number() OVER (PARTITION BY video_id ORDER BY track_id) AS nth
                  FROM marts.track_features WHERE video_id IS NOT NULL) AS tf
            LEFT JOIN marts.dim_videos AS v ON v.video_id = tf.video_id
            WHERE tf.nth = 1
            """).df()
        version_rows = con.execute(
            "SELECT kaggle_load_id, kaggle_file, kaggle_sha256, crawl_id, crawl_finished_at FROM staging.stg_data_version"
        ).fetchall() if _exists(con, "staging", "stg_data_version") else []
        filled = channel and con.execute(
            "SELECT count(*) FROM marts.track_features WHERE channel_kind IS NOT NULL").fetchall()[0][0] > 0
    points = points.drop_duplicates(["video_id", "t"]).sort_values(["video_id", "t"], kind="stable")
    points = points[points["video_id"].isin(videos["video_id"])].reset_index(drop=True)
    if not channel:
        reason = "not used: marts.track_features has no channel columns (built before channel snapshots existed)"
    elif not filled:
        reason = "not used: no channel was crawled (every channel column is NULL)"
    else:
        reason = "used: channel kind and channel age at the origin (channel counts are as of the latest snapshot, " \
                 "after an earlier origin, so they are left out)"
    version = None
    if len(version_rows) == 1:
        load_id, kaggle_file, sha, crawl_id, finished = version_rows[0]
        version = DataVersion(kaggle_load_id=None if load_id is None else int(load_id), kaggle_file=kaggle_file,
                              kaggle_sha256=sha, crawl_id=crawl_id,
                              crawl_finished_at=None if finished is None else finished.isoformat(),
                              rows=int(points["video_id"].nunique()))
    return History(points=points, videos=videos.reset_index(drop=True), channel_features=bool(filled),
                   channel_reason=reason, version=version)


def origin_features(points: pd.DataFrame) -> pd.DataFrame:
    """Per point (a possible origin): views, last daily rate, rate over the history so far, points so far.

    Each row uses that point and the ones before it only.
    """
    p = points.sort_values(["video_id", "t"], kind="stable").reset_index(drop=True)
    by = p.groupby("video_id", sort=False)
    dt = p["t"] - by["t"].shift()
    dv = p["views"] - by["views"].shift()
    p["last_rate"] = np.where(dt > 0, dv / dt, np.nan)
    p["last_dt"] = np.where(dt > 0, dt, np.nan)
    first_t, first_v = by["t"].transform("first"), by["views"].transform("first")
    span = p["t"] - first_t
    p["history_rate"] = np.where(span > 0, (p["views"] - first_v) / span.where(span > 0, 1.0), np.nan)
    p["n_points"] = by.cumcount() + 1
    return p


def make_pairs(points: pd.DataFrame, horizons: Sequence[int] = HORIZONS) -> pd.DataFrame:
    """(origin, target) pairs: for each origin point and horizon h, the video's point nearest to
    origin + h (within :data:`TOLERANCE_DAYS`), later than the origin."""
    origins = origin_features(points)
    right = points[["video_id", "t", "views"]].rename(columns={"t": "target_t", "views": "target_views"})
    right = right.sort_values("target_t", kind="stable")
    frames = []
    for h in horizons:
        left = origins.assign(wanted_t=origins["t"] + h).sort_values("wanted_t", kind="stable")
        m = pd.merge_asof(left, right, left_on="wanted_t", right_on="target_t", by="video_id",
                          direction="nearest", tolerance=TOLERANCE_DAYS)
        m = m[m["target_t"].notna() & (m["target_t"] > m["t"])]
        frames.append(m.assign(horizon=int(h), h_days=m["target_t"] - m["t"]))
    if not frames:
        return origins.iloc[0:0]
    return pd.concat(frames, ignore_index=True).drop(columns="wanted_t")


def _f(column: pd.Series) -> np.ndarray:
    """A column as float64, nulls (None, NA, NaN) as NaN, whatever pandas dtype DuckDB gave it."""
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _with_video(frame: pd.DataFrame, videos: pd.DataFrame) -> pd.DataFrame:
    return frame.merge(videos, on="video_id", how="inner")


def design(frame: pd.DataFrame, channel: bool) -> tuple[np.ndarray, list[str]]:
    """The model's feature matrix (NaN = unknown) and the feature names."""
    age = frame["t"] - frame["published_t"]
    cols: dict[str, np.ndarray] = {
        "log_views": np.log1p(_f(frame["views"])),
        "log_last_rate": np.log1p(np.clip(_f(frame["last_rate"]), 0, None)),
        "log_history_rate": np.log1p(np.clip(_f(frame["history_rate"]), 0, None)),
        # the rates relative to the count: growth is relative, and trees cannot take the difference
        "relative_last_rate": np.clip(_f(frame["last_rate"]), 0, None) / np.maximum(_f(frame["views"]), 1.0),
        "relative_history_rate": np.clip(_f(frame["history_rate"]), 0, None) / np.maximum(_f(frame["views"]), 1.0),
        "n_points": _f(frame["n_points"]),
        "log_age": np.log1p(np.clip(age.to_numpy(float), 0, None)),
        "h_days": _f(frame["h_days"]),
        "log_h": np.log(_f(frame["h_days"])),
    }
    for name in STATIC:
        cols[name] = _f(frame[name])
    if channel:
        for kind in CHANNEL_KINDS:
            cols[f"channel_{kind}"] = np.where(frame["channel_kind"].isna(), np.nan,
                                               (frame["channel_kind"] == kind).astype(float))
        # the mart's channel age is as of the video's latest snapshot: moved back to the origin
        cols["channel_age_at_origin"] = (pd.to_numeric(frame["channel_age_days"], errors="coerce")
                                         - (frame["last_t"] - frame["t"])).to_numpy(float)
    return np.column_stack(list(cols.values())), list(cols)


# --------------------------------------------------------------------------- baselines


def _anchor_rate(frame: pd.DataFrame) -> np.ndarray:
    """The last observed daily rate; else the rate over the history; else views / age; else 0."""
    age = (frame["t"] - frame["published_t"]).to_numpy(float)
    lifetime = np.where(age > 0, _f(frame["views"]) / np.where(age > 0, age, 1.0), np.nan)
    rate = _f(frame["last_rate"])
    rate = np.where(np.isnan(rate), _f(frame["history_rate"]), rate)
    rate = np.where(np.isnan(rate), lifetime, rate)
    return np.clip(np.nan_to_num(rate, nan=0.0), 0, None)


def last_rate_forecast(frame: pd.DataFrame) -> np.ndarray:
    """Baseline a: views(T) + h · last daily rate."""
    return _f(frame["views"]) + _f(frame["h_days"]) * _anchor_rate(frame)


def fit_decay_exponent(points: pd.DataFrame, videos: pd.DataFrame) -> float:
    """b of ln rate = a_video + b · ln age over consecutive snapshots (within videos; 0 when not estimable)."""
    p = _with_video(points, videos[["video_id", "published_t"]]).sort_values(["video_id", "t"], kind="stable")
    by = p.groupby("video_id", sort=False)
    dt = p["t"] - by["t"].shift()
    rate = (p["views"] - by["views"].shift()) / dt
    age = (p["t"] + by["t"].shift()) / 2 - p["published_t"]  # the interval's middle
    ok = (dt > 0) & (rate > 0) & (age > 0)
    d = pd.DataFrame({"video_id": p["video_id"][ok], "y": np.log(rate[ok]), "x": np.log(age[ok])})
    if d.empty:
        return 0.0
    g = d.groupby("video_id")
    d = d[g["x"].transform("size") >= 2]
    if len(d) < 3:
        return 0.0
    x = d["x"] - d.groupby("video_id")["x"].transform("mean")
    y = d["y"] - d.groupby("video_id")["y"].transform("mean")
    sxx = float((x * x).sum())
    return float((x * y).sum() / sxx) if sxx > 0 else 0.0


def rate_decay_forecast(frame: pd.DataFrame, b: float) -> np.ndarray:
    """Baseline b: the anchor rate decaying as age^b, integrated over [age, age + h]; no age: baseline a.

    The last rate is the mean over the last interval, so the curve passes through it at the
    interval's middle (at the origin for the other anchors).
    """
    rate = _anchor_rate(frame)
    h = _f(frame["h_days"])
    age = (frame["t"] - frame["published_t"]).to_numpy(float)
    known = np.isfinite(age) & (age > 0)
    safe = np.where(known, age, 1.0)
    half = np.where(np.isfinite(_f(frame["last_rate"])), np.nan_to_num(_f(frame["last_dt"]), nan=0.0) / 2, 0.0)
    middle = np.where(safe - half > 0, safe - half, safe)
    k = b + 1.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        level = rate * (safe / middle) ** b  # the rate at the origin on the curve
        if abs(k) < 1e-9:
            gained = level * safe * np.log1p(h / safe)
        else:
            gained = level * safe / k * ((1 + h / safe) ** k - 1)
    gained = np.where(known & np.isfinite(gained), gained, rate * h)
    return _f(frame["views"]) + np.clip(gained, 0, None)


# --------------------------------------------------------------------------- fitting


def conformal_offsets(residuals: np.ndarray, horizons: np.ndarray, nominal: float = NOMINAL) -> dict[int, tuple[float, float]]:
    """Per horizon, (lo, hi) order statistics of the signed calibration residuals (split conformal,
    finite-sample ranks), always lo ≤ 0 ≤ hi; horizons with few residuals share the pooled ones."""
    residuals, horizons = np.asarray(residuals, float), np.asarray(horizons)
    tail = (1 - nominal) / 2

    def bounds(r: np.ndarray) -> tuple[float, float]:
        r = np.sort(r[np.isfinite(r)])
        n = r.size
        if n == 0:
            return -math.inf, math.inf
        # rounded first: (1 - 0.8) / 2 is 0.0999…98 in floating point, and 100 · that must give rank 10
        lo_rank = math.floor(round((n + 1) * tail, 9))
        hi_rank = math.ceil(round((n + 1) * (1 - tail), 9))
        lo = r[lo_rank - 1] if lo_rank >= 1 else -math.inf
        hi = r[hi_rank - 1] if hi_rank <= n else math.inf
        return min(lo, 0.0), max(hi, 0.0)

    pooled = bounds(residuals)
    out = {}
    for h in np.unique(horizons):
        r = residuals[horizons == h]
        out[int(h)] = bounds(r) if r.size >= MIN_CALIBRATION else pooled
    out[-1] = pooled  # for a horizon without any calibration residual
    return out


def _split_groups(groups: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Boolean mask: rows whose group falls in a seeded random `share` of the groups."""
    unique = np.unique(groups)
    rng = np.random.default_rng(seed)
    chosen = set(rng.permutation(unique)[: max(1, int(round(share * unique.size)))].tolist())
    return np.fromiter((g in chosen for g in groups), bool, len(groups))


def _regressor(seed: int):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=20,
                                         l2_regularization=1.0, early_stopping=False, random_state=seed)


def _intervals(pred_log: np.ndarray, horizons: np.ndarray, offsets) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([offsets.get(int(h), offsets[-1])[0] for h in horizons])
    hi = np.array([offsets.get(int(h), offsets[-1])[1] for h in horizons])
    return np.expm1(pred_log + lo).clip(0, None), np.expm1(pred_log + hi)


@dataclass
class Fitted:
    """Predictions of every method for a set of origins, with intervals (views, not logs)."""

    predicted: dict[str, np.ndarray]
    lower: dict[str, np.ndarray]
    upper: dict[str, np.ndarray]
    decay_exponent: float


def fit_predict(train: pd.DataFrame, test: pd.DataFrame, train_points: pd.DataFrame, videos: pd.DataFrame,
                channel: bool, seed: int, nominal: float = NOMINAL) -> Fitted:
    """Fit every method on `train` pairs (and the decay on `train_points`), predict `test` origins."""
    calib = _split_groups(train["track_group_id"].to_numpy(), CALIBRATION_SHARE, seed)
    if calib.all() or not calib.any():
        calib = np.zeros(len(train), bool)
        calib[::4] = True  # too few groups to split by group: every 4th pair calibrates
    fit, cal = train[~calib], train[calib]
    fit_videos = videos[videos["video_id"].isin(fit["video_id"])]
    b = fit_decay_exponent(train_points[train_points["video_id"].isin(fit_videos["video_id"])], fit_videos)
    y_cal = np.log1p(cal["target_views"].to_numpy(float))
    x_fit, _ = design(fit, channel)
    # a feature unknown for every training pair (e.g. the last rate when every origin is a first
    # snapshot) cannot be learnt from: left out of this fit
    known = np.isfinite(x_fit).any(axis=0)
    y_fit = np.log1p(fit["target_views"].to_numpy(float)) - np.log1p(fit["views"].to_numpy(float))
    model = _regressor(seed).fit(x_fit[:, known], y_fit)

    def model_log(frame):
        # views never fall (YouTube counts only grow): a predicted drop is no growth
        growth = model.predict(design(frame, channel)[0][:, known])
        return np.log1p(_f(frame["views"])) + np.clip(growth, 0, None)

    out = Fitted({}, {}, {}, b)
    for method, predict_log in (
        (MODEL, model_log),
        (LAST_RATE, lambda f: np.log1p(last_rate_forecast(f))),
        (RATE_DECAY, lambda f, b=b: np.log1p(rate_decay_forecast(f, b))),
    ):
        offsets = conformal_offsets(y_cal - predict_log(cal), cal["horizon"].to_numpy(), nominal)
        p = predict_log(test)
        # expm1(log1p(v)) may miss v by a rounding error: never below the known count
        out.predicted[method] = np.maximum(np.expm1(p), _f(test["views"]))
        lower, upper = _intervals(p, test["horizon"].to_numpy(), offsets)
        out.lower[method] = np.minimum(lower, out.predicted[method])
        out.upper[method] = np.maximum(upper, out.predicted[method])
    return out


# --------------------------------------------------------------------------- scoring


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    # constant up to floating-point noise (e.g. one common growth factor): no order to correlate
    if a.size < 3 or np.ptp(a) <= 1e-9 * max(1.0, float(np.max(np.abs(a)))) or np.ptp(b) == 0:
        return math.nan
    return float(stats.spearmanr(a, b).statistic)


def score(actual: np.ndarray, origin: np.ndarray, predicted: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> dict:
    """Median absolute log error, Spearman of predicted vs real views gained and relative growth
    (ln(1+views) gained; NaN when a method predicts the same for every row), interval coverage."""
    err = np.abs(np.log1p(predicted) - np.log1p(actual))
    log_origin = np.log1p(origin)
    return {"mdae": float(np.median(err)), "spearman_gain": _spearman(predicted - origin, actual - origin),
            "spearman_relative": _spearman(np.log1p(predicted) - log_origin, np.log1p(actual) - log_origin),
            "coverage": float(np.mean((lower <= actual) & (actual <= upper)))}


def bootstrap(rows: pd.DataFrame, methods: Sequence[str], model: str | None, seed: int, n_boot: int = BOOTSTRAP,
              group_column: str = "track_group_id") -> dict:
    """Point values and 95 % percentile intervals over groups (a group's rows resampled together).

    ``rows`` has actual, origin and pred_/lower_/upper_<method>. Returns {method: {metric: (value, lo, hi)}}
    and, when `model` is given, {"<model>-<baseline>": {"mdae": ..., "spearman_gain": ...}} (paired).
    """
    actual, origin = rows["actual"].to_numpy(float), rows["origin"].to_numpy(float)
    arrays = {m: (rows[f"pred_{m}"].to_numpy(float), rows[f"lower_{m}"].to_numpy(float),
                  rows[f"upper_{m}"].to_numpy(float)) for m in methods}

    def stats_of(idx):
        s = {m: score(actual[idx], origin[idx], *(a[idx] for a in arrays[m])) for m in methods}
        if model is not None:
            for base in methods:
                if base != model:
                    s[f"{model}-{base}"] = {k: s[model][k] - s[base][k] for k in ("mdae", "spearman_gain")}
        return s

    point = stats_of(np.arange(len(rows)))
    codes, uniques = pd.factorize(rows[group_column])
    members = [np.flatnonzero(codes == g) for g in range(len(uniques))]
    rng = np.random.default_rng(seed)
    draws: dict[str, dict[str, list[float]]] = {k: {m: [] for m in v} for k, v in point.items()}
    for _ in range(n_boot if len(uniques) >= 2 else 0):
        pick = rng.integers(0, len(uniques), len(uniques))
        s = stats_of(np.concatenate([members[g] for g in pick]))
        for k, v in s.items():
            for m, value in v.items():
                draws[k][m].append(value)
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    for k, v in point.items():
        out[k] = {}
        for m, value in v.items():
            d = np.asarray(draws[k][m], float)
            d = d[np.isfinite(d)]
            lo, hi = (np.percentile(d, [2.5, 97.5]) if d.size >= 20 else (math.nan, math.nan))
            out[k][m] = (value, float(lo), float(hi))
    return out


# --------------------------------------------------------------------------- evaluation


@dataclass
class Evaluation:
    """The rolling-origin evaluation: pooled test rows, the folds, the figures per horizon."""

    rows: pd.DataFrame
    folds: list[dict]
    figures: dict[int, dict]  # horizon → bootstrap() output
    decay_exponents: list[float]
    n_groups: int
    nominal: float

    @property
    def horizons(self) -> list[int]:
        return sorted(self.figures)


def _group_halves(videos: pd.DataFrame, seed: int) -> dict:
    groups = np.unique(videos["track_group_id"].astype(str))
    order = np.random.default_rng(seed).permutation(groups)
    return {g: i % 2 for i, g in enumerate(order)}


def evaluate(history: History, *, horizons: Sequence[int] = HORIZONS, seed: int = 42, nominal: float = NOMINAL,
             n_boot: int = BOOTSTRAP) -> Evaluation:
    """The rolling origin over crawl days × the two halves of the track groups (module docstring)."""
    videos = history.videos.assign(track_group_id=history.videos["track_group_id"].astype(str))
    pairs = _with_video(make_pairs(history.points, horizons), videos)
    half = _group_halves(videos, seed)
    pairs["half"] = pairs["track_group_id"].map(half)
    points = _with_video(history.points, videos[["video_id", "track_group_id"]])
    points["half"] = points["track_group_id"].map(half)
    pairs["origin_day"] = np.floor(pairs["t"]).astype(int)
    pairs["target_day"] = np.floor(pairs["target_t"]).astype(int)
    rows, folds, exponents = [], [], []
    for day in sorted(pairs["origin_day"].unique()):
        for test_half in (0, 1):
            train = pairs[(pairs["half"] != test_half) & (pairs["target_day"] <= day)]
            # a horizon is tested only where the window holds enough pairs of it to learn and calibrate
            counts = train["horizon"].value_counts()
            learnt = counts.index[counts >= MIN_CALIBRATION / CALIBRATION_SHARE]
            test = pairs[(pairs["half"] == test_half) & (pairs["origin_day"] == day) & pairs["horizon"].isin(learnt)]
            if len(train) < MIN_TRAIN_PAIRS or train["track_group_id"].nunique() < 4 or test.empty:
                continue
            train_points = points[(points["half"] != test_half) & (np.floor(points["t"]) <= day)]
            fitted = fit_predict(train, test, train_points, videos, history.channel_features, seed + len(folds), nominal)
            exponents.append(fitted.decay_exponent)
            fold = len(folds)
            folds.append({"fold": fold, "day": int(day), "test_half": test_half, "train_pairs": len(train),
                          "test_pairs": len(test), "last_train_target_t": float(train["target_t"].max()),
                          "first_test_origin_t": float(test["t"].min()),
                          "train_groups": sorted(train["track_group_id"].unique().tolist()),
                          "test_groups": sorted(test["track_group_id"].unique().tolist())})
            block = pd.DataFrame({"fold": fold, "video_id": test["video_id"].to_numpy(),
                                  "track_group_id": test["track_group_id"].to_numpy(),
                                  "horizon": test["horizon"].to_numpy(), "origin_t": test["t"].to_numpy(),
                                  "target_t": test["target_t"].to_numpy(), "origin": test["views"].to_numpy(float),
                                  "actual": test["target_views"].to_numpy(float)})
            for m in METHODS:
                block[f"pred_{m}"], block[f"lower_{m}"], block[f"upper_{m}"] = (
                    fitted.predicted[m], fitted.lower[m], fitted.upper[m])
            rows.append(block)
    all_rows = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    figures = {}
    for h in horizons:
        sub = all_rows[all_rows["horizon"] == h] if len(all_rows) else all_rows
        if len(sub):
            figures[int(h)] = bootstrap(sub, METHODS, MODEL, seed, n_boot)
    return Evaluation(rows=all_rows, folds=folds, figures=figures, decay_exponents=exponents,
                      n_groups=int(videos["track_group_id"].nunique()), nominal=nominal)


def forecast(history: History, horizons: Sequence[int], *, seed: int = 42, nominal: float = NOMINAL) -> pd.DataFrame:
    """Every method fitted on all pairs, forecasting each video from its latest point at each horizon."""
    videos = history.videos.assign(track_group_id=history.videos["track_group_id"].astype(str))
    pairs = _with_video(make_pairs(history.points, horizons), videos)
    latest = origin_features(history.points).groupby("video_id", sort=False).tail(1)
    origins = pd.concat([latest.assign(horizon=int(h), h_days=float(h)) for h in horizons], ignore_index=True)
    origins = _with_video(origins, videos)
    fitted = fit_predict(pairs, origins, history.points, videos, history.channel_features, seed, nominal)
    out = pd.DataFrame({"video_id": origins["video_id"], "horizon": origins["horizon"].astype(int),
                        "as_of_t": origins["t"], "last_views": origins["views"].astype("int64")})
    frames = []
    for m in METHODS:
        frames.append(out.assign(model=m, predicted=fitted.predicted[m], lower=fitted.lower[m], upper=fitted.upper[m]))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- figure


def plot_evaluation(evaluation: Evaluation, path: Path) -> Path:
    """Two panels per horizon: median absolute log error with its 95 % CI, and coverage vs nominal."""
    from ml.plots import plt, save_png

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    colors = {MODEL: "#1f77b4", LAST_RATE: "#ff7f0e", RATE_DECAY: "#2ca02c"}
    hs = evaluation.horizons
    width = 0.25
    for i, m in enumerate(METHODS):
        for ax, metric in ((left, "mdae"), (right, "coverage")):
            values = [evaluation.figures[h][m][metric] for h in hs]
            y = np.array([v[0] for v in values])
            err = np.array([[max(v[0] - v[1], 0) if np.isfinite(v[1]) else 0 for v in values],
                            [max(v[2] - v[0], 0) if np.isfinite(v[2]) else 0 for v in values]])
            ax.bar(np.arange(len(hs)) + (i - 1) * width, y, width, yerr=err, capsize=3, color=colors[m],
                   label=LABELS[m])
    for ax in (left, right):
        ax.set_xticks(np.arange(len(hs)), [f"{h} d" for h in hs])
        ax.set_xlabel("horizon")
    left.set_ylabel("median |ln(1+predicted) − ln(1+real)|")
    left.set_title("Error at the horizon (lower is better)")
    right.axhline(evaluation.nominal, color="k", linestyle="--", linewidth=1, label=f"nominal {evaluation.nominal:.0%}")
    right.set_ylim(0, 1.05)
    right.set_ylabel("share of real counts inside the interval")
    right.set_title("Interval coverage")
    right.legend(fontsize=7, loc="lower right")
    return save_png(fig, path)


# --------------------------------------------------------------------------- the asset's work


@dataclass
class ForecastResult:
    """What ml/forecasts did: its runs, the evaluation figures, how many forecasts it stored."""

    status: str  # succeeded | skipped
    reason: str | None
    run_ids: dict[str, str] = field(default_factory=dict)
    evaluation: Evaluation | None = None
    forecasts: int = 0
    horizons: list[int] = field(default_factory=list)
    figure: Path | None = None
    channel_reason: str = ""


def metric_rows(evaluation: Evaluation, method: str) -> list[tuple[str, str, float]]:
    """(metric, split, value) of one method: split h<horizon>; metrics with _low/_high 95 % bounds."""
    out = []
    for h, fig in evaluation.figures.items():
        split = f"h{h}"
        sub = evaluation.rows[evaluation.rows["horizon"] == h]
        out += [("n_pairs", split, float(len(sub))), ("n_groups", split, float(sub["track_group_id"].nunique())),
                ("n_folds", split, float(sub["fold"].nunique())), ("nominal_coverage", split, evaluation.nominal)]
        keys = [method] + ([f"{MODEL}-{b}" for b in BASELINES] if method == MODEL else [])
        for key in keys:
            prefix = "" if key == method else f"minus_{key.split('-', 1)[1]}_"
            for metric, (value, lo, hi) in fig[key].items():
                out += [(f"{prefix}{metric}", split, value), (f"{prefix}{metric}_low", split, lo),
                        (f"{prefix}{metric}_high", split, hi)]
    return out


def run_forecasts(warehouse: Path | str, reports_dir: Path | str, *, seed: int = 42,
                  horizons: Sequence[int] = HORIZONS, nominal: float = NOMINAL, n_boot: int = BOOTSTRAP,
                  lock_timeout_s: float | None = None) -> ForecastResult:
    """Evaluate, forecast, and record: one run per method in ml.runs/ml.metrics, forecasts in ml.forecasts."""
    from datetime import UTC, datetime

    from ml.plots import figure_path
    from ml.tracking import tracked_run
    from warehouse import transaction, write_connection

    history = load_history(warehouse)
    reason = None
    evaluation = None
    if history.points.empty:
        reason = "no crawl history: marts.video_growth has no snapshot yet (crawl YouTube first)"
    else:
        evaluation = evaluate(history, horizons=horizons, seed=seed, nominal=nominal, n_boot=n_boot)
        if not evaluation.figures:
            reason = (f"too little history: no rolling-origin fold has {MIN_TRAIN_PAIRS} training pairs before a "
                      f"test origin at horizons {list(horizons)} (crawl more days)")
    result = ForecastResult(status="skipped" if reason else "succeeded", reason=reason,
                            channel_reason=history.channel_reason)
    if evaluation is not None and not reason:
        result.evaluation = evaluation
        result.horizons = evaluation.horizons
        result.figure = plot_evaluation(evaluation, figure_path(reports_dir, FAMILY, PROTOCOL, "forecast_accuracy"))
        table = forecast(history, result.horizons, seed=seed, nominal=nominal)
    params = {"horizons": list(horizons), "evaluated_horizons": result.horizons, "nominal_coverage": nominal,
              "bootstrap": n_boot, "features": list(HISTORY) + list(STATIC), "channel_features": history.channel_reason,
              "folds": len(evaluation.folds) if evaluation else 0,
              "decay_exponents": [round(b, 4) for b in evaluation.decay_exponents] if evaluation else []}
    for method in METHODS:
        with tracked_run(warehouse, asset=ASSET, family=FAMILY, model=method, protocol=PROTOCOL, task=TASK,
                         params={**params, "method": LABELS[method]}, data_version=history.version, seed=seed,
                         lock_timeout_s=lock_timeout_s) as run:
            result.run_ids[method] = run.run_id
            if reason:
                run.skip(reason)
            for metric, split, value in metric_rows(evaluation, method):
                run.log_metric(metric, value, split=split)
            if method == MODEL:
                run.log_artifact("forecast_accuracy", result.figure, title="Forecast error and interval coverage "
                                 "by horizon (rolling origin, grouped)")
            rows = table[table["model"] == method]
            now = datetime.now(UTC)
            frame = pd.DataFrame({
                "run_id": run.run_id, "model": method, "video_id": rows["video_id"].to_numpy(),
                "horizon": rows["horizon"].to_numpy("int32"),
                "as_of": pd.to_datetime(rows["as_of_t"].to_numpy() * 86400.0, unit="s", utc=True),
                "last_views": rows["last_views"].to_numpy("int64"), "predicted": rows["predicted"].to_numpy(float),
                "lower": rows["lower"].to_numpy(float), "upper": rows["upper"].to_numpy(float),
                "coverage": nominal, "created_at": now})
            with write_connection(warehouse, lock_timeout_s) as con, transaction(con):
                con.register("_tunehouse_forecasts", frame)
                try:
                    con.execute("INSERT INTO ml.forecasts SELECT run_id, model, video_id, horizon, as_of, last_views, "
                                "predicted, lower, upper, coverage, created_at FROM _tunehouse_forecasts")
                finally:
                    con.unregister("_tunehouse_forecasts")
            result.forecasts += len(frame)
    return result


# --------------------------------------------------------------------------- the real test


KAGGLE_FEATURES = ("log_views", "log_likes", "log_comments", "like_share", "comment_share", "log_stream",
                   "stream_over_views", *AUDIO, *FLAGS, "album_single", "album_compilation")


def kaggle_design(frame: pd.DataFrame) -> np.ndarray:
    """Kaggle-time features of the real test: counts, engagement, streams, audio features, flags."""
    lv = np.log1p(_f(frame["views"]))
    cols = [lv, np.log1p(_f(frame["likes"])), np.log1p(_f(frame["comments"])),
            np.log1p(_f(frame["likes"])) - lv, np.log1p(_f(frame["comments"])) - lv,
            _f(frame["log_stream"]), _f(frame["log_stream"]) - lv]
    cols += [_f(frame[c]) for c in (*AUDIO, *FLAGS)]
    album = frame["album_type"].astype("string")
    cols += [np.where(album.isna(), np.nan, (album == kind).astype(float)) for kind in ("single", "compilation")]
    return np.column_stack(cols)


@dataclass
class RealTest:
    """The forecast of the real later snapshot: per-video rows of the scored half and the figures."""

    rows: pd.DataFrame  # scored half: video_id, track_group_id, origin, actual, pred_/lower_/upper_<method>
    calibration_videos: list[str]
    figures: dict  # bootstrap() output over the scored half
    matched: int
    scale: float  # the calibration half's median ln growth (the one fitted horizon constant)
    nominal: float


def forecast_later_counts(features: pd.DataFrame, later: pd.DataFrame, *, seed: int = 42, nominal: float = NOMINAL,
                          n_boot: int = BOOTSTRAP) -> RealTest:
    """Forecast each video's later count from its Kaggle-time row and score it (docs/forecasting.md).

    ``features``: marts.track_features rows (the video's first track by track_id is its row);
    ``later``: video_id, view_count. The track groups are halved at random (seed): the
    calibration half fits the one unknown constant of the baselines (the horizon: every
    video grows by the same factor, since with one snapshot and no publish date the last
    daily rate and the age are unknown and taken as common) and the model (gradient boosting of
    the log growth on the Kaggle-time features, conformal intervals from a quarter of that
    half's groups); the other half is scored, with 95 % intervals from a bootstrap over its
    track groups.
    """
    tracks = features[features["video_id"].notna() & features["views"].notna()].sort_values("track_id", kind="stable")
    per_video = tracks.groupby("video_id", sort=False).head(1)
    later = later.drop_duplicates("video_id")
    later = later[["video_id", "view_count"]].rename(columns={"view_count": "later_views"})  # the mart has a view_count
    data = per_video.merge(later, on="video_id", how="inner")
    data = data.assign(track_group_id=data["track_group_id"].astype(str),
                       g=np.log1p(data["later_views"].to_numpy(float)) - np.log1p(data["views"].to_numpy(float)))
    groups = np.unique(data["track_group_id"])
    order = np.random.default_rng(seed).permutation(groups)
    calib_groups = set(order[: groups.size // 2].tolist())
    in_calib = data["track_group_id"].isin(calib_groups).to_numpy()
    calib, scored = data[in_calib], data[~in_calib]

    inner = _split_groups(calib["track_group_id"].to_numpy(), CALIBRATION_SHARE, seed + 1)
    fit, conf = calib[~inner], calib[inner]
    model = _regressor(seed).fit(kaggle_design(fit), fit["g"].to_numpy())
    constant = float(np.median(calib["g"]))
    no_horizon = np.zeros(len(conf), int)
    model_off = conformal_offsets(conf["g"].to_numpy() - np.clip(model.predict(kaggle_design(conf)), 0, None),
                                  no_horizon, nominal)[0]
    const_off = conformal_offsets(calib["g"].to_numpy() - constant, np.zeros(len(calib), int), nominal)[0]

    origin = scored["views"].to_numpy(float)
    rows = pd.DataFrame({"video_id": scored["video_id"].to_numpy(), "track_group_id": scored["track_group_id"].to_numpy(),
                         "origin": origin, "actual": scored["later_views"].to_numpy(float)})
    base_log = np.log1p(origin)
    predictions = {MODEL: (base_log + np.clip(model.predict(kaggle_design(scored)), 0, None), model_off),
                   # one snapshot, no age: both baselines are one common growth factor (docs/forecasting.md)
                   LAST_RATE: (base_log + constant, const_off), RATE_DECAY: (base_log + constant, const_off)}
    for m, (p, (lo, hi)) in predictions.items():
        rows[f"pred_{m}"], rows[f"lower_{m}"], rows[f"upper_{m}"] = np.expm1(p), np.expm1(p + lo), np.expm1(p + hi)
    return RealTest(rows=rows, calibration_videos=calib["video_id"].tolist(),
                    figures=bootstrap(rows, METHODS, MODEL, seed, n_boot),
                    matched=len(data), scale=constant, nominal=nominal)


# --------------------------------------------------------------------------- the report's section


def _e(value) -> str:
    import html

    return html.escape("" if value is None else str(value))


def _ci(values: dict, metric: str, pct: bool = False) -> str:
    v, lo, hi = (values.get(metric), values.get(f"{metric}_low"), values.get(f"{metric}_high"))
    if v is None or not math.isfinite(v):
        return "<span class='muted'>undefined</span>"
    f = (lambda x: f"{x:.1%}") if pct else (lambda x: f"{x:.4f}")
    ci = f" <span class='muted'>[{f(lo)}, {f(hi)}]</span>" if lo is not None and hi is not None else ""
    return f"{f(v)}{ci}"


def report_section(results: list, base: Path) -> str:
    """The HTML report's forecasting section from the latest forecasting runs (ml.registry results)."""
    from ml.report import _artifact_html

    runs = {r.model: r for r in results if r.family == FAMILY}
    model = runs.get(MODEL)
    head = "<h2 id='forecasting'>Forecasting views: the model against two naive forecasts</h2>"
    if model is None:
        return ""
    if model.status != "succeeded":
        return f"{head}<p class='muted'>No forecasts: {_e(model.status_reason or model.status)}</p>"
    nominal = model.params.get("nominal_coverage", NOMINAL)
    intro = (
        "<p><b>The task.</b> From everything known about a video on one day — its view counts so far, how fast "
        "they rose since the previous snapshot, its age, its Spotify streams and audio features"
        f" (channel: {_e(model.params.get('channel_features', ''))}) — predict its view count h days later, with "
        f"an interval meant to contain the real count {nominal:.0%} of the time. Forecasts for every crawled video "
        "are in SQL: <code>select * from ml.forecasts</code>.</p>"
        "<p><b>How it is checked.</b> Rolling origin: for each crawl day, the methods learn only from counts "
        "observed up to that day and forecast from it; the videos forecast belong to track groups (artists, "
        "songs and videos joined) never seen in training. Errors are <i>median |ln(1+predicted) − ln(1+real)|</i> "
        "(0.01 ≈ 1 % off); <i>Spearman</i> ranks predicted against real views gained (1 = perfect order). "
        "Brackets: 95 % bootstrap intervals over track groups; <i>model − baseline</i> is paired (same rows).</p>"
    )
    rows = []
    for split in sorted((s for s in model.metrics if s.startswith("h") and s[1:].isdigit()), key=lambda s: int(s[1:])):
        h = int(split[1:])
        values = model.metrics[split]
        for method in METHODS:
            r = runs.get(method)
            v = r.metrics.get(split, {}) if r is not None else {}
            diff = ""
            if method != MODEL:
                diff = (f"{_ci(values, f'minus_{method}_mdae')}<br>Spearman "
                        f"{_ci(values, f'minus_{method}_spearman_gain')}")
            rows.append(f"<tr><td>{h} d</td><td>{_e(LABELS[method])}</td><td class='num'>{int(v.get('n_pairs', 0))}"
                        f" / {int(v.get('n_groups', 0))}</td><td class='num'>{_ci(v, 'mdae')}</td>"
                        f"<td class='num'>{_ci(v, 'spearman_gain')}</td><td class='num'>{_ci(v, 'coverage', True)}"
                        f" <span class='muted'>(nominal {nominal:.0%})</span></td><td class='num'>{diff}</td></tr>")
    table = ("<table id='forecasting-table'><tr><th>horizon</th><th>method</th><th>forecasts / groups</th>"
             "<th>median abs. log error</th><th>Spearman (views gained)</th><th>interval coverage</th>"
             "<th>model − this baseline: error; Spearman (negative error = model better)</th></tr>"
             + "".join(rows) + "</table>")
    figure = "".join(_artifact_html(a, base) for a in model.artifacts if a["name"] == "forecast_accuracy")
    limits = (
        "<p class='caption'><b>What to conclude and the limits.</b> The model beats a baseline at a horizon only "
        "where the bracket of <i>model − baseline</i> error lies below 0. Coverage far from "
        f"{nominal:.0%} means the intervals are miscalibrated: calibrated on earlier days, they assume later days "
        "look like them. The horizons are only those the crawl history can test (a horizon longer than the "
        "history has no forecast); a short history gives few folds and wide brackets. On emulated crawls the "
        "growth law is the emulator's, so these figures check the pipeline, not YouTube; the real test against "
        "a real later snapshot is in docs/forecasting.md.</p>"
    )
    return head + intro + table + figure + limits
