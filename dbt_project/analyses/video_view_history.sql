-- A video's view history: every available snapshot of the most viewed video.
select observed_at, view_count, delta_views, round(views_per_day) as views_per_day
from {{ ref('video_growth') }}
where video_id = (
    select video_id from {{ ref('dim_videos') }} order by view_count desc nulls last limit 1
)
order by observed_at
