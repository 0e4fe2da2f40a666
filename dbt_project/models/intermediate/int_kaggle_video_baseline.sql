-- The Kaggle counts of each video of the latest load: the baseline every crawl is
-- compared with. A video shared by several tracks (collaborations) takes the counts of
-- its first track.
with ranked as (
    select
        video_id,
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
    track_count,
    video_title as kaggle_video_title,
    channel as kaggle_channel,
    views as kaggle_views,
    likes as kaggle_likes,
    comments as kaggle_comments,
    {{ kaggle_observed_at() }} as kaggle_observed_at
from ranked
where track_rank = 1
