-- The quota ledger per API day (Pacific) and crawl: one row per entry (reserved before
-- calls are sent, refunded / released afterwards; see warehouse/ddl/20_youtube.sql).
select
    api_day,
    crawl_id,
    api_calls,
    quota_units,
    entry as ledger_entry,
    {{ to_utc_timestamp('recorded_at') }} as recorded_at
from {{ source('youtube', 'quota_ledger') }}
