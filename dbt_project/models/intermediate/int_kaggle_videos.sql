-- One row per distinct YouTube video of the latest Kaggle load, with the Kaggle title,
-- channel and counts of the video. THE "first track per video" rule lives here: a video
-- shared by several tracks (collaborations) takes the values of its first track (lowest
-- track_id). Read by the crawler (its targets), the emulator (its seed videos) and
-- video_growth (the baseline of every "since Kaggle" delta).
with ranked as (
    select
        video_id,
        load_id,
        track_id,
        video_title,
        channel,
        views,
        likes,
        comments,
        row_number() over (partition by video_id order by track_id) as track_rank,
        count(*) over (partition by video_id) as track_count
    from {{ ref('stg_tracks') }}
    where video_id is not null
)

select
    video_id,
    load_id,
    track_id as first_track_id,
    track_count,
    video_title as kaggle_video_title,
    channel as kaggle_channel,
    views as kaggle_views,
    likes as kaggle_likes,
    comments as kaggle_comments,
    {{ kaggle_observed_at() }} as kaggle_observed_at
from ranked
where track_rank = 1
