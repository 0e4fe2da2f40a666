"""The deep estimators on tiny data: architecture, early stopping restores the best
epoch, seeds make CPU runs identical, saved models predict the same after loading."""

from __future__ import annotations

import pickle
import numpy as np
import polars as pl
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from ml.deep.autoencoders import AutoencoderKMeans, MLPAutoencoder, VAEKMeans
from ml.deep.device import resolve_device
from ml.deep.tab_transformer import TabTransformerClassifier, TabTransformerNet, TabTransformerRegressor
from ml.deep.training import validation_split

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_device_is_cpu_without_a_gpu_and_cuda_refused_when_absent():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_report_autoencoder_architecture():
    net = MLPAutoencoder(11)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(11, 128), (128, 64), (64, 11)]
    assert sum(isinstance(m, nn.ReLU) for m in net.modules()) == 2


@pytest.mark.parametrize("cls", [AutoencoderKMeans, VAEKMeans])
def test_code_kmeans_trains_clusters_and_is_reproducible(cls, blobs, tmp_path):
    X, truth = blobs
    params = dict(max_epochs=6, batch_size=64, random_state=5, device="cpu")
    first = cls(**params).fit(X)
    second = cls(**params).fit(X)
    assert first.n_epochs_ == len(first.history_["val_loss"]) == len(first.history_["train_loss"])
    assert first.history_ == second.history_
    np.testing.assert_array_equal(first.labels_, second.labels_)
    np.testing.assert_array_equal(first.transform(X), second.transform(X))
    code = first.transform(X)
    assert code.shape == (240, 64 if cls is AutoencoderKMeans else 8)
    assert set(np.unique(first.labels_)) <= {0, 1, 2, 3}
    np.testing.assert_array_equal(first.predict(X), first.labels_)
    # Four well separated blobs: the clusters on the code agree with them far above chance.
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth, first.labels_) > 0.5
    loaded = pickle.loads(pickle.dumps(first))  # scikit-learn's way to persist an estimator
    np.testing.assert_array_equal(loaded.predict(X), first.predict(X))
    np.testing.assert_allclose(loaded.transform(X), code)


def test_autoencoder_restores_the_best_epoch(blobs):
    """After fit the network is the best epoch's: its validation loss, recomputed here
    from the restored weights, is the minimum of the recorded curve."""
    X, _ = blobs
    est = AutoencoderKMeans(max_epochs=8, batch_size=32, learning_rate=5e-2, patience=2,
                            random_state=1, device="cpu").fit(X)
    _, val = validation_split(len(X), est.validation_fraction, est.random_state)
    with torch.no_grad():
        x = torch.from_numpy(X[val])
        recomputed = float(F.mse_loss(est.module_(x), x))
    assert recomputed == pytest.approx(min(est.history_["val_loss"]), rel=1e-5)
    assert est.best_epoch_ == int(np.argmin(est.history_["val_loss"]))


# ----------------------------------------------------------------- TabTransformer


def test_tab_transformer_attends_across_categorical_columns():
    """Column embeddings + attention: changing one categorical column changes the
    contextual embedding of the OTHER columns (the report's single-token model could not)."""
    torch.manual_seed(0)
    net = TabTransformerNet([5, 4, 3], n_continuous=2, d_out=1, dim=16, depth=2, heads=4).eval()
    x_cat = torch.tensor([[1, 2, 1]])
    changed = torch.tensor([[3, 2, 1]])
    with torch.no_grad():
        a = net.contextual_embeddings(x_cat)
        b = net.contextual_embeddings(changed)
    assert a.shape == (1, 3, 16)
    assert not torch.allclose(a[0, 1], b[0, 1])
    assert not torch.allclose(a[0, 2], b[0, 2])
    # Same value in different columns gives different tokens (the column embedding).
    with torch.no_grad():
        tokens = net.value_embedding(torch.tensor([1, 1, 1]) + net.offsets) + net.column_embedding
    assert not torch.allclose(tokens[0], tokens[1])
    # Continuous features enter through a LayerNorm, after the transformer.
    assert isinstance(net.continuous_norm, nn.LayerNorm)
    assert net.mlp[0].in_features == 3 * 16 + 2


