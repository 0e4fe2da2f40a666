"""Whether a model beats its trivial baseline: paired comparisons with their uncertainty, and
THE rule that turns one into a verdict (the HTML report and the Dagster asset checks both
call :func:`verdict`; nothing else decides).

A comparison is always paired — the model and its baseline scored on the same rows:

* **grouped CV** (:func:`compare_folds`): per fold k, d_k = model_k − baseline_k on that
  fold's test rows. The standard error of the mean difference uses Nadeau & Bengio's
  (2003) correction for the overlap of the folds' training sets,
  SE = sqrt((1/K + n_test/n_train) · s²_d), with s²_d the sample variance of the d_k and
  n_test/n_train the folds' mean ratio (the plain s_d/sqrt(K) understates the spread when
  training sets share most of their rows); df = K − 1.
* **one split** (:func:`compare_rows`; the replication hold-out, or an honest tuning run
  scored on fold 0 only): per test row i a contribution u_i whose sum is the metric's
  difference (accuracy: (correct_model − correct_baseline)/n; R²: (e²_baseline − e²_model)/SST),
  summed per unit U_g; SE = sqrt(G) · s_U over the G units of the test rows, df = G − 1.
  Units are track groups for an honest fold (rows of one group are not independent) and
  rows for the replication hold-out (its random split treats rows as independent draws; that
  it understates the SE is part of what the replication protocol reproduces). The fitted
  models are taken as given: this measures how much the difference depends on which tracks
  were tested, not on which were trained on.

**The rule** (:data:`RULE`): t = difference / SE in the metric's better direction; one-sided
Student t-test with df degrees of freedom at α = 5 %. "beats baseline" when the
difference is positive and p < 0.05; "worse than baseline" when it is negative and the
opposite one-sided p < 0.05; otherwise "no detectable difference".

Light on purpose (numpy and scipy only): the report and the Dagster definitions import it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

ALPHA = 0.05
BEATS = "beats baseline"
NO_DIFFERENCE = "no detectable difference"
WORSE = "worse than baseline"
NOT_COMPARED = "not compared"

RULE = (
    "A model beats its trivial baseline only when the paired difference (model − baseline, "
    "same rows) is positive and a one-sided t-test on it is significant at 5 % "
    "(t = difference / SE, df = units − 1); it is worse when the opposite one-sided test is; "
    "otherwise there is no detectable difference. Over grouped CV folds the SE carries "
    "Nadeau & Bengio's correction for overlapping training sets, sqrt((1/K + n_test/n_train)·s²); "
    "on a single split it is clustered by track group."
)

#: Metrics a verdict can be about, and whether higher is better.
HIGHER_IS_BETTER: dict[str, bool] = {"accuracy": True, "r2": True, "silhouette": True, "roc_auc": True,
                                     "f1": True, "nrmse": False, "rmse": False, "mae": False}

#: ml.metrics split the comparison of a run is stored under (see :meth:`Comparison.to_metrics`).
SPLIT = "vs_baseline"


@dataclass(frozen=True)
class Comparison:
    """A model's score next to its baseline's on the same rows, and the difference's uncertainty.

    ``difference`` = model − baseline (raw; :attr:`gain` is it in the better direction);
    ``units`` = "folds" or "track groups"; ``scope`` says which rows, in words (e.g. "5 grouped
    CV folds", "fold 0 only (the tuned model's test fold)").
    """

    metric: str
    model: float
    baseline: float
    difference: float
    standard_error: float
    df: int
    n_units: int
    units: str
    scope: str

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER.get(self.metric, True)

    @property
    def gain(self) -> float:
        """The difference in the metric's better direction (positive = the model is better)."""
        return self.difference if self.higher_is_better else -self.difference

    def to_metrics(self) -> list[tuple[str, float, str | None]]:
        """(metric, value, note) rows for ``ml.metrics`` under split :data:`SPLIT`."""
        note = json.dumps({"metric": self.metric, "units": self.units, "scope": self.scope}, sort_keys=True)
        return [
            ("difference", self.difference, note),
            ("standard_error", self.standard_error, None),
            ("df", float(self.df), None),
            ("n_units", float(self.n_units), None),
            ("model", self.model, None),
            ("baseline", self.baseline, None),
        ]

    @classmethod
    def from_metrics(cls, values: Mapping[str, float], note: str | None) -> Comparison | None:
        """Back from what :meth:`to_metrics` stored (None when anything is missing)."""
        if note is None or values.get("n_units") is None:
            return None
        meta = json.loads(note)

        def num(key):  # ml.metrics stores NaN as NULL (e.g. no SE from a single unit)
            v = values.get(key)
            return math.nan if v is None else float(v)

        return cls(metric=meta["metric"], model=num("model"), baseline=num("baseline"),
                   difference=num("difference"), standard_error=num("standard_error"),
                   df=int(values.get("df") if values.get("df") is not None else -1), n_units=int(values["n_units"]),
                   units=meta["units"], scope=meta["scope"])

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """The rule's answer for one comparison: its label, t statistic and one-sided p-value."""

    label: str
    t: float | None = None
    p_value: float | None = None
    comparison: Comparison | None = None
    reason: str | None = None  # why there is no comparison (NOT_COMPARED)

    @property
    def beats(self) -> bool:
        return self.label == BEATS

    def summary(self) -> str:
        """One line: 'beats baseline: +0.0123 ± 0.0040 (t = 3.07, df = 4, p = 0.019; 5 grouped CV folds)'."""
        c = self.comparison
        if c is None:
            return f"{self.label}: {self.reason}" if self.reason else self.label
        return (f"{self.label}: {c.metric} {c.difference:+.4f} ± {c.standard_error:.4f} "
                f"(t = {self.t:.2f}, df = {c.df}, one-sided p = {self.p_value:.3f}; {c.scope})")


def not_compared(reason: str) -> Verdict:
    return Verdict(NOT_COMPARED, reason=reason)


def verdict(comparison: Comparison | None, *, reason: str = "no paired comparison with a baseline") -> Verdict:
    """THE rule (module docstring, :data:`RULE`): beats / no detectable difference / worse."""
    from scipy import stats

    if comparison is None:
        return not_compared(reason)
    gain, se, df = comparison.gain, comparison.standard_error, comparison.df
    if not (math.isfinite(gain) and math.isfinite(se)) or df < 1:
        return Verdict(NOT_COMPARED, comparison=comparison,
                       reason=f"too few units to estimate the uncertainty ({comparison.n_units} "
                              f"{comparison.units} in {comparison.scope})")
    if se > 0:
        t = gain / se
    else:  # every unit differs by exactly the same amount
        t = math.copysign(math.inf, gain) if gain != 0 else 0.0
    p_better = float(stats.t.sf(t, df))  # P(T >= t): small when the model is better
    p_worse = float(stats.t.cdf(t, df))  # small when the model is worse
    if gain > 0 and p_better < ALPHA:
        return Verdict(BEATS, t=t, p_value=p_better, comparison=comparison)
    if gain < 0 and p_worse < ALPHA:
        return Verdict(WORSE, t=t, p_value=p_worse, comparison=comparison)
    return Verdict(NO_DIFFERENCE, t=t, p_value=p_better if gain >= 0 else p_worse, comparison=comparison)


# --------------------------------------------------------------------------- building comparisons


def compare_folds(
    metric: str,
    model: Sequence[float],
    baseline: Sequence[float],
    n_train: Sequence[int],
    n_test: Sequence[int],
    *,
    scope: str | None = None,
) -> Comparison:
    """Paired over CV folds, SE with Nadeau & Bengio's correction (module docstring)."""
    m = np.asarray(model, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if m.shape != b.shape or m.ndim != 1:
        raise ValueError(f"{metric}: model and baseline need one value per fold each, got {m.shape} and {b.shape}")
    keep = np.isfinite(m) & np.isfinite(b)
    d = (m - b)[keep]
    k = int(d.size)
    ratio = float(np.mean(np.asarray(n_test, dtype=float)[keep] / np.asarray(n_train, dtype=float)[keep])) if k else 0.0
    if k >= 2:
        se = math.sqrt((1.0 / k + ratio) * float(np.var(d, ddof=1)))
    else:
        se = math.nan
    return Comparison(
        metric=metric, model=float(np.mean(m[keep])) if k else math.nan,
        baseline=float(np.mean(b[keep])) if k else math.nan,
        difference=float(np.mean(d)) if k else math.nan, standard_error=se, df=k - 1, n_units=k,
        units="folds", scope=scope or f"{k} grouped CV folds",
    )


def row_contributions(kind: str, actual: np.ndarray, model_pred: np.ndarray,
                      baseline_pred: np.ndarray) -> tuple[str, np.ndarray, float, float]:
    """(metric, per-row contributions summing to model − baseline, model score, baseline score).

    classification: accuracy; regression: R² (SST over the same test rows).
    """
    y = np.asarray(actual, dtype=float)
    pm = np.asarray(model_pred, dtype=float)
    pb = np.asarray(baseline_pred, dtype=float)
    n = len(y)
    if kind == "classification":
        cm, cb = (pm == y).astype(float), (pb == y).astype(float)
        return "accuracy", (cm - cb) / n, float(cm.mean()), float(cb.mean())
    sst = float(np.sum((y - y.mean()) ** 2))
    em, eb = (y - pm) ** 2, (y - pb) ** 2
    if sst <= 0:
        nan = np.full(n, math.nan)
        return "r2", nan, math.nan, math.nan
    return "r2", (eb - em) / sst, 1 - float(em.sum()) / sst, 1 - float(eb.sum()) / sst


def compare_rows(
    kind: str,
    actual: np.ndarray,
    model_pred: np.ndarray,
    baseline_pred: np.ndarray,
    groups: np.ndarray,
    *,
    scope: str,
    units: str = "track groups",
) -> Comparison:
    """Paired over the rows of one split, SE clustered by ``groups`` (module docstring); give
    each row its own group (``np.arange(n)``, ``units="rows"``) for independent rows."""
    metric, u, model_score, baseline_score = row_contributions(kind, actual, model_pred, baseline_pred)
    groups = np.asarray(groups)
    _, inverse = np.unique(groups, return_inverse=True)
    totals = np.bincount(inverse, weights=u)
    g = int(totals.size)
    se = math.sqrt(g * float(np.var(totals, ddof=1))) if g >= 2 and np.isfinite(totals).all() else math.nan
    return Comparison(
        metric=metric, model=model_score, baseline=baseline_score, difference=float(np.sum(u)),
        standard_error=se, df=g - 1, n_units=g, units=units, scope=scope,
    )
