{{ config(materialized='incremental', on_schema_change='fail', **replace_partitions('video_bucket')) }}
-- The snapshots where a video's title or channel changed: one row per version start, i.e.
-- per available snapshot (in observation time: observed_at, then commit_seq) that is the
-- video's first or whose title, channel_id or channel_title differs from the previous
-- available snapshot's. dim_video_versions numbers them and closes each at the next.
--
-- Incremental: the available snapshots of the crawls published after through_publish_seq
-- (the newest crawl this table has seen). A video whose only new snapshot is its latest
-- and comes after everything stored (the daily case, read from int_video_snapshot_state)
-- gains a start iff it differs from the previous snapshot; any other video (a late
-- snapshot, several new ones) has its starts recomputed from its whole history. The model
-- returns every row of each video_bucket it touches (replace_partitions), stamped with
-- the new through_publish_seq.
{%- set columns = ['video_id', 'video_bucket', 'snapshot_id', 'crawl_id', 'commit_seq', 'observed_at',
                   'video_title', 'channel_id', 'channel_title', 'through_publish_seq'] %}
{%- set snapshot_columns = ['video_id', 'snapshot_id', 'crawl_id', 'commit_seq', 'observed_at',
                            'video_title', 'channel_id', 'channel_title'] %}

-- depends_on: {{ ref('int_video_snapshot_state') }}
with
{% if is_incremental() %}
watermark as (
    select coalesce(max(through_publish_seq), 0) as publish_seq from {{ this }}
),

fresh as (
    select {{ snapshot_columns | join(', ') }}, publish_seq
    from {{ ref('fct_video_snapshots') }}
    where is_available and publish_seq > (select publish_seq from watermark)
),

fresh_videos as (
    select video_id, count(*) as fresh_count
    from fresh
    group by video_id
),

-- the daily case: one new snapshot, the video's latest, after everything stored
appended as (
    select
        fresh.*,
        state.previous_available_snapshot_id is null
        or state.previous_available_video_title is distinct from fresh.video_title
        or state.previous_available_channel_id is distinct from fresh.channel_id
        or state.previous_available_channel_title is distinct from fresh.channel_title as is_start
    from fresh
    inner join fresh_videos on fresh.video_id = fresh_videos.video_id
    inner join {{ ref('int_video_snapshot_state') }} as state on fresh.video_id = state.video_id
    where fresh_videos.fresh_count = 1
      and state.last_available_snapshot_id = fresh.snapshot_id
      and (state.previous_available_snapshot_id is null
           or state.previous_available_publish_seq <= (select publish_seq from watermark))
),

-- every other video with new snapshots: its starts from its whole history
recomputed_videos as (
    select video_id from fresh_videos
    where not exists (select 1 from appended where appended.video_id = fresh_videos.video_id)
),

history as (
    select {% for column in snapshot_columns %}snapshots.{{ column }}{{ ', ' if not loop.last }}{% endfor %}
    from {{ ref('fct_video_snapshots') }} as snapshots
    inner join recomputed_videos on snapshots.video_id = recomputed_videos.video_id
    where snapshots.is_available
),
{% else %}
history as (
    select {{ snapshot_columns | join(', ') }}
    from {{ ref('fct_video_snapshots') }}
    where is_available
),
{% endif %}

marked as (
    select
        history.*,
        lag(video_title) over by_video as previous_title,
        lag(channel_id) over by_video as previous_channel_id,
        lag(channel_title) over by_video as previous_channel_title,
        row_number() over by_video as position
    from history
    window by_video as (partition by video_id order by observed_at, commit_seq)
),

starts as (
    select {{ snapshot_columns | join(', ') }}
    from marked
    where position = 1
       or video_title is distinct from previous_title
       or channel_id is distinct from previous_channel_id
       or channel_title is distinct from previous_channel_title
    {% if is_incremental() %}
    union all
    select {{ snapshot_columns | join(', ') }}
    from appended
    where is_start
    {% endif %}
),

through as (
    {% if is_incremental() %}
    select max(publish_seq) as publish_seq from fresh
    {% else %}
    select max(publish_seq) as publish_seq from {{ ref('fct_video_snapshots') }} where is_available
    {% endif %}
)

select
    {% for column in snapshot_columns %}starts.{{ column }}, {% if column == 'video_id' %}{{ video_bucket('starts.video_id') }} as video_bucket, {% endif %}{% endfor %}
    through.publish_seq as through_publish_seq
from starts
cross join through
{% if is_incremental() %}
union all
-- the stored starts of the touched buckets, except those of recomputed videos: each
-- bucket is replaced whole, and its rows carry the new through_publish_seq
select {% for column in columns %}{{ 'through.publish_seq' if column == 'through_publish_seq' else 'stored.' ~ column }}{{ ', ' if not loop.last }}{% endfor %}
from {{ this }} as stored
cross join through
where stored.video_bucket in (select distinct {{ video_bucket('video_id') }} from fresh_videos)
  and not exists (select 1 from recomputed_videos where recomputed_videos.video_id = stored.video_id)
{% endif %}
