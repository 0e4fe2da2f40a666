{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail'
    )
}}
-- Growth per video per available snapshot: deltas since the video's previous available
-- snapshot and since the Kaggle baseline, days elapsed, views/day and growth rates.
-- Incremental: only new snapshots are computed; each video's previous row comes from
-- this table itself, so a build reads the new rows plus one old row per video.
with new_snapshots as (
    select video_id, crawl_id, snapshot_id, commit_seq, observed_at, view_count, like_count, comment_count
    from {{ ref('fct_video_snapshots') }}
    where is_available
    {% if is_incremental() %}
      and commit_seq > (select coalesce(max(commit_seq), 0) from {{ this }})
    {% endif %}
),

{% if is_incremental() %}
previous_rows as (
    select video_id, crawl_id, snapshot_id, commit_seq, observed_at, view_count, like_count, comment_count
    from (
        select
            grown.*,
            row_number() over (
                partition by grown.video_id order by grown.observed_at desc, grown.commit_seq desc
            ) as recency
        from {{ this }} as grown
        where grown.video_id in (select video_id from new_snapshots)
    ) as ranked
    where recency = 1
),
{% endif %}

combined as (
    select new_snapshots.*, true as is_new from new_snapshots
    {% if is_incremental() %}
    union all
    select previous_rows.*, false as is_new from previous_rows
    {% endif %}
),

with_previous as (
    select
        combined.*,
        lag(observed_at) over by_video as previous_observed_at,
        lag(view_count) over by_video as previous_view_count,
        lag(like_count) over by_video as previous_like_count,
        lag(comment_count) over by_video as previous_comment_count
    from combined
    window by_video as (partition by video_id order by observed_at, commit_seq)
),

measured as (
    select
        with_previous.*,
        baseline.kaggle_views,
        baseline.kaggle_likes,
        baseline.kaggle_comments,
        baseline.kaggle_observed_at,
        {{ days_between('with_previous.previous_observed_at', 'with_previous.observed_at') }} as days_since_previous,
        {{ days_between('baseline.kaggle_observed_at', 'with_previous.observed_at') }} as days_since_kaggle
    from with_previous
    left join {{ ref('int_kaggle_videos') }} as baseline
        on with_previous.video_id = baseline.video_id
    where with_previous.is_new
)

select
    snapshot_id,
    video_id,
    crawl_id,
    commit_seq,
    observed_at,
    view_count,
    like_count,
    comment_count,
    previous_observed_at,
    days_since_previous,
    view_count - previous_view_count as delta_views,
    like_count - previous_like_count as delta_likes,
    comment_count - previous_comment_count as delta_comments,
    case when days_since_previous > 0
        then (view_count - previous_view_count) / days_since_previous end as views_per_day,
    case when previous_view_count > 0
        then cast(view_count - previous_view_count as double) / previous_view_count end as growth_rate,
    kaggle_observed_at,
    days_since_kaggle,
    kaggle_views,
    kaggle_likes,
    kaggle_comments,
    view_count - kaggle_views as delta_views_since_kaggle,
    like_count - kaggle_likes as delta_likes_since_kaggle,
    comment_count - kaggle_comments as delta_comments_since_kaggle,
    case when days_since_kaggle > 0
        then (view_count - kaggle_views) / days_since_kaggle end as views_per_day_since_kaggle,
    case when kaggle_views > 0
        then cast(view_count - kaggle_views as double) / kaggle_views end as growth_rate_since_kaggle
from measured
