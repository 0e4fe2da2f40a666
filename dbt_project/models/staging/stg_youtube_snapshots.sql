-- The snapshots of published crawls, with timestamps as plain UTC and clearer names.
-- Write-audit-publish: a crawl's snapshots are visible here (and in everything built on
-- this model) iff raw.crawl_runs.published_at is set, i.e. the crawl completed and passed
-- its audit. Paused, killed, rejected or abandoned crawls stay in raw only.
{%- set crawl_runs = source('youtube', 'crawl_runs') %}
with published_crawls as (
    {% if relation_has_column(crawl_runs, 'published_at') -%}
    select crawl_id, publish_seq
    from {{ crawl_runs }}
    where published_at is not null
    {%- else -%}
    -- A warehouse from before write-audit-publish that no crawl or load has upgraded yet:
    -- its completed crawls count as published as of their last commit, exactly as that
    -- upgrade records them (warehouse/ddl/20_youtube.sql).
    select runs.crawl_id, coalesce(max(snapshots.commit_seq), 0) as publish_seq
    from {{ crawl_runs }} as runs
    left join {{ source('youtube', 'youtube_snapshots') }} as snapshots
        on snapshots.crawl_id = runs.crawl_id
    where runs.status = 'completed'
    group by runs.crawl_id
    {%- endif %}
)

select
    snapshots.video_id,
    snapshots.crawl_id,
    snapshots.batch_no,
    snapshots.commit_seq,
    published_crawls.publish_seq,
    {{ to_utc_timestamp('snapshots.observed_at') }} as observed_at,
    snapshots.status as snapshot_status,
    {{ to_utc_timestamp('snapshots.published_at') }} as published_at,
    snapshots.channel_id,
    snapshots.channel_title,
    snapshots.video_title,
    snapshots.view_count,
    snapshots.like_count,
    snapshots.comment_count,
    {{ to_utc_timestamp('snapshots.committed_at') }} as committed_at
from {{ source('youtube', 'youtube_snapshots') }} as snapshots
inner join published_crawls
    on snapshots.crawl_id = published_crawls.crawl_id
