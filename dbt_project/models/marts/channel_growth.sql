-- Growth per channel per available snapshot: subscriber, view and video deltas since the
-- channel's previous available snapshot in observation time (observed_at, then commit_seq),
-- the days between them and the rates per day. The first available snapshot of a channel
-- has no previous one (null deltas). Channels are few next to videos (one row per channel
-- per crawl), so the model is rebuilt whole, which also keeps late snapshots in order.
with snapshots as (
    select *
    from {{ ref('stg_channel_snapshots') }}
    where is_available
),

ordered as (
    select
        snapshots.*,
        lag(observed_at) over (partition by channel_id order by observed_at, commit_seq) as previous_observed_at,
        lag(subscriber_count) over (partition by channel_id order by observed_at, commit_seq) as previous_subscriber_count,
        lag(view_count) over (partition by channel_id order by observed_at, commit_seq) as previous_view_count,
        lag(video_count) over (partition by channel_id order by observed_at, commit_seq) as previous_video_count
    from snapshots
),

measured as (
    select
        ordered.*,
        {{ days_between('previous_observed_at', 'observed_at') }} as days_since_previous
    from ordered
)

select
    channel_snapshot_id,
    channel_id,
    crawl_id,
    commit_seq,
    publish_seq,
    observed_at,
    subscriber_count,
    is_subscriber_count_hidden,
    view_count,
    video_count,
    previous_observed_at,
    days_since_previous,
    subscriber_count - previous_subscriber_count as delta_subscribers,
    view_count - previous_view_count as delta_views,
    video_count - previous_video_count as delta_videos,
    case when days_since_previous > 0
        then (subscriber_count - previous_subscriber_count) / days_since_previous end as subscribers_per_day,
    case when days_since_previous > 0
        then (view_count - previous_view_count) / days_since_previous end as views_per_day
from measured
