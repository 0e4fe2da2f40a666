-- The latest known state of every crawled video: status from its latest snapshot,
-- title/channel/published_at/counts from its latest available snapshot.
with snapshots as (
    select * from {{ ref('fct_video_snapshots') }}
),

ranked as (
    select
        snapshots.*,
        row_number() over (
            partition by video_id order by observed_at desc, commit_seq desc
        ) as recency,
        row_number() over (
            partition by video_id, is_available order by observed_at desc, commit_seq desc
        ) as recency_in_status
    from snapshots
),

latest as (
    select video_id, snapshot_status, observed_at, crawl_id from ranked where recency = 1
),

latest_available as (
    select * from ranked where is_available and recency_in_status = 1
),

history as (
    select
        video_id,
        count(*) as snapshot_count,
        sum(case when is_available then 1 else 0 end) as available_count,
        min(observed_at) as first_crawled_at
    from snapshots
    group by video_id
)

select
    latest.video_id,
    latest.snapshot_status as status,
    latest.snapshot_status = 'not_found' as is_gone,
    latest.observed_at as last_crawled_at,
    latest.crawl_id as last_crawl_id,
    history.first_crawled_at,
    history.snapshot_count,
    history.available_count,
    latest_available.observed_at as last_available_at,
    latest_available.published_at,
    cast(extract(year from latest_available.published_at) as integer) as published_year,
    latest_available.channel_id,
    latest_available.channel_title,
    latest_available.video_title,
    latest_available.view_count,
    latest_available.like_count,
    latest_available.comment_count
from latest
inner join history on latest.video_id = history.video_id
left join latest_available on latest.video_id = latest_available.video_id
