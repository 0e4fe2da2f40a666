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


def options(reports: Path, **overrides):
    """The TrainOptions of these tests (what an entry point would build from its settings)."""
    from ml.options import TrainOptions

    values = dict(reports_dir=reports, seed=SEED, cv_folds=CV_FOLDS, optuna_trials=OPTUNA_TRIALS, tsne_rows=300)
    values.update(overrides)
    return TrainOptions(**values)


def train_copy(template: Path, target: Path, reports: Path, only=None, **overrides):
    """Copy a built warehouse and train the classical families on it; returns their results."""
    from ml.families import train

    shutil.copyfile(template, target)
    return train(target, options(reports, **overrides), only=only or ["classical"])


@pytest.fixture(scope="session")
def train_on_copy():
    """train_copy, for tests that train their own warehouse (tests/ml is not a package)."""
    return train_copy


@pytest.fixture(scope="session")
def train_options():
    """options(), for tests that train in place."""
    return options


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
