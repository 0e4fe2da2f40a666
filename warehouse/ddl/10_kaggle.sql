-- Kaggle "Spotify and Youtube" loads. One row per load in kaggle_loads; the rows of
-- every load stay in kaggle_tracks. A load is written as `pending`, audited, then
-- `published` or `rejected` (ingestion/publish.py); dbt reads the latest published load
-- only (stg_kaggle_loads.is_latest).
CREATE SCHEMA IF NOT EXISTS raw;

CREATE SEQUENCE IF NOT EXISTS raw.kaggle_load_id_seq START 1;

CREATE TABLE IF NOT EXISTS raw.kaggle_loads (
    load_id           INTEGER PRIMARY KEY,
    source_file       VARCHAR NOT NULL,   -- file name as given (no directories)
    source_path       VARCHAR NOT NULL,   -- absolute path at load time
    file_sha256       VARCHAR NOT NULL UNIQUE,
    file_bytes        BIGINT NOT NULL,
    has_description   BOOLEAN NOT NULL,
    row_count         BIGINT NOT NULL,    -- rows loaded into kaggle_tracks
    quarantined_count BIGINT NOT NULL,    -- rows sent to kaggle_quarantine
    loaded_at         TIMESTAMPTZ NOT NULL,
    last_ingested_at  TIMESTAMPTZ NOT NULL, -- bumped when the same file is ingested again
    status            VARCHAR,            -- pending | published | rejected
    status_reason     VARCHAR,            -- why a load was rejected (one line)
    published_at      TIMESTAMPTZ         -- when the load passed its audit
);

-- Warehouses from before write-audit-publish: every load they hold was current-eligible,
-- so it counts as published (when it was loaded).
ALTER TABLE raw.kaggle_loads ADD COLUMN IF NOT EXISTS status VARCHAR;
ALTER TABLE raw.kaggle_loads ADD COLUMN IF NOT EXISTS status_reason VARCHAR;
ALTER TABLE raw.kaggle_loads ADD COLUMN IF NOT EXISTS published_at TIMESTAMPTZ;
UPDATE raw.kaggle_loads SET status = 'published', published_at = loaded_at WHERE status IS NULL;

CREATE TABLE IF NOT EXISTS raw.kaggle_tracks (
    load_id           INTEGER NOT NULL,
    source_row_number BIGINT NOT NULL,    -- 1-based position of the record in the file (header excluded)
    source_index      BIGINT,             -- the file's unnamed first column
    artist            VARCHAR,
    url_spotify       VARCHAR,
    track             VARCHAR,
    album             VARCHAR,
    album_type        VARCHAR,
    uri               VARCHAR,
    danceability      DOUBLE,
    energy            DOUBLE,
    key               DOUBLE,
    loudness          DOUBLE,
    speechiness       DOUBLE,
    acousticness      DOUBLE,
    instrumentalness  DOUBLE,
    liveness          DOUBLE,
    valence           DOUBLE,
    tempo             DOUBLE,
    duration_ms       DOUBLE,
    url_youtube       VARCHAR,
    title             VARCHAR,
    channel           VARCHAR,
    views             DOUBLE,
    likes             DOUBLE,
    comments          DOUBLE,
    description       VARCHAR,
    licensed          BOOLEAN,
    official_video    BOOLEAN,
    stream            DOUBLE,
    source_file       VARCHAR NOT NULL,
    file_sha256       VARCHAR NOT NULL,
    loaded_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (load_id, source_row_number)
);

CREATE TABLE IF NOT EXISTS raw.kaggle_quarantine (
    load_id        INTEGER NOT NULL,
    source_file    VARCHAR NOT NULL,
    file_sha256    VARCHAR NOT NULL,
    line           BIGINT,               -- physical line where the record starts (1 = header; LF, CRLF, CR each end a line)
    field          VARCHAR,              -- source column name, when one is to blame
    error_type     VARCHAR NOT NULL,     -- e.g. CAST, NOT FINITE, OUT OF RANGE, NEGATIVE, NOT WHOLE,
                                         -- UNQUOTED VALUE, MISSING COLUMNS, CUT BY END OF FILE
    reason         VARCHAR NOT NULL,
    raw_record     VARCHAR,
    quarantined_at TIMESTAMPTZ NOT NULL
);
