-- One row per Kaggle CSV load. THE rule for "the latest load" lives here: the load
-- ingested last (ingesting an older file again makes it the latest again), ties broken
-- by the higher load_id. Every downstream model follows is_latest.
select
    load_id,
    source_file,
    file_sha256,
    row_count,
    quarantined_count,
    {{ to_utc_timestamp('loaded_at') }} as loaded_at,
    {{ to_utc_timestamp('last_ingested_at') }} as last_ingested_at,
    row_number() over (order by last_ingested_at desc, load_id desc) = 1 as is_latest
from {{ source('raw', 'kaggle_loads') }}
