-- YouTube crawls (ingestion/youtube). Everything here is append-only except the
-- counters/status of raw.crawl_runs, which a crawl updates as it commits batches and
-- when it is audited (published or rejected).
CREATE SCHEMA IF NOT EXISTS raw;

-- Orders every committed write group and every publication; dbt's incremental models use
-- a crawl's publish_seq (taken from it when the crawl is published) as their watermark
-- (a clock could go backwards or repeat, a sequence cannot).
CREATE SEQUENCE IF NOT EXISTS raw.youtube_commit_seq START 1;

-- One row per crawl (a run over the distinct video ids of one Kaggle load). A crawl
-- that stops for budget/quota/outage stays 'paused' and the next invocation resumes it.
CREATE TABLE IF NOT EXISTS raw.crawl_runs (
    crawl_id        VARCHAR PRIMARY KEY,   -- e.g. 20230208T000012Z-3f9a1c
    load_id         INTEGER,               -- raw.kaggle_loads.load_id whose ids are crawled
    base_url        VARCHAR NOT NULL,      -- API base URL (never holds the key)
    started_at      TIMESTAMPTZ NOT NULL,  -- API time (the server's Date header) of the start
    finished_at     TIMESTAMPTZ,           -- API time the crawl completed (and was published)
    updated_at      TIMESTAMPTZ NOT NULL,  -- local time of the last commit
    status          VARCHAR NOT NULL,      -- running | paused | failed | completed | rejected | abandoned
    stop_reason     VARCHAR,               -- budget_exhausted | quota_exceeded | api_unavailable | malformed_response | key_invalid | audit_failed | ...
    invocations     INTEGER NOT NULL,      -- how many times the crawl was started/resumed
    ids_requested   BIGINT NOT NULL,       -- distinct video ids the crawl covers
    batches_total   INTEGER NOT NULL,
    ids_ok          BIGINT NOT NULL,
    ids_not_found   BIGINT NOT NULL,
    api_calls       BIGINT NOT NULL,       -- = its raw.quota_ledger sum (calls the API may have charged)
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

-- Write-audit-publish (issue #9): a crawl's snapshots are visible downstream (dbt's
-- stg_youtube_snapshots and everything after it) iff published_at IS NOT NULL. A crawl is
-- published when its last batch is in and the audit passes (status completed); an audit
-- failure sets status 'rejected' and rejection_reason; a paused crawl stays unpublished.
ALTER TABLE raw.crawl_runs ADD COLUMN IF NOT EXISTS published_at TIMESTAMPTZ;
-- nextval('raw.youtube_commit_seq') at publication: the incremental watermark downstream.
ALTER TABLE raw.crawl_runs ADD COLUMN IF NOT EXISTS publish_seq BIGINT;
ALTER TABLE raw.crawl_runs ADD COLUMN IF NOT EXISTS rejection_reason VARCHAR;
-- Crawls completed before write-audit-publish were whole crawls: they count as published,
-- as of their last commit (publish_seq = their highest commit_seq, below every later one).
-- A crawl now completes and is published in one transaction, so only those rows match.
UPDATE raw.crawl_runs
SET published_at = coalesce(finished_at, updated_at),
    publish_seq = coalesce(
        (SELECT max(s.commit_seq) FROM raw.youtube_snapshots s WHERE s.crawl_id = crawl_runs.crawl_id), 0)
WHERE status = 'completed' AND published_at IS NULL;

-- Quota per API day (midnight America/Los_Angeles). Its sum is never below the calls the
-- API charged: every HTTP attempt (retries, errors, dropped connections, malformed answers
-- included) is reserved here and committed before it is sent; entries:
--   reserved  +n  committed before the calls are sent
--   refunded  -n  answers the API does not charge (quotaExceeded, invalid key, forbidden)
--   released  -n  reservations the crawl did not use, given back when it stops
--   spent     +n  calls counted after the fact (crawls before issue #9)
-- A killed crawl can leave unused reservations (an over-count), never an unrecorded call.
CREATE TABLE IF NOT EXISTS raw.quota_ledger (
    api_day      DATE NOT NULL,
    crawl_id     VARCHAR NOT NULL,
    api_calls    INTEGER NOT NULL,
    quota_units  INTEGER NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL
);
ALTER TABLE raw.quota_ledger ADD COLUMN IF NOT EXISTS entry VARCHAR;
UPDATE raw.quota_ledger SET entry = 'spent' WHERE entry IS NULL;

-- Channel snapshots (issue #14): after a crawl's video batches are in, the same crawl
-- snapshots every distinct channel of its available video snapshots with channels.list
-- (part=snippet,statistics; up to 50 ids per call, 1 quota unit). Same discipline as the
-- videos: a frozen id list, a progress marker per batch written in the transaction of its
-- snapshots, and visibility downstream iff the crawl is published (raw.crawl_runs).
CREATE TABLE IF NOT EXISTS raw.crawl_channel_targets (
    crawl_id    VARCHAR NOT NULL,
    batch_no    INTEGER NOT NULL,
    channel_id  VARCHAR NOT NULL,
    PRIMARY KEY (crawl_id, channel_id)
);

CREATE TABLE IF NOT EXISTS raw.crawl_channel_batches (
    crawl_id      VARCHAR NOT NULL,
    batch_no      INTEGER NOT NULL,
    commit_seq    BIGINT NOT NULL,
    ids_ok        INTEGER NOT NULL,
    ids_not_found INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    observed_at   TIMESTAMPTZ NOT NULL,
    committed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (crawl_id, batch_no)
);

-- One row per channel per crawl; never updated or deleted.
CREATE TABLE IF NOT EXISTS raw.channel_snapshots (
    channel_id               VARCHAR NOT NULL,
    crawl_id                 VARCHAR NOT NULL,
    batch_no                 INTEGER NOT NULL,
    commit_seq               BIGINT NOT NULL,        -- raw.youtube_commit_seq of the write group
    observed_at              TIMESTAMPTZ NOT NULL,   -- the API's Date header of the response
    status                   VARCHAR NOT NULL,       -- ok | not_found (closed, suspended or unknown id)
    channel_title            VARCHAR,                -- snippet.title
    custom_url               VARCHAR,                -- snippet.customUrl (e.g. @handle)
    channel_published_at     TIMESTAMPTZ,            -- snippet.publishedAt (channel creation)
    country                  VARCHAR,                -- snippet.country
    view_count               BIGINT,                 -- statistics.viewCount
    subscriber_count         BIGINT,                 -- statistics.subscriberCount; NULL when hidden (3 significant figures when public)
    hidden_subscriber_count  BOOLEAN,                -- statistics.hiddenSubscriberCount
    video_count              BIGINT,                 -- statistics.videoCount
    committed_at             TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel_id, crawl_id)
);

-- Channel counters of a crawl (NULL for crawls before issue #14).
ALTER TABLE raw.crawl_runs ADD COLUMN IF NOT EXISTS channels_requested BIGINT;
ALTER TABLE raw.crawl_runs ADD COLUMN IF NOT EXISTS channel_batches_total INTEGER;
ALTER TABLE raw.crawl_runs ADD COLUMN IF NOT EXISTS channels_ok BIGINT;
ALTER TABLE raw.crawl_runs ADD COLUMN IF NOT EXISTS channels_not_found BIGINT;
