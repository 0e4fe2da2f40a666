-- One row per Kaggle CSV load, whatever its status. THE rule for "the current load" lives
-- here: the published load ingested last (ingesting an older published file again makes
-- it the latest again), ties broken by the higher load_id. A load that is pending (written,
-- not yet audited) or rejected (failed its audit) is never the latest: every downstream
-- model follows is_latest, so none of them ever sees such a load.
--
-- During a load's audit (ingestion/publish.py) the variable kaggle_audit_load_id names the
-- candidate instead, and the audit builds these models into separate audit_* schemas.
{%- set audit_load_id = var('kaggle_audit_load_id', none) %}

select
    load_id,
    source_file,
    file_sha256,
    row_count,
    quarantined_count,
    status,
    status_reason,
    {{ to_utc_timestamp('loaded_at') }} as loaded_at,
    {{ to_utc_timestamp('last_ingested_at') }} as last_ingested_at,
    {{ to_utc_timestamp('published_at') }} as published_at,
{%- if audit_load_id is not none %}
    load_id = {{ audit_load_id | int }} as is_latest
{%- else %}
    coalesce(
        status = 'published'
        and row_number() over (
            partition by status = 'published' order by last_ingested_at desc, load_id desc
        ) = 1,
        false
    ) as is_latest
{%- endif %}
from {{ source('raw', 'kaggle_loads') }}