def test_tab_transformer_regression_early_stops_restores_best_and_round_trips(tabular, tmp_path):
    frame, y, _ = tabular
    cat = ["artist", "key", "licensed"]
    params = dict(categorical_features=cat, dim=8, depth=1, heads=2, max_epochs=6, batch_size=64,
                  patience=2, random_state=3, device="cpu")
    model = TabTransformerRegressor(**params).fit(frame, y)
    again = TabTransformerRegressor(**params).fit(frame, y)
    assert model.history_ == again.history_
    np.testing.assert_array_equal(model.predict(frame), again.predict(frame))
    assert model.categorical_features_ == cat
    assert model.continuous_features_ == ["energy", "loudness"]
    # Restored weights reproduce the best validation loss (MSE on the standardised target).
    _, val = validation_split(len(frame), model.validation_fraction, model.random_state)
    standardised = (model.predict(frame.iloc[val]) - model.y_mean_) / model.y_scale_
    target = (y[val] - model.y_mean_) / model.y_scale_
    assert np.mean((standardised - target) ** 2) == pytest.approx(min(model.history_["val_loss"]), rel=1e-4)
    # It learned something: better than predicting the mean on the training rows.
    assert np.mean((model.predict(frame) - y) ** 2) < np.var(y)
    # Polars input and unseen categories work; saving/loading predicts the same.
    np.testing.assert_allclose(model.predict(pl.from_pandas(frame)), model.predict(frame))
    unseen = frame.head(5).assign(artist="nobody heard of", key=99.0)
    assert np.isfinite(model.predict(unseen)).all()
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_tab_transformer_classifier_on_arrays_with_index_categoricals(tabular):
    frame, _, _ = tabular
    # A label carried by a categorical column, 10 % flipped: learnable only through the tokens.
    flip = np.random.default_rng(0).uniform(size=len(frame)) < 0.1
    label = ((frame["key"].to_numpy() > 5) ^ flip).astype(int)
    X = frame.assign(licensed=frame["licensed"].map({True: 1.0, False: 0.0})).drop(columns="artist").to_numpy(float)
    model = TabTransformerClassifier(categorical_features=[0, 1], dim=8, depth=1, heads=2, max_epochs=20,
                                     learning_rate=5e-3, patience=20, random_state=0, device="cpu").fit(X, label)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])
    assert (model.predict(X) == label).mean() > 0.8


def test_tab_transformer_rejects_bad_input(tabular):
    frame, y, _ = tabular
    with pytest.raises(KeyError, match="genre"):
        TabTransformerRegressor(categorical_features=["genre"], max_epochs=1).fit(frame, y)
    with pytest.raises(ValueError, match="two classes"):
        TabTransformerClassifier(max_epochs=1).fit(frame.drop(columns=["artist", "licensed"]), np.zeros(len(frame)))
    with pytest.raises(ValueError, match="rows"):
        TabTransformerRegressor(max_epochs=1).fit(frame.drop(columns=["artist", "licensed"]), y[:-1])


# ----------------------------------------------------------------- TabNet


def _tabnet_data(n=400):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    X[::13, 2] = np.nan
    y = 2 * X[:, 0] - X[:, 1] + rng.normal(scale=0.1, size=n)
    return X, y


def test_tabnet_uses_the_suite_early_stopping_and_restores_best(tmp_path):
    from ml.deep.tabnet import TabNetClassifier, TabNetRegressor

    X, y = _tabnet_data()
    params = dict(max_epochs=6, patience=2, learning_rate=2e-2, batch_size=128, virtual_batch_size=64,
                  random_state=4, device="cpu")
    model = TabNetRegressor(**params).fit(X, y)
    again = TabNetRegressor(**params).fit(X, y)
    np.testing.assert_array_equal(model.predict(X), again.predict(X))
    assert model.history_ == again.history_
    assert model.n_epochs_ == len(model.history_["val_loss"]) <= 6
    _, val = validation_split(len(X), model.validation_fraction, model.random_state)
    standardised = (model.predict(X[val]) - model.y_mean_) / model.y_scale_
    target = (y[val] - model.y_mean_) / model.y_scale_
    assert np.mean((standardised - target) ** 2) == pytest.approx(min(model.history_["val_loss"]), rel=1e-4)
    assert model.feature_importances_.shape == (5,)
    assert model.feature_importances_.sum() == pytest.approx(1.0)
    aggregate, masks = model.explain(X[:7])
    assert aggregate.shape == (7, 5) and len(masks) == model.n_steps and masks[0].shape == (7, 5)
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))

    clf = TabNetClassifier(max_epochs=3, random_state=4, device="cpu").fit(X, (y > 0).astype(int))
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_array_equal(clf.predict(X), proba.argmax(axis=1))


def test_tabnet_report_configurations():
    from ml.deep.tabnet import TabNetClassifier, TabNetRegressor

    reg, clf = TabNetRegressor(), TabNetClassifier()
    assert (reg.n_d, reg.n_a, reg.n_steps, reg.gamma, reg.lambda_sparse, reg.learning_rate) == (8, 8, 5, 1.3, 1e-3, 1e-4)
    assert (reg.batch_size, reg.virtual_batch_size, reg.patience) == (512, 256, 10)
    assert (clf.n_steps, clf.gamma, clf.learning_rate, clf.momentum) == (3, 1.5, 1e-3, 0.3)
    assert (clf.batch_size, clf.virtual_batch_size, clf.scheduler_step_size, clf.scheduler_gamma) == (256, 128, 10, 0.9)


