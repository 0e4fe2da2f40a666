-- YouTube crawls (ingestion/youtube). Everything here is append-only except the
-- counters/status of raw.crawl_runs, which a crawl updates as it commits batches.
CREATE SCHEMA IF NOT EXISTS raw;

-- Orders every committed write group; dbt's incremental models use it as their watermark
-- (a clock could go backwards or repeat, a sequence cannot).
CREATE SEQUENCE IF NOT EXISTS raw.youtube_commit_seq START 1;

-- One row per crawl (a run over the distinct video ids of one Kaggle load). A crawl
-- that stops for budget/quota/outage stays 'paused' and the next invocation resumes it.
CREATE TABLE IF NOT EXISTS raw.crawl_runs (
    crawl_id        VARCHAR PRIMARY KEY,   -- e.g. 20230208T000012Z-3f9a1c
    load_id         INTEGER,               -- raw.kaggle_loads.load_id whose ids are crawled
    base_url        VARCHAR NOT NULL,      -- API base URL (never holds the key)
    started_at      TIMESTAMPTZ NOT NULL,  -- API time (the server's Date header) of the start
    finished_at     TIMESTAMPTZ,           -- set when status becomes completed/abandoned
    updated_at      TIMESTAMPTZ NOT NULL,  -- local time of the last commit
    status          VARCHAR NOT NULL,      -- running | paused | completed | failed | abandoned
    stop_reason     VARCHAR,               -- budget_exhausted | quota_exceeded | api_unavailable | key_invalid | ...
    invocations     INTEGER NOT NULL,      -- how many times the crawl was started/resumed
    ids_requested   BIGINT NOT NULL,       -- distinct video ids the crawl covers
    batches_total   INTEGER NOT NULL,
    ids_ok          BIGINT NOT NULL,
    ids_not_found   BIGINT NOT NULL,
    api_calls       BIGINT NOT NULL,       -- HTTP requests sent with the key (retries included)
    quota_units     BIGINT NOT NULL
);

-- The frozen id list of a crawl, split into batches of up to 50 ids (one videos.list call).
CREATE TABLE IF NOT EXISTS raw.crawl_targets (
    crawl_id  VARCHAR NOT NULL,
    batch_no  INTEGER NOT NULL,
    video_id  VARCHAR NOT NULL,
    PRIMARY KEY (crawl_id, video_id)
);

-- Progress marker: a batch is done iff it has a row here. It is written in the same
-- transaction as the batch's snapshots, so a kill never loses or duplicates a batch.
CREATE TABLE IF NOT EXISTS raw.crawl_batches (
    crawl_id      VARCHAR NOT NULL,
    batch_no      INTEGER NOT NULL,
    commit_seq    BIGINT NOT NULL,
    ids_ok        INTEGER NOT NULL,
    ids_not_found INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,        -- HTTP requests this batch took (1 = no retry)
    observed_at   TIMESTAMPTZ NOT NULL,
    committed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (crawl_id, batch_no)
);

-- One row per video per crawl; never updated or deleted.
CREATE TABLE IF NOT EXISTS raw.youtube_snapshots (
    video_id       VARCHAR NOT NULL,
    crawl_id       VARCHAR NOT NULL,
    batch_no       INTEGER NOT NULL,
    commit_seq     BIGINT NOT NULL,        -- raw.youtube_commit_seq of the write group
    observed_at    TIMESTAMPTZ NOT NULL,   -- the API's Date header of the response
    status         VARCHAR NOT NULL,       -- ok | not_found (deleted, private or unknown id)
    published_at   TIMESTAMPTZ,            -- snippet.publishedAt
    channel_id     VARCHAR,
    channel_title  VARCHAR,
    video_title    VARCHAR,
    view_count     BIGINT,                 -- NULL when the API leaves it out (hidden/disabled)
    like_count     BIGINT,
    comment_count  BIGINT,
    committed_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (video_id, crawl_id)
);

-- Quota spent, per API day (midnight America/Los_Angeles), appended with every commit
-- of a crawl, including units spent on retries and on requests that failed.
CREATE TABLE IF NOT EXISTS raw.quota_ledger (
    api_day      DATE NOT NULL,
    crawl_id     VARCHAR NOT NULL,
    api_calls    INTEGER NOT NULL,
    quota_units  INTEGER NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL
);
