-- Schema ml: every model run, its metrics, predictions, splits, figures and cluster labels.
-- Written by ml.tracking in short transactions; read by the HTML report and by SQL users.
CREATE SCHEMA IF NOT EXISTS ml;

-- One row per training run of one model under one protocol.
CREATE TABLE IF NOT EXISTS ml.runs (
    run_id          VARCHAR PRIMARY KEY,  -- uuid4 hex
    asset           VARCHAR NOT NULL,     -- Dagster asset (or CLI group) that ran it, e.g. ml/classification
    family          VARCHAR NOT NULL,     -- ml.families name: clustering | regression | classification | tuning | tabnet | ...
    model           VARCHAR NOT NULL,     -- e.g. random_forest, knn_regression, majority_class
    task            VARCHAR,              -- ml.datasets task name, e.g. stream_gap_label
    protocol        VARCHAR NOT NULL,     -- replication | honest
    params          JSON,                 -- hyper-parameters and feature list
    data_version    JSON,                 -- which Kaggle load and which YouTube crawl the features came from
    kaggle_load_id  INTEGER,
    crawl_id        VARCHAR,              -- null when no crawl exists (Kaggle counts stand in)
    split_key       VARCHAR,              -- ml.splits.split_key of its split (a skipped run's: the split it would have used)
    seed            INTEGER,
    status          VARCHAR NOT NULL,     -- running | succeeded | failed | skipped
    status_reason   VARCHAR,              -- why a run was skipped or failed
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    duration_s      DOUBLE
);

-- Metrics of a run. split: train | test | cv_mean | cv_std | cv_fold | full | model | published
-- ('model' = properties of the fitted model such as importances and SHAP; 'published' = the
-- study's own figure for the same model, with its source in note).
-- step: the x of a curve (k of an elbow sweep, K of a KNN sweep, epoch, CV fold); null otherwise.
CREATE TABLE IF NOT EXISTS ml.metrics (
    run_id    VARCHAR NOT NULL,
    metric    VARCHAR NOT NULL,
    split     VARCHAR NOT NULL,
    value     DOUBLE,
    step      INTEGER,
    note      VARCHAR,
    logged_at TIMESTAMPTZ NOT NULL
);

-- Out-of-sample predictions per track (test rows of a hold-out split, or every row of
-- an out-of-fold cross-validation). Join to marts.track_features on track_id.
CREATE TABLE IF NOT EXISTS ml.predictions (
    run_id      VARCHAR NOT NULL,
    track_id    BIGINT NOT NULL,
    video_id    VARCHAR,
    split       VARCHAR NOT NULL,   -- test | oof (out of fold)
    fold        INTEGER,            -- CV fold the row was predicted in; null for a hold-out
    actual      DOUBLE,
    prediction  DOUBLE NOT NULL,
    probability DOUBLE              -- P(class 1) for binary classifiers
);

-- The rows of every split that a run used: which track was in train or test of which fold.
-- Shared by all runs with the same split_key (task, protocol, seed, data version).
CREATE TABLE IF NOT EXISTS ml.splits (
    split_key VARCHAR NOT NULL,
    task      VARCHAR NOT NULL,
    protocol  VARCHAR NOT NULL,
    seed      INTEGER NOT NULL,
    fold      INTEGER NOT NULL,     -- 0 for a single hold-out split
    track_id  BIGINT NOT NULL,
    artist    VARCHAR,
    role      VARCHAR NOT NULL      -- train | test
);

-- Files a run produced (figures, summaries, Optuna studies), under the reports folder.
CREATE TABLE IF NOT EXISTS ml.artifacts (
    run_id      VARCHAR NOT NULL,
    name        VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,   -- png | html | txt | json | db
    path        VARCHAR NOT NULL,
    title       VARCHAR,
    published   VARCHAR,            -- what the study showed for the same figure (text), if anything
    created_at  TIMESTAMPTZ NOT NULL
);

-- Cluster label per track of a clustering run (-1 = DBSCAN noise).
CREATE TABLE IF NOT EXISTS ml.track_clusters (
    run_id    VARCHAR NOT NULL,
    model     VARCHAR NOT NULL,     -- kmeans | dbscan
    track_id  BIGINT NOT NULL,
    cluster   INTEGER NOT NULL
);

-- Migration (runs on every ensure_schema, a no-op once done): the protocol that reproduces
-- the study was called 'report' before it became 'replication'.
UPDATE ml.runs SET protocol = 'replication' WHERE protocol = 'report';
UPDATE ml.splits SET protocol = 'replication' WHERE protocol = 'report';

-- Pre-declared hypothesis tests (ml/hypotheses.py, docs/hypotheses.md): one row per
-- hypothesis x model x outcome per run; append-only, one run_id per materialization of
-- ml/hypotheses, written in one transaction. The run's figures are ml.artifacts rows with
-- the same run_id. Estimates are OLS coefficients on ln(1+count) outcomes: exp(estimate) =
-- ratio. p/ci/std_error: clustered by artist; group_*: clustered by track group (nests artists).
CREATE TABLE IF NOT EXISTS ml.hypothesis_tests (
    run_id                   VARCHAR NOT NULL,     -- uuid4 hex, one per run of the whole set
    tested_at                TIMESTAMPTZ NOT NULL,
    hypothesis               VARCHAR NOT NULL,     -- ml.hypotheses.HYPOTHESES id, e.g. children
    statement                VARCHAR,              -- the hypothesis in plain words
    predictor                VARCHAR,              -- how the predictor is derived from marts.track_features
    predictor_kind           VARCHAR,              -- binary | numeric
    expected_direction       VARCHAR,              -- + | - (pre-declared sign on the log-ratio)
    outcome                  VARCHAR NOT NULL,     -- log_ratio (primary) | log_views | log_stream
    model                    VARCHAR NOT NULL,     -- adjusted (primary: + covariates) | simple (predictor alone)
    covariates               VARCHAR,              -- the adjusted model's covariates, comma-separated
    is_primary               BOOLEAN NOT NULL,     -- the row that decides the hypothesis' verdict
    status                   VARCHAR NOT NULL,     -- tested | not testable
    status_reason            VARCHAR,              -- why not testable (missing, all NULL, constant, too few artists)
    n                        INTEGER,              -- rows in the fit
    n_exposed                INTEGER,              -- rows with the binary predictor = 1
    clusters                 INTEGER,              -- distinct artists among the rows
    group_clusters           INTEGER,              -- distinct track groups among the rows
    estimate                 DOUBLE,               -- OLS coefficient of the predictor
    ratio                    DOUBLE,               -- exp(estimate): multiplicative effect on 1+count (ratio)
    naive_std_error          DOUBLE,               -- OLS standard error assuming independent rows (comparison only)
    std_error                DOUBLE,               -- clustered by artist
    ci_low                   DOUBLE,               -- 95 % CI, clustered by artist
    ci_high                  DOUBLE,
    p                        DOUBLE,               -- two-sided, clustered by artist
    p_holm                   DOUBLE,               -- Holm-adjusted within (model, outcome)
    p_bh                     DOUBLE,               -- Benjamini-Hochberg-adjusted within (model, outcome)
    group_std_error          DOUBLE,               -- clustered by track group
    group_ci_low             DOUBLE,
    group_ci_high            DOUBLE,
    group_p                  DOUBLE,
    group_p_holm             DOUBLE,
    group_p_bh               DOUBLE,
    detected                 BOOLEAN,              -- max(p_holm, group_p_holm) < 0.05
    verdict                  VARCHAR,              -- primary rows: supported | detected, opposite ... | no detectable association
    influential_points       INTEGER,              -- rows with Cook's distance > 4/n (adjusted model)
    estimate_wo_influential  DOUBLE,               -- estimate refitted without them
    p_wo_influential         DOUBLE,               -- max of the two clusterings' p of that refit (unadjusted)
    detected_wo_influential  BOOLEAN,              -- the same rule (Holm, both clusterings) on the refits
    breusch_pagan_p          DOUBLE,               -- heteroscedasticity test of the adjusted fit
    data_version             JSON,                 -- Kaggle load and crawl the rows came from
    kaggle_load_id           INTEGER,
    crawl_id                 VARCHAR
);

-- Growth forecasts (ml.forecasting, Dagster asset ml/forecasts): per run, video and horizon,
-- the view count predicted `horizon` days after `as_of` (the video's latest available
-- snapshot), with an interval of nominal coverage `coverage`. One set of rows per method:
-- the model and its two baselines, each under its own run (ml.runs, family 'forecasting').
CREATE TABLE IF NOT EXISTS ml.forecasts (
    run_id       VARCHAR NOT NULL,
    model        VARCHAR NOT NULL,    -- gradient_boosting | last_rate | rate_decay
    video_id     VARCHAR NOT NULL,
    horizon      INTEGER NOT NULL,    -- days after as_of
    as_of        TIMESTAMPTZ NOT NULL,-- the snapshot the forecast starts from
    last_views   BIGINT NOT NULL,     -- view_count at as_of
    predicted    DOUBLE NOT NULL,     -- views at as_of + horizon days
    lower        DOUBLE NOT NULL,
    upper        DOUBLE NOT NULL,
    coverage     DOUBLE NOT NULL,     -- nominal coverage of [lower, upper], e.g. 0.8
    created_at   TIMESTAMPTZ NOT NULL
);