def test_optuna_study_starts_from_the_report_config_and_searches_the_report_space():
    from ml.deep.tabnet import REPORT_REGRESSION_CONFIG, TUNED_PARAMETERS, OptunaTabNetRegressor

    X, y = _tabnet_data(300)
    model = OptunaTabNetRegressor(n_trials=3, trial_max_epochs=2, max_epochs=2, random_state=0, device="cpu").fit(X, y)
    trials = model.study_.trials
    assert len(trials) == 3
    assert {k: trials[0].params[k] for k in TUNED_PARAMETERS} == {k: REPORT_REGRESSION_CONFIG[k] for k in TUNED_PARAMETERS}
    for t in trials[1:]:
        assert 8 <= t.params["n_d"] <= 64 and 8 <= t.params["n_a"] <= 64 and 3 <= t.params["n_steps"] <= 10
        assert 1.0 <= t.params["gamma"] <= 2.0 and 1e-6 <= t.params["lambda_sparse"] <= 1e-3
        assert 1e-3 <= t.params["learning_rate"] <= 1e-1
    assert model.best_params_ == model.study_.best_params
    assert model.estimator_.n_d == model.best_params_["n_d"]
    assert model.predict(X).shape == (300,)
    with pytest.raises(ValueError, match="n_trials"):
        OptunaTabNetRegressor(n_trials=0).fit(X, y)


# ----------------------------------------------------------------- shared pieces


def test_stratified_hold_out_keeps_every_class_in_training_and_shares_in_validation():
    labels = np.repeat(["a", "b", "c", "d"], [60, 30, 8, 1])
    train, val = validation_split(len(labels), 0.1, 7, stratify=labels)
    assert len(val) == 9 and len(train) + len(val) == len(labels)
    assert np.intersect1d(train, val).size == 0
    # Every class keeps a training row (the single "d" row stays in training) ...
    assert set(labels[train]) == {"a", "b", "c", "d"}
    # ... and the hold-out follows the class shares (6, 3, 0.8 -> 1, 0.1 -> 0).
    assert dict(zip(*np.unique(labels[val], return_counts=True), strict=True)) == {"a": 6, "b": 3}
    again = validation_split(len(labels), 0.1, 7, stratify=labels)
    np.testing.assert_array_equal(again[1], val)
    # Without labels the split is the plain seeded permutation, as before.
    order = np.random.default_rng(7).permutation(99)
    np.testing.assert_array_equal(validation_split(99, 0.1, 7)[1], np.sort(order[:9]))
    with pytest.raises(ValueError, match="every class"):
        validation_split(3, 0.5, 0, stratify=np.array([0, 1, 2]))


def test_configure_torch_threads_takes_the_count_from_the_caller():
    from ml.deep.device import configure_torch_threads

    before = torch.get_num_threads()
    try:
        assert configure_torch_threads(1) == 1 and torch.get_num_threads() == 1
        with pytest.raises(ValueError, match=">= 1"):
            configure_torch_threads(0)
        with pytest.raises(TypeError):
            configure_torch_threads()  # type: ignore[call-arg]
    finally:
        torch.set_num_threads(before)


def test_tabnet_classifier_trains_on_a_class_too_rare_for_a_random_hold_out():
    """A class of one row in 120 with a 10 % hold-out: the stratified split keeps it in
    training and the hold-out log-loss is defined without it (a random hold-out left
    the class out of training or out of validation, and either crashed the fit)."""
    from ml.deep.tabnet import TabNetClassifier

    X, y = _tabnet_data(120)
    label = np.where(np.arange(120) < 1, "rare", np.where(y > 0, "up", "down"))
    clf = TabNetClassifier(max_epochs=2, batch_size=32, virtual_batch_size=16, random_state=0,
                           device="cpu").fit(X, label)
    np.testing.assert_array_equal(clf.classes_, ["down", "rare", "up"])
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 3) and np.isfinite(clf.history_["val_loss"]).all()


def test_tab_transformer_refuses_non_numeric_or_infinite_continuous_values(tabular):
    frame, y, _ = tabular
    numeric = frame.drop(columns=["artist", "licensed"])
    params = dict(dim=8, depth=1, heads=2, max_epochs=1, device="cpu")
    # A text column not declared categorical used to become all-missing silently.
    with pytest.raises(ValueError, match="continuous feature 'artist'.*categorical_features"):
        TabTransformerRegressor(**params).fit(frame.drop(columns="licensed"), y)
    with pytest.raises(ValueError, match="infinity in continuous feature 'energy'"):
        TabTransformerRegressor(**params).fit(numeric.assign(energy=np.inf), y)
    model = TabTransformerRegressor(**params).fit(numeric, y)
    with pytest.raises(ValueError, match="infinity"):
        model.predict(numeric.assign(loudness=-np.inf))
    # Fitted on named columns: the same names are required at prediction time.
    assert list(model.feature_names_in_) == ["key", "energy", "loudness"]
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(numeric[["energy", "key", "loudness"]])
