-- The latest known state of every crawled video: status from its latest snapshot;
-- title/channel/published_at/counts from its latest available snapshot. Read from
-- int_video_snapshot_state (one row per video, kept up to date incrementally), so its
-- cost follows the number of videos, not the number of snapshots.
select
    video_id,
    latest_status as status,
    latest_status = 'not_found' as is_gone,
    latest_observed_at as last_crawled_at,
    latest_crawl_id as last_crawl_id,
    first_crawled_at,
    snapshot_count,
    available_count,
    last_available_observed_at as last_available_at,
    last_available_published_at as published_at,
    cast(extract(year from last_available_published_at) as integer) as published_year,
    last_available_channel_id as channel_id,
    last_available_channel_title as channel_title,
    last_available_video_title as video_title,
    last_available_view_count as view_count,
    last_available_like_count as like_count,
    last_available_comment_count as comment_count
from {{ ref('int_video_snapshot_state') }}
