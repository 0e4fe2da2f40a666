{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='snapshot_id',
        on_schema_change='fail'
    )
}}
-- Growth per video per available snapshot: deltas since the video's previous available
-- snapshot *in observation time* (observed_at, then commit_seq) and since the Kaggle
-- baseline, days elapsed, views/day and growth rates, whatever order snapshots arrive in.
--
-- Identical observations are one: snapshots of a video with the same observed_at and the
-- same view/like/comment counts (e.g. one response stored under two crawls) give one row,
-- the first committed (lowest commit_seq); the others are skipped, never a zero-delta row.
--
-- Incremental (merge on snapshot_id): the new snapshots are the available ones committed
-- after the table's highest commit_seq, less copies of stored observations. Per affected
-- video, the history is read from its anchor (the latest stored observation at or before
-- its earliest new one) on, and the model returns the new rows plus each stored row that
-- directly follows a new one in observation time (its previous snapshot changed). A daily
-- crawl appends at the end of each series: it writes its new rows only and reads one
-- stored row per video; a late snapshot also rewrites the one row after it.
{% if is_incremental() %}
with watermark as (
    select coalesce(max(commit_seq), 0) as commit_seq from {{ this }}
),

arrived as (
    select fresh.video_id, fresh.observed_at
    from {{ ref('fct_video_snapshots') }} as fresh
    where fresh.is_available
      and fresh.commit_seq > (select commit_seq from watermark)
      and not exists (
          select 1
          from {{ this }} as stored
          where stored.video_id = fresh.video_id
            and stored.observed_at = fresh.observed_at
            and stored.view_count is not distinct from fresh.view_count
            and stored.like_count is not distinct from fresh.like_count
            and stored.comment_count is not distinct from fresh.comment_count
      )
),

affected as (
    select video_id, min(observed_at) as first_new_at
    from arrived
    group by video_id
),

anchors as (
    -- anchor_at: null when the video has no stored observation before its first new one
    select affected.video_id, max(stored.observed_at) as anchor_at
    from affected
    left join {{ this }} as stored
        on stored.video_id = affected.video_id
       and stored.observed_at <= affected.first_new_at
    group by affected.video_id
),

history as (
    select
        snapshots.video_id, snapshots.crawl_id, snapshots.snapshot_id, snapshots.commit_seq,
        snapshots.observed_at, snapshots.view_count, snapshots.like_count, snapshots.comment_count,
        anchors.anchor_at
    from {{ ref('fct_video_snapshots') }} as snapshots
    inner join anchors on snapshots.video_id = anchors.video_id
    where snapshots.is_available
      and (anchors.anchor_at is null or snapshots.observed_at >= anchors.anchor_at)
),
{% else %}
with history as (
    select
        video_id, crawl_id, snapshot_id, commit_seq,
        observed_at, view_count, like_count, comment_count,
        cast(null as {{ dbt.type_timestamp() }}) as anchor_at
    from {{ ref('fct_video_snapshots') }}
    where is_available
),
{% endif %}

distinct_observations as (
    select *
    from (
        select
            history.*,
            row_number() over (
                partition by video_id, observed_at, view_count, like_count, comment_count
                order by commit_seq
            ) as copy_no
        from history
    ) as numbered
    where copy_no = 1
),

with_previous as (
    select
        distinct_observations.*,
        {% if is_incremental() %}
        commit_seq > (select commit_seq from watermark) as is_new,
        {% else %}
        true as is_new,
        {% endif %}
        lag(commit_seq) over by_video as previous_commit_seq,
        lag(observed_at) over by_video as previous_observed_at,
        lag(view_count) over by_video as previous_view_count,
        lag(like_count) over by_video as previous_like_count,
        lag(comment_count) over by_video as previous_comment_count
    from distinct_observations
    window by_video as (partition by video_id order by observed_at, commit_seq)
),

changed as (
    select *
    from with_previous
    {% if is_incremental() %}
    -- new rows, and stored rows whose previous snapshot is a new one
    where is_new or previous_commit_seq > (select commit_seq from watermark)
    {% endif %}
),

measured as (
    select
        changed.*,
        baseline.kaggle_views,
        baseline.kaggle_likes,
        baseline.kaggle_comments,
        baseline.kaggle_observed_at,
        {{ days_between('changed.previous_observed_at', 'changed.observed_at') }} as days_since_previous,
        {{ days_between('baseline.kaggle_observed_at', 'changed.observed_at') }} as days_since_kaggle
    from changed
    left join {{ ref('int_kaggle_videos') }} as baseline
        on changed.video_id = baseline.video_id
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
