{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail'
    )
}}
-- One row per video per crawl, typed. Incremental: each build appends only the rows
-- committed since the last build (commit_seq is the crawler's monotonic commit number).
with snapshots as (
    select * from {{ ref('stg_youtube_snapshots') }}
    {% if is_incremental() %}
    where commit_seq > (select coalesce(max(commit_seq), 0) from {{ this }})
    {% endif %}
),

crawls as (
    select crawl_id, load_id from {{ ref('stg_crawl_runs') }}
)

select
    snapshots.video_id || '@' || snapshots.crawl_id as snapshot_id,
    snapshots.video_id,
    snapshots.crawl_id,
    crawls.load_id,
    snapshots.commit_seq,
    snapshots.observed_at,
    cast(snapshots.observed_at as date) as observed_date,
    snapshots.snapshot_status,
    snapshots.snapshot_status = 'ok' as is_available,
    snapshots.published_at,
    snapshots.channel_id,
    snapshots.channel_title,
    snapshots.video_title,
    snapshots.view_count,
    snapshots.like_count,
    snapshots.comment_count
from snapshots
left join crawls on snapshots.crawl_id = crawls.crawl_id
