"""scikit-learn's own estimator checks (API conventions, input validation, fitted
state, pickling, reproducibility, and the score floors of its train checks) on every
deep estimator, each on a budget small enough for the check data (~20-300 rows).

A check that does not apply is declared below with its reason and runs as a strict
xfail: it must still fail, so a declaration cannot outlive its reason.
"""

from __future__ import annotations

from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from ml.deep.autoencoders import AutoencoderKMeans, VAEKMeans
from ml.deep.tab_transformer import TabTransformerClassifier, TabTransformerRegressor
from ml.deep.tabnet import OptunaTabNetRegressor, TabNetClassifier, TabNetRegressor
from ml.deep.tabpfn_models import TabPFNSubsampleClassifier, TabPFNSubsampleRegressor, _TabPFNBase

# Budgets: enough epochs (and a high learning rate) to clear the train checks' score
# floors on their small data sets, no more.
_TABNET = dict(n_d=4, n_a=4, n_steps=1, learning_rate=5e-2, scheduler_step_size=0, batch_size=32,
               virtual_batch_size=16, max_epochs=20, patience=20, device="cpu")
_TAB_TRANSFORMER = dict(dim=8, depth=1, heads=2, learning_rate=3e-2, batch_size=32, max_epochs=20,
                        patience=20, device="cpu")
_CODE_KMEANS = dict(batch_size=16, max_epochs=2, device="cpu")
# model_path is set per test to the tiny_tabpfn_dir fixture (random weights);
# max_train_rows below the checks' 300-row data sets so the subsample path runs too.
_TABPFN = dict(n_estimators=1, max_train_rows=60, device="cpu")

ESTIMATORS = [
    AutoencoderKMeans(hidden_dim=16, code_dim=4, **_CODE_KMEANS),
    VAEKMeans(hidden_dim=16, latent_dim=2, **_CODE_KMEANS),
    TabNetRegressor(**_TABNET),
    TabNetClassifier(**_TABNET),
    OptunaTabNetRegressor(n_trials=1, trial_max_epochs=1, max_epochs=2, device="cpu"),
    TabTransformerRegressor(**_TAB_TRANSFORMER),
    TabTransformerClassifier(**_TAB_TRANSFORMER),
    TabPFNSubsampleClassifier(**_TABPFN),
    TabPFNSubsampleRegressor(**_TABPFN),
]

_RANDOM_TABPFN = (
    "the test checkpoint has random weights (the real ones are gated), so its "
    "predictions cannot clear the score floor"
)
_TABPFN_SINGLE_ROW = (
    "tabpfn predicts a row alone ~1e-3 apart from the same row in any batch of 2 or "
    "more (upstream; batches of 2+ agree to 1e-8), and the check predicts row by row"
)

EXPECTED_FAILED_CHECKS: dict[type, dict[str, str]] = {
    TabTransformerClassifier: {
        "check_classifiers_train": (
            "the paper's LayerNorm across the continuous features leaves only "
            "sign(x0 - x1) of the check's 2-feature blobs (accuracy ~0.64 < 0.83)"
        ),
    },
    OptunaTabNetRegressor: {
        "check_regressors_train": (
            "trial 0 is the study's configuration (lr 1e-4): at a check-sized budget "
            "one trial cannot reach the R^2 floor of 0.5"
        ),
        "check_methods_subset_invariance": (
            "float32 network (n_steps=5): row-by-row and batched predictions differ "
            "by float32 rounding (~6e-7 relative), above the check's rtol of 1e-7"
        ),
    },
    TabPFNSubsampleClassifier: {
        "check_classifiers_train": _RANDOM_TABPFN,
        "check_methods_subset_invariance": _TABPFN_SINGLE_ROW,
    },
    TabPFNSubsampleRegressor: {
        "check_regressors_train": _RANDOM_TABPFN,
        "check_methods_subset_invariance": _TABPFN_SINGLE_ROW,
    },
}


def _expected_failed_checks(estimator) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS.get(type(estimator), {})


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=_expected_failed_checks, xfail_strict=True
)
def test_scikit_learn_estimator_checks(estimator, check, request):
    if isinstance(estimator, _TabPFNBase):
        weights = request.getfixturevalue("tiny_tabpfn_dir")
        estimator = clone(estimator).set_params(model_path=str(weights))
    check(estimator)


def test_every_deep_estimator_is_checked():
    """A new deep estimator class must be added to ESTIMATORS."""
    import ml.deep.autoencoders
    import ml.deep.tab_transformer
    import ml.deep.tabnet
    import ml.deep.tabpfn_models
    from sklearn.base import BaseEstimator

    public = {
        obj
        for module in (ml.deep.autoencoders, ml.deep.tab_transformer, ml.deep.tabnet, ml.deep.tabpfn_models)
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, BaseEstimator) and not name.startswith("_")
        and obj.__module__ == module.__name__
    }
    assert public == {type(e) for e in ESTIMATORS}
