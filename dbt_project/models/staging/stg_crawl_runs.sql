-- One row per crawl, timestamps as plain UTC.
{%- set crawl_runs = source('youtube', 'crawl_runs') %}
{%- set has_publication = relation_has_column(crawl_runs, 'published_at') %}
{%- set has_channels = relation_has_column(crawl_runs, 'channels_requested') %}
{% if not has_publication -%}
-- A warehouse from before write-audit-publish that no crawl or load has upgraded yet: its
-- completed crawls count as published as of their last commit, exactly as that upgrade
-- records them (warehouse/ddl/20_youtube.sql).
with last_commits as (
    select crawl_id, max(commit_seq) as commit_seq
    from {{ source('youtube', 'youtube_snapshots') }}
    group by crawl_id
)

{% endif -%}
select
    runs.crawl_id,
    runs.load_id,
    runs.base_url,
    {{ to_utc_timestamp('runs.started_at') }} as started_at,
    {{ to_utc_timestamp('runs.finished_at') }} as finished_at,
    runs.status as crawl_status,
    runs.stop_reason,
    runs.invocations,
    runs.ids_requested,
    runs.batches_total,
    runs.ids_ok,
    runs.ids_not_found,
    runs.api_calls,
    runs.quota_units,
    {% for column, type in [('channels_requested', dbt.type_bigint()), ('channel_batches_total', dbt.type_int()),
                            ('channels_ok', dbt.type_bigint()), ('channels_not_found', dbt.type_bigint())] -%}
    {% if has_channels %}runs.{{ column }}{% else %}cast(null as {{ type }}){% endif %} as {{ column }},
    {% endfor -%}
    {% if has_publication -%}
    {{ to_utc_timestamp('runs.published_at') }} as published_at,
    runs.publish_seq,
    runs.published_at is not null as is_published,
    runs.rejection_reason
    {%- else -%}
    case when runs.status = 'completed'
        then {{ to_utc_timestamp('coalesce(runs.finished_at, runs.updated_at)') }} end as published_at,
    case when runs.status = 'completed' then coalesce(last_commits.commit_seq, 0) end as publish_seq,
    runs.status = 'completed' as is_published,
    cast(null as {{ dbt.type_string() }}) as rejection_reason
    {%- endif %}
from {{ crawl_runs }} as runs
{% if not has_publication -%}
left join last_commits on runs.crawl_id = last_commits.crawl_id
{% endif -%}
