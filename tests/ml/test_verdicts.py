"""The one rule (ml.verdicts): paired comparisons and their verdicts, against formulas written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from ml import verdicts

fold_values = st.lists(st.floats(0.3, 0.9, allow_nan=False), min_size=2, max_size=10)


@settings(max_examples=200, deadline=None)
@given(model=fold_values, shift=st.floats(-0.1, 0.1), noise=st.lists(st.floats(-0.05, 0.05), min_size=10, max_size=10),
       test_share=st.floats(0.05, 0.5))
def test_fold_comparison_is_the_corrected_paired_t_test(model, shift, noise, test_share):
    k = len(model)
    baseline = [m - shift + e for m, e in zip(model, noise, strict=False)]
    n_test = [int(1000 * test_share)] * k
    n_train = [1000 - t for t in n_test]
    c = verdicts.compare_folds("accuracy", model, baseline, n_train, n_test)

    d = np.array(model) - np.array(baseline)
    expected_se = math.sqrt((1 / k + n_test[0] / n_train[0]) * d.var(ddof=1))
    assert c.difference == pytest.approx(d.mean(), abs=1e-12)
    assert c.standard_error == pytest.approx(expected_se, rel=1e-9, abs=1e-15)
    assert (c.df, c.n_units, c.units) == (k - 1, k, "folds")
    assert c.model == pytest.approx(np.mean(model)) and c.baseline == pytest.approx(np.mean(baseline))

    v = verdicts.verdict(c)
    critical = stats.t.ppf(1 - verdicts.ALPHA, k - 1)  # the one-sided 5 % critical value
    if expected_se == 0:
        return
    t = d.mean() / expected_se
    if t > critical + 1e-9:
        assert v.label == verdicts.BEATS
    elif t < -critical - 1e-9:
        assert v.label == verdicts.WORSE
    elif abs(abs(t) - critical) > 1e-9:
        assert v.label == verdicts.NO_DIFFERENCE
    assert v.t == pytest.approx(t, rel=1e-9)


def test_the_issue_s_tiny_positive_margin_is_no_detectable_difference():
    # 0.7902806 "beat" 0.7902795 before: a positive difference far inside its noise.
    model = [0.7912, 0.7886, 0.7931, 0.7890, 0.7896]
    baseline = [0.7910, 0.7889, 0.7925, 0.7893, 0.7897]
    c = verdicts.compare_folds("accuracy", model, baseline, [800] * 5, [200] * 5)
    assert c.difference > 0
    assert verdicts.verdict(c).label == verdicts.NO_DIFFERENCE


def test_identical_scores_are_no_difference_and_a_constant_gain_beats():
    same = verdicts.compare_folds("accuracy", [0.7] * 5, [0.7] * 5, [80] * 5, [20] * 5)
    assert verdicts.verdict(same).label == verdicts.NO_DIFFERENCE
    better = verdicts.compare_folds("accuracy", [0.8] * 5, [0.7] * 5, [80] * 5, [20] * 5)
    assert verdicts.verdict(better).label == verdicts.BEATS
    worse = verdicts.compare_folds("r2", [-0.2] * 5, [0.0] * 5, [80] * 5, [20] * 5)
    assert verdicts.verdict(worse).label == verdicts.WORSE


def test_lower_is_better_metrics_turn_the_sign():
    c = verdicts.compare_folds("nrmse", [0.02, 0.021, 0.019, 0.02], [0.05, 0.052, 0.049, 0.051], [90] * 4, [10] * 4)
    assert c.difference < 0 and c.gain > 0
    assert verdicts.verdict(c).label == verdicts.BEATS


def test_one_unit_has_no_uncertainty_and_is_not_compared():
    c = verdicts.compare_rows("classification", np.array([1, 0, 1]), np.array([1, 0, 0]), np.array([1, 1, 1]),
                              np.array(["g", "g", "g"]), scope="fold 0")
    assert c.n_units == 1 and math.isnan(c.standard_error)
    v = verdicts.verdict(c)
    assert v.label == verdicts.NOT_COMPARED and "1 track groups" in v.reason


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(20, 200), kind=st.sampled_from(["classification", "regression"]))
def test_row_comparison_sums_to_the_metric_difference_with_a_clustered_se(data, n, kind):
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    groups = rng.integers(0, data.draw(st.integers(2, 15)), size=n)
    if len(np.unique(groups)) < 2:
        groups[0], groups[1] = 0, 1
    if kind == "classification":
        y = rng.integers(0, 2, n)
        pm, pb = rng.integers(0, 2, n), np.ones(n, dtype=int)
        model_score, base_score = np.mean(pm == y), np.mean(pb == y)
        contrib = ((pm == y).astype(float) - (pb == y)) / n
    else:
        y = rng.normal(size=n)
        pm, pb = y + rng.normal(scale=0.5, size=n), np.full(n, y.mean() + 0.1)
        sst = np.sum((y - y.mean()) ** 2)
        model_score, base_score = 1 - np.sum((y - pm) ** 2) / sst, 1 - np.sum((y - pb) ** 2) / sst
        contrib = ((y - pb) ** 2 - (y - pm) ** 2) / sst
    c = verdicts.compare_rows(kind, y, pm, pb, groups, scope="fold 0")
    totals = np.array([contrib[groups == g].sum() for g in np.unique(groups)])
    g = len(totals)
    assert c.difference == pytest.approx(model_score - base_score, abs=1e-12)
    assert c.model == pytest.approx(model_score) and c.baseline == pytest.approx(base_score)
    assert c.standard_error == pytest.approx(math.sqrt(g * totals.var(ddof=1)), rel=1e-9, abs=1e-15)
    assert (c.df, c.n_units) == (g - 1, g)


def test_a_comparison_survives_the_round_trip_through_ml_metrics():
    c = verdicts.compare_folds("r2", [0.3, 0.25, 0.31], [0.0, -0.01, 0.02], [70, 70, 60], [30, 30, 40], scope="3 folds")
    rows = c.to_metrics()
    values = {name: value for name, value, _ in rows}
    note = next(note for name, _, note in rows if name == "difference")
    back = verdicts.Comparison.from_metrics(values, note)
    assert back == c
    assert verdicts.verdict(back).label == verdicts.verdict(c).label
