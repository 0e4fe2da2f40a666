-- One row per crawl, timestamps as plain UTC.
select
    crawl_id,
    load_id,
    base_url,
    {{ to_utc_timestamp('started_at') }} as started_at,
    {{ to_utc_timestamp('finished_at') }} as finished_at,
    status as crawl_status,
    stop_reason,
    invocations,
    ids_requested,
    batches_total,
    ids_ok,
    ids_not_found,
    api_calls,
    quota_units,
    {{ to_utc_timestamp('published_at') }} as published_at,
    publish_seq,
    published_at is not null as is_published,
    rejection_reason
from {{ source('youtube', 'crawl_runs') }}
