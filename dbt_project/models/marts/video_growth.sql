{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        **replace_partitions('crawl_id')
    )
}}
{{ rebuild_incremental_if_missing('publish_seq') }}
-- Growth per video per available snapshot: deltas since the video's previous available
-- snapshot *in observation time* (observed_at, then commit_seq) and since the Kaggle
-- baseline, days elapsed, views/day and growth rates, whatever order snapshots arrive in.
--
-- Identical observations are one: snapshots of a video with the same observed_at and the
-- same view/like/comment counts (e.g. one response stored under two crawls) give one row,
-- the first published (lowest publish_seq, then commit_seq); the others are skipped,
-- never a zero-delta row.
--
-- Incremental: the new snapshots are the available ones of crawls published after the
-- table's highest publish_seq (a crawl only becomes visible when it is published,
-- possibly after later commits of other crawls). Two ways, so that a daily build costs in
-- proportion to the new snapshots, not to the history:
--   * appended: a video whose one new snapshot is its latest and comes strictly after its
--     previous one, itself alone at its moment (int_video_snapshot_state, one row per
--     video), is measured from that previous snapshot; no stored row changes.
--   * recomputed: any other video with new snapshots (a late snapshot, several new ones,
--     snapshots at the same moment). Less copies of stored observations; the history is
--     read from its anchor (its latest stored observation before its earliest new one)
--     on, and the model returns the new rows plus each stored row that directly follows a
--     new one in observation time (its previous snapshot changed).
-- The table is partitioned by crawl_id and the model returns every row of each crawl it
-- touches (replace_partitions: delete+insert on DuckDB, insert_overwrite on Spark, whose
-- plain Parquet tables have no merge); a daily crawl touches its own crawl only.
-- depends_on: {{ ref('int_video_snapshot_state') }}
{%- set columns = [
    'snapshot_id', 'video_id', 'crawl_id', 'commit_seq', 'publish_seq', 'observed_at', 'view_count', 'like_count',
    'comment_count', 'previous_observed_at', 'days_since_previous', 'delta_views', 'delta_likes', 'delta_comments',
    'views_per_day', 'growth_rate', 'kaggle_observed_at', 'days_since_kaggle', 'kaggle_views', 'kaggle_likes',
    'kaggle_comments', 'delta_views_since_kaggle', 'delta_likes_since_kaggle', 'delta_comments_since_kaggle',
    'views_per_day_since_kaggle', 'growth_rate_since_kaggle'] %}
{%- set observation = ['snapshot_id', 'video_id', 'crawl_id', 'commit_seq', 'publish_seq', 'observed_at',
                       'view_count', 'like_count', 'comment_count'] %}
{% if is_incremental() %}
with watermark as (
    select coalesce(max(publish_seq), 0) as publish_seq from {{ this }}
),

fresh as (
    select {{ observation | join(', ') }}
    from {{ ref('fct_video_snapshots') }}
    where is_available and publish_seq > (select publish_seq from watermark)
),

fresh_videos as (
    select video_id, count(*) as fresh_count
    from fresh
    group by video_id
),

-- the daily case: measured from the previous snapshot the state holds
appended as (
    select
        {% for column in observation %}fresh.{{ column }}, {% endfor %}
        state.previous_available_observed_at as previous_observed_at,
        state.previous_available_view_count as previous_view_count,
        state.previous_available_like_count as previous_like_count,
        state.previous_available_comment_count as previous_comment_count
    from fresh
    inner join fresh_videos on fresh.video_id = fresh_videos.video_id
    inner join {{ ref('int_video_snapshot_state') }} as state on fresh.video_id = state.video_id
    where fresh_videos.fresh_count = 1
      and state.last_available_snapshot_id = fresh.snapshot_id
      and (state.previous_available_snapshot_id is null
           or (state.previous_available_publish_seq <= (select publish_seq from watermark)
               and state.previous_available_observed_at < fresh.observed_at
               and (state.third_available_observed_at is null
                    or state.third_available_observed_at < state.previous_available_observed_at)))
),

-- every other video with new snapshots
recomputed_videos as (
    select video_id
    from fresh_videos
    where not exists (select 1 from appended where appended.video_id = fresh_videos.video_id)
),

arrived as (
    select fresh.video_id, fresh.observed_at
    from fresh
    inner join recomputed_videos on fresh.video_id = recomputed_videos.video_id
    where not exists (
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
    -- anchor_at: the latest stored observation strictly before the first new one (a stored
    -- row at the same moment may sort after a new one); null when there is none
    select affected.video_id, max(stored.observed_at) as anchor_at
    from affected
    left join {{ this }} as stored
        on stored.video_id = affected.video_id
       and stored.observed_at < affected.first_new_at
    group by affected.video_id
),

history as (
    select
        snapshots.video_id, snapshots.crawl_id, snapshots.snapshot_id, snapshots.commit_seq,
        snapshots.publish_seq, snapshots.observed_at, snapshots.view_count, snapshots.like_count, snapshots.comment_count,
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
        publish_seq, observed_at, view_count, like_count, comment_count,
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
                order by publish_seq, commit_seq
            ) as copy_no
        from history
    ) as numbered
    where copy_no = 1
),

with_previous as (
    select
        distinct_observations.*,
        {% if is_incremental() %}
        publish_seq > (select publish_seq from watermark) as is_new,
        {% else %}
        true as is_new,
        {% endif %}
        lag(publish_seq) over by_video as previous_publish_seq,
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
    where is_new or previous_publish_seq > (select publish_seq from watermark)
    {% endif %}
),

updated as (
    select
        {{ observation | join(', ') }},
        previous_observed_at, previous_view_count, previous_like_count, previous_comment_count
    from changed
    {% if is_incremental() %}
    union all
    select
        {{ observation | join(', ') }},
        previous_observed_at, previous_view_count, previous_like_count, previous_comment_count
    from appended
    {% endif %}
),

measured as (
    select
        updated.*,
        baseline.kaggle_views,
        baseline.kaggle_likes,
        baseline.kaggle_comments,
        baseline.kaggle_observed_at,
        {{ days_between('updated.previous_observed_at', 'updated.observed_at') }} as days_since_previous,
        {{ days_between('baseline.kaggle_observed_at', 'updated.observed_at') }} as days_since_kaggle
    from updated
    left join {{ ref('int_kaggle_videos') }} as baseline
        on updated.video_id = baseline.video_id
)

select
    snapshot_id,
    video_id,
    crawl_id,
    commit_seq,
    publish_seq,
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
{% if is_incremental() %}
union all
-- the stored rows of every crawl written again: each crawl_id partition is replaced whole
select {{ columns | join(', ') }}
from {{ this }} as stored
where stored.crawl_id in (select crawl_id from fresh union select crawl_id from changed)
  and not exists (select 1 from changed where changed.snapshot_id = stored.snapshot_id)
  and not exists (select 1 from appended where appended.snapshot_id = stored.snapshot_id)
{% endif %}
