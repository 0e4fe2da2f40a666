-- The quota ledger per API day (Pacific) and crawl: one row per entry (reserved before
-- calls are sent, refunded / released afterwards; see warehouse/ddl/20_youtube.sql).
{%- set ledger = source('youtube', 'quota_ledger') %}
select
    api_day,
    crawl_id,
    api_calls,
    quota_units,
    {% if relation_has_column(ledger, 'entry') -%}
    entry as ledger_entry,
    {%- else -%}
    -- a warehouse from before issue #9: every row was counted after the fact
    'spent' as ledger_entry,
    {%- endif %}
    {{ to_utc_timestamp('recorded_at') }} as recorded_at
from {{ ledger }}
