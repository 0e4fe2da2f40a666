-- History of each video's title and channel (type-2): one row per version, valid from
-- the first snapshot that showed it until the first snapshot that showed the next one.
-- Built from every available snapshot, so no change between two builds is missed.
with available as (
    select video_id, observed_at, commit_seq, crawl_id, video_title, channel_id, channel_title
    from {{ ref('fct_video_snapshots') }}
    where is_available
),

marked as (
    select
        available.*,
        lag(video_title) over by_video as previous_title,
        lag(channel_id) over by_video as previous_channel_id,
        lag(channel_title) over by_video as previous_channel_title,
        row_number() over by_video as position
    from available
    window by_video as (partition by video_id order by observed_at, commit_seq)
),

changes as (
    select *
    from marked
    where position = 1
       or video_title is distinct from previous_title
       or channel_id is distinct from previous_channel_id
       or channel_title is distinct from previous_channel_title
)

select
    video_id || '#' || cast(row_number() over (partition by video_id order by observed_at, commit_seq) as varchar)
        as version_id,
    video_id,
    row_number() over (partition by video_id order by observed_at, commit_seq) as version_no,
    video_title,
    channel_id,
    channel_title,
    crawl_id as first_seen_crawl_id,
    observed_at as valid_from,
    lead(observed_at) over (partition by video_id order by observed_at, commit_seq) as valid_to,
    lead(observed_at) over (partition by video_id order by observed_at, commit_seq) is null as is_current
from changes
