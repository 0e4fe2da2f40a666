-- The five videos that gained the most views over the last week of snapshots.
select g.video_id, v.video_title, v.channel_title,
       sum(g.delta_views) as views_gained,
       round(sum(g.delta_views) / sum(g.days_since_previous)) as views_per_day,
       round(100 * sum(g.delta_views) / min(g.view_count - g.delta_views), 2) as growth_pct
from {{ ref('video_growth') }} as g
join {{ ref('dim_videos') }} as v using (video_id)
where g.observed_at > (select max(observed_at) from {{ ref('video_growth') }}) - interval 7 day
  and g.delta_views is not null
group by all
order by views_gained desc
limit 5
