"""tunehouse ML: the study's models trained on ``marts.track_features``, tracked in ``ml.*``.

Layout (docs/ml.md has the details):

* :mod:`ml.families` — the registry of model families (light); ``families.train`` runs them.
* :mod:`ml.options` / :mod:`ml.results` — what goes into a family run (``TrainOptions``)
  and what comes out (``FamilyResult`` of ``RunSummary``), both plain data.
* :mod:`ml.pipeline` — the one tracked-run pipeline every run of every family goes
  through: the study's published figure, protocol preparation and leaky-feature skip,
  the split (``ml.runs.split_key`` + ``ml.splits``), evaluation and logging.
* :mod:`ml.datasets` (tasks, ``prepare``, ``make_split``), :mod:`ml.evaluation`,
  :mod:`ml.tracking`, :mod:`ml.plots`, :mod:`ml.study` (the study's published figures).
* the families: :mod:`ml.clustering`, :mod:`ml.regression`, :mod:`ml.classification`,
  :mod:`ml.tuning` and, in :mod:`ml.deep`, ``cluster_families``, ``tabnet_family``,
  ``tab_transformer_family``, ``tabpfn_family``.
* :mod:`ml.registry` / :mod:`ml.report` — the results the HTML report shows, read from ml.*.

Library code here reads no settings and no environment: every knob arrives through
:class:`ml.options.TrainOptions` or function arguments.
"""
