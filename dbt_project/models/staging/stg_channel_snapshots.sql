-- The channel snapshots of published crawls, timestamps as plain UTC. Write-audit-publish as
-- for videos: a crawl's channel snapshots are visible here iff the crawl is published.
-- A warehouse that no write has upgraded since channel snapshots exist has no
-- raw.channel_snapshots yet: the model is then empty (with its columns), not an error.
{%- set channel_snapshots = source('youtube', 'channel_snapshots') %}
{%- set present = not execute or adapter.get_relation(
        database=channel_snapshots.database, schema=channel_snapshots.schema,
        identifier=channel_snapshots.identifier) is not none %}
{%- set columns = [
    ('channel_id', dbt.type_string()), ('crawl_id', dbt.type_string()), ('batch_no', dbt.type_int()),
    ('commit_seq', dbt.type_bigint()), ('observed_at', dbt.type_timestamp()), ('status', dbt.type_string()),
    ('channel_title', dbt.type_string()), ('custom_url', dbt.type_string()),
    ('channel_published_at', dbt.type_timestamp()), ('country', dbt.type_string()),
    ('view_count', dbt.type_bigint()), ('subscriber_count', dbt.type_bigint()),
    ('hidden_subscriber_count', dbt.type_boolean()), ('video_count', dbt.type_bigint()),
    ('committed_at', dbt.type_timestamp())] %}
with snapshots as (
    {% if present -%}
    select * from {{ channel_snapshots }}
    {%- else -%}
    select {% for name, type in columns %}cast(null as {{ type }}) as {{ name }}{{ ', ' if not loop.last }}{% endfor %}
    where 1 = 0
    {%- endif %}
),

published_crawls as (
    select crawl_id, publish_seq
    from {{ ref('stg_crawl_runs') }}
    where is_published
)

select
    {{ dbt.concat(['snapshots.channel_id', "'@'", 'snapshots.crawl_id']) }} as channel_snapshot_id,
    snapshots.channel_id,
    snapshots.crawl_id,
    snapshots.batch_no,
    snapshots.commit_seq,
    published_crawls.publish_seq,
    {{ to_utc_timestamp('snapshots.observed_at') }} as observed_at,
    snapshots.status as snapshot_status,
    snapshots.status = 'ok' as is_available,
    snapshots.channel_title,
    snapshots.custom_url,
    {{ to_utc_timestamp('snapshots.channel_published_at') }} as channel_published_at,
    snapshots.country,
    snapshots.view_count,
    snapshots.subscriber_count,
    snapshots.hidden_subscriber_count as is_subscriber_count_hidden,
    snapshots.video_count,
    {{ to_utc_timestamp('snapshots.committed_at') }} as committed_at
from snapshots
inner join published_crawls
    on snapshots.crawl_id = published_crawls.crawl_id
