"""TabPFN: weights are found where TABPFN_MODEL_PATH or TabPFN's cache says, missing
weights give a clear skip reason, and a tiny checkpoint in TabPFN's own format loads,
fits and predicts through the real tabpfn code path."""

from __future__ import annotations

import pickle
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.deep.tabpfn_models import (
    TabPFNSubsampleClassifier,
    TabPFNSubsampleRegressor,
    default_checkpoint_names,
    locate_tabpfn_weights,
    subsample_rows,
)

from .conftest import CLASSIFIER_CKPT, REGRESSOR_CKPT

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_weights_are_located_from_a_file_a_folder_or_tabpfn_cache(tiny_tabpfn_dir, tmp_path, monkeypatch):
    file = tiny_tabpfn_dir / CLASSIFIER_CKPT
    assert locate_tabpfn_weights("classifier", file).path == file
    assert locate_tabpfn_weights("classifier", tiny_tabpfn_dir).path == file
    assert locate_tabpfn_weights("regressor", tiny_tabpfn_dir).path == tiny_tabpfn_dir / REGRESSOR_CKPT
    # Nothing configured: TabPFN's own cache folder (TABPFN_MODEL_CACHE_DIR moves it).
    from tabpfn.settings import settings as tabpfn_settings

    monkeypatch.setattr(tabpfn_settings.tabpfn, "model_cache_dir", tiny_tabpfn_dir)
    assert locate_tabpfn_weights("regressor").path == tiny_tabpfn_dir / REGRESSOR_CKPT
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(tabpfn_settings.tabpfn, "model_cache_dir", empty)
    missing = locate_tabpfn_weights("classifier")
    assert not missing.available
    assert missing.skip_reason.startswith(f"skipped: no TabPFN weights at {empty}")
    assert "TABPFN_MODEL_PATH" in missing.skip_reason
    assert not locate_tabpfn_weights("classifier", tmp_path / "nope.ckpt").available


def test_default_names_cover_the_current_and_v2_checkpoints():
    names = default_checkpoint_names("classifier")
    assert names[0] == "tabpfn-v3.5-20260909.safetensors"
    assert CLASSIFIER_CKPT in names and REGRESSOR_CKPT in default_checkpoint_names("regressor")


def test_fitting_without_weights_fails_with_the_skip_reason(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TabPFN weights at"):
        TabPFNSubsampleClassifier(model_path=str(tmp_path)).fit(np.zeros((20, 2)), np.arange(20) % 2)


@settings(max_examples=60, deadline=None)
@given(
    n_pos=st.integers(5, 300), n_neg=st.integers(5, 300), max_rows=st.integers(10, 200), seed=st.integers(0, 99)
)
def test_stratified_subsample_keeps_class_shares_and_size(n_pos, n_neg, max_rows, seed):
    labels = np.array([1] * n_pos + [0] * n_neg)
    np.random.default_rng(seed).shuffle(labels)
    rows = subsample_rows(len(labels), max_rows, seed, stratify=labels)
    assert len(rows) == min(max_rows, len(labels))
    assert len(np.unique(rows)) == len(rows) and np.all(np.diff(rows) > 0)
    if len(labels) > max_rows:
        share = labels.mean()
        # Largest-remainder rounding: each class within one row of its exact share.
        assert abs(labels[rows].sum() - share * max_rows) <= 1


def test_tiny_checkpoint_classifier_and_regressor_fit_predict_and_round_trip(tiny_tabpfn_dir, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = (X[:, 0] > 0).astype(int)
    clf = TabPFNSubsampleClassifier(model_path=str(tiny_tabpfn_dir), max_train_rows=120, n_estimators=2,
                                    random_state=1, device="cpu").fit(X, y)
    assert clf.train_rows_used_ == 120
    assert clf.weights_path_ == tiny_tabpfn_dir / CLASSIFIER_CKPT
    proba = clf.predict_proba(X)
    assert proba.shape == (400, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert set(np.unique(clf.predict(X))) <= {0, 1}
    again = TabPFNSubsampleClassifier(model_path=str(tiny_tabpfn_dir), max_train_rows=120, n_estimators=2,
                                      random_state=1, device="cpu").fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(loaded.predict_proba(X), proba)

    reg = TabPFNSubsampleRegressor(model_path=str(tiny_tabpfn_dir), max_train_rows=150, n_estimators=2,
                                   random_state=1, device="cpu").fit(X, X[:, 1] * 3)
    pred = reg.predict(X)
    assert pred.shape == (400,) and np.isfinite(pred).all()
    assert reg.train_rows_used_ == 150
