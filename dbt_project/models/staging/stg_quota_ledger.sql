-- Quota spent per API day (Pacific) and crawl, one row per crawler commit.
select
    api_day,
    crawl_id,
    api_calls,
    quota_units,
    {{ to_utc_timestamp('recorded_at') }} as recorded_at
from {{ source('youtube', 'quota_ledger') }}
