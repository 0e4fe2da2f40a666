"""tunehouse ML: the report's models trained on ``marts.track_features``, tracked in ``ml.*``.

Shared building blocks (used by the classical suite here and the deep models in ``ml.deep``):

* :mod:`ml.datasets` — load the mart (``load_track_features``), the task definitions
  (``TASKS``: target, report/honest features, leaky features, scaler, report split),
  ``prepare(task, protocol, data)`` → arrays, ``make_split`` → the protocol's split.
* :mod:`ml.tracking` — ``tracked_run(...)`` context: ml.runs / ml.metrics / ml.predictions /
  ml.artifacts / ml.track_clusters, written in one short transaction at the end of a run;
  ``save_split`` stores a split's rows in ml.splits.
* :mod:`ml.plots` — PNG (matplotlib) / offline HTML (plotly) under ``Settings.reports_dir``.
* :mod:`ml.evaluation` — metric functions and the protocol loop (hold-out or grouped CV with
  out-of-fold predictions) that every supervised model here goes through.
* :mod:`ml.registry` / :mod:`ml.report` — the results the HTML report shows, read from ml.*.

Conventions the report relies on (follow them and a new model shows up in the report):

* metric names: classification ``accuracy, precision, recall, f1, roc_auc``; regression
  ``r2, rmse, nrmse, mae``; clustering ``silhouette, inertia, noise_share``;
* split: ``test`` for the report protocol's hold-out, ``cv_mean`` / ``cv_std`` (and
  ``cv_fold`` with step = fold) for the honest protocol, ``full`` for fits on all rows,
  ``published`` (via ``Run.log_published``) for the report's own figure;
* trivial baselines are runs of their own with model ``majority_class`` (classification)
  or ``mean_predictor`` (regression) on the same task and protocol;
* figures: ``Run.log_artifact(name, path, title=..., published="what the report showed")``.
"""

import os as _os

# xgboost, shap and scikit-learn share one OpenMP runtime; its default busy-wait makes the
# next library's threads spin against idle ones on 2 cores (an xgboost fit after TreeSHAP
# went from 0.2 s to 4-7 s). Passive waiting must be set before libgomp loads.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
