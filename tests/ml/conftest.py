"""Fixtures of the classical ML tests: one sample warehouse trained once per worker."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

# Small but real: the whole suite on the 1000-row sample, Optuna kept to a few trials.
OPTUNA_TRIALS = 4
CV_FOLDS = 3
SEED = 42


def train_copy(template: Path, target: Path, reports: Path, **kwargs):
    """Copy a built warehouse and train on it; returns the suite's results."""
    from ml.suite import train
    from tunehouse.settings import get_settings

    shutil.copyfile(template, target)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNEHOUSE_ML_OPTUNA_TRIALS", str(OPTUNA_TRIALS))
        mp.setenv("TUNEHOUSE_ML_TSNE_ROWS", "300")
        mp.setenv("TUNEHOUSE_ML_CV_FOLDS", str(CV_FOLDS))
        mp.setenv("TUNEHOUSE_REPORTS_DIR", str(reports))
        get_settings.cache_clear()
        try:
            return train(target, reports_dir=reports, seed=SEED, **kwargs)
        finally:
            get_settings.cache_clear()


@pytest.fixture(scope="session")
def train_on_copy():
    """train_copy, for tests that train their own warehouse (tests/ml is not a package)."""
    return train_copy


@pytest.fixture(scope="session")
def optuna_trials() -> int:
    return OPTUNA_TRIALS


@pytest.fixture(scope="session")
def trained(built_warehouse_template, tmp_path_factory):
    """(warehouse path, reports dir, results): the whole classical suite, both protocols, once."""
    base = tmp_path_factory.mktemp("ml_trained")
    reports = base / "reports"
    results = train_copy(built_warehouse_template, base / "trained.duckdb", reports)
    return base / "trained.duckdb", reports, results


@pytest.fixture
def sql(trained):
    """Run a query on the trained warehouse (read-only) and return all rows."""
    path = trained[0]

    def run(query: str, params=None):
        con = duckdb.connect(str(path), read_only=True)
        try:
            return con.execute(query, params or []).fetchall()
        finally:
            con.close()

    return run
