"""Tuning (study ch. 6): GridSearchCV for RF / GB / XGBoost and an Optuna TPE study with
pruning for XGBoost, persisted in SQLite under ``reports_dir`` so that it can be resumed.

Where the search runs, per protocol:

* ``replication``: on the study's 8:2 random hold-out — 3-fold stratified CV inside the
  training rows, best model refitted and scored on the hold-out (the study's figure is RF
  0.7646 → 0.7882);
* ``honest``: on one fold of the grouped split (:func:`tuning_fold`: the one whose test rows
  hold the most track groups) — 3-fold CV inside its training rows grouped by track group,
  best model scored on the fold's held-out groups and compared with the trivial baseline on
  that same fold (rows clustered by track group); ``cv_mean``/``cv_std`` hold the inner
  CV's score of the chosen candidate.

The grids are the study's grids bounded so the suite stays within minutes (see
``GRIDS``); the Optuna study adds ``TrainOptions.optuna_trials`` trials per run to the same
study (same name → resumed), reporting each inner fold's accuracy so the median pruner can
stop hopeless trials early. Every run goes through :class:`ml.pipeline.Pipeline` (the
search is its tuner step).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import optuna
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline as Pipeline_
from xgboost import XGBClassifier

from ml.datasets import Protocol, Split, TaskData, TrackData
from ml.options import TrainOptions
from ml.pipeline import Pipeline, RunContext
from ml.plots import new_figure, save_png
from ml.results import FamilyResult

FAMILY = "tuning"
TASK = "stream_gap_label"
INNER_FOLDS = 3

#: The study's grids (ch. 6-2), bounded so the whole suite runs in minutes on 2 cores: the
#: searched parameters get two values each (the study's best among them where affordable:
#: RF max_depth 20, GB learning_rate 0.2, XGB max_depth 7 / subsample 0.8); fixed values are
#: one-element lists. Sklearn's GradientBoosting is single-threaded and the slowest to fit,
#: so its grid is the smallest.
GRIDS: dict[str, dict[str, list]] = {
    "random_forest_grid": {"n_estimators": [100], "max_depth": [10, 20]},
    "gradient_boosting_grid": {"learning_rate": [0.1, 0.2], "max_depth": [3], "n_estimators": [100]},
    "xgboost_grid": {"max_depth": [3, 7], "subsample": [0.8, 1.0], "learning_rate": [0.1],
                     "colsample_bytree": [0.8], "n_estimators": [200]},
}


def _base(name: str, seed: int):
    if name == "random_forest_grid":
        return RandomForestClassifier(n_jobs=1, random_state=seed, min_samples_leaf=1)
    if name == "gradient_boosting_grid":
        return GradientBoostingClassifier(random_state=seed)
    return XGBClassifier(n_jobs=1, random_state=seed, tree_method="hist", eval_metric="logloss")


def _inner_cv(td: TaskData, train_rows: np.ndarray, y: np.ndarray, seed: int):
    """Inner CV splits (positions into train_rows): grouped for honest, stratified for replication."""
    if td.protocol is Protocol.HONEST:
        return list(GroupKFold(n_splits=INNER_FOLDS, shuffle=True, random_state=seed)
                    .split(train_rows, groups=td.groups[train_rows]))
    return list(StratifiedKFold(n_splits=INNER_FOLDS, shuffle=True, random_state=seed)
                .split(train_rows, y[train_rows]))


def tuning_fold(split: Split, td: TaskData) -> Split:
    """The honest tuning split: one fold of the grouped CV (its own key, so ml.splits keeps both).

    The fold whose test rows hold the most track groups (ties: the lowest index): chosen from
    the split's structure alone, never from a score. Its test rows are the units of the
    tuned model's comparison with the baseline, and one fold whose test rows are a single
    large group (collaborations chain artists into one) could not measure any uncertainty.
    """
    if not split.is_cv:
        return split
    fold = max(split.folds, key=lambda f: (len(np.unique(td.groups[f.test])), -f.index))
    return dataclasses.replace(split, key=f"{split.key}-f{fold.index}", folds=(fold,),
                               description=split.description + f"; tuned and scored on fold {fold.index} only "
                                                               "(the fold with the most track groups)")


def grid_tuner(name: str):
    def tune(ctx: RunContext):
        td, seed, run = ctx.td, ctx.seed, ctx.run
        fold = ctx.split.folds[0]
        reference = fold.train if td.protocol is Protocol.HONEST else None
        y = td.y(reference)
        cv = _inner_cv(td, fold.train, y, seed)
        scaler = td.task.make_scaler()
        pipe = Pipeline_([("scale", scaler), ("model", _base(name, seed))])
        grid = {f"model__{k}": v for k, v in GRIDS[name].items()}
        # Worker processes pay off on the real data only; on small samples their start-up dominates.
        n_jobs = 2 if len(fold.train) > 3000 else 1
        search = GridSearchCV(pipe, grid, cv=cv, scoring="accuracy", n_jobs=n_jobs, refit=False)
        search.fit(td.X[fold.train], y[fold.train])
        best = {k.removeprefix("model__"): v for k, v in search.best_params_.items()}
        run.params.update(grid=GRIDS[name], best_params=best, inner_cv=f"{INNER_FOLDS}-fold "
                          + ("grouped by artist" if td.protocol is Protocol.HONEST else "stratified"))
        i = search.best_index_
        run.log_metric("accuracy", search.cv_results_["mean_test_score"][i], split="cv_mean")
        run.log_metric("accuracy", search.cv_results_["std_test_score"][i], split="cv_std")
        for j, params in enumerate(search.cv_results_["params"]):
            label = ",".join(f"{k.removeprefix('model__')}={v}" for k, v in params.items())
            run.log_metric(f"grid_accuracy[{label}]", search.cv_results_["mean_test_score"][j], split="grid")
        fig, ax = new_figure(7, 0.35 * len(search.cv_results_["params"]) + 1.5)
        labels = [",".join(f"{k.removeprefix('model__')}={v}" for k, v in p.items()
                           if len(grid[k]) > 1) for p in search.cv_results_["params"]]
        ax.barh(labels, search.cv_results_["mean_test_score"], xerr=search.cv_results_["std_test_score"])
        ax.set_xlim(max(0.0, min(search.cv_results_["mean_test_score"]) - 0.05), None)
        ax.set_xlabel("inner-CV accuracy (mean ± std)")
        ax.set_title(f"{name}: grid ({td.protocol.value})", fontsize=9)
        path = save_png(fig, ctx.figure_path(f"{name}_scores"))
        ctx.add_figure(f"{name}_scores", path, title=f"GridSearchCV scores: {name}")
        estimator = _base(name, seed).set_params(**best)
        if hasattr(estimator, "n_jobs"):
            estimator.set_params(n_jobs=2)
        return lambda: clone(estimator)
    return tune


def study_storage(reports_dir: Path) -> str:
    """The SQLite file every Optuna study of this family lives in (resumable by name)."""
    folder = Path(reports_dir) / "optuna"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'studies.db'}"


def optuna_tuner(n_trials: int):
    def tune(ctx: RunContext):
        td, seed, run = ctx.td, ctx.seed, ctx.run
        fold = ctx.split.folds[0]
        reference = fold.train if td.protocol is Protocol.HONEST else None
        y = td.y(reference)
        cv = _inner_cv(td, fold.train, y, seed)
        X = td.X[fold.train]
        yt = y[fold.train]

        def objective(trial: optuna.Trial) -> float:
            params = {
                "n_estimators": trial.suggest_int("n_estimators", 50, 300, step=50),
                "max_depth": trial.suggest_int("max_depth", 2, 8),
                "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
                "subsample": trial.suggest_float("subsample", 0.6, 1.0),
                "colsample_bytree": trial.suggest_float("colsample_bytree", 0.6, 1.0),
                "min_child_weight": trial.suggest_int("min_child_weight", 1, 10),
            }
            scores = []
            for step, (tr, te) in enumerate(cv):
                model = XGBClassifier(n_jobs=2, random_state=seed, tree_method="hist", eval_metric="logloss",
                                      **params).fit(X[tr], yt[tr])
                scores.append(float((model.predict(X[te]) == yt[te]).mean()))
                trial.report(float(np.mean(scores)), step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            return float(np.mean(scores))

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no per-trial lines in CLI/demo output
        name = f"xgboost_{td.protocol.value}_{td.version.fingerprint}_seed{seed}"
        storage = study_storage(ctx.options.reports_dir)
        study = optuna.create_study(
            study_name=name, storage=storage, direction="maximize", load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=seed + len(_trials(storage, name))),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        )
        before = len(study.trials)
        study.optimize(objective, n_trials=n_trials)
        states = [t.state.name for t in study.trials]
        run.params.update(study=name, storage=storage, trials_before=before, trials_total=len(study.trials),
                          best_params=study.best_params, sampler="TPE", pruner="median")
        run.log_metric("trials_total", len(study.trials), split="study")
        run.log_metric("trials_added", len(study.trials) - before, split="study")
        run.log_metric("trials_pruned", states.count("PRUNED"), split="study")
        run.log_metric("accuracy", study.best_value, split="cv_mean")
        done = [t for t in study.trials if t.value is not None]
        run.log_curve("trial_accuracy", [t.number for t in done], [t.value for t in done], split="study")
        fig, ax = new_figure(6.5, 4)
        ax.scatter([t.number for t in done], [t.value for t in done], s=12, label="completed trial")
        best_so_far = np.maximum.accumulate([t.value for t in done]) if done else []
        ax.plot([t.number for t in done], best_so_far, color="red", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel("inner-CV accuracy")
        ax.legend()
        ax.set_title(f"Optuna TPE ({len(study.trials)} trials, {states.count('PRUNED')} pruned; {td.protocol.value})",
                     fontsize=9)
        path = save_png(fig, ctx.figure_path("xgboost_optuna_history"))
        ctx.add_figure("xgboost_optuna_history", path, title="Optuna optimisation history")
        best = dict(study.best_params)
        return lambda: XGBClassifier(n_jobs=2, random_state=seed, tree_method="hist", eval_metric="logloss", **best)
    return tune


def _trials(storage: str, name: str) -> list:
    try:
        return optuna.load_study(study_name=name, storage=storage).trials
    except KeyError:
        return []


def train(warehouse: Path, data: TrackData, options: TrainOptions) -> FamilyResult:
    """Each grid search and the Optuna study under each protocol, scored on the tuned split."""
    pipe = Pipeline(FAMILY, warehouse, data, options)
    for protocol in options.protocols:
        plan = {name: (grid_tuner(name), {"grid": GRIDS[name]}) for name in GRIDS}
        plan["xgboost_optuna"] = (optuna_tuner(options.optuna_trials), {"n_trials": options.optuna_trials})
        for name, (tuner, params) in plan.items():
            if options.wants(name):
                pipe.supervised(TASK, name, protocol, tuner=tuner, params=params, restrict_split=tuning_fold)
    return pipe.result()
