{{ config(materialized='incremental', on_schema_change='fail', **replace_partitions('video_bucket')) }}
-- One row per crawled video: what the models downstream need to know about its snapshots
-- without reading them all: how many there are, the latest one (any status) and the
-- latest available ones in observation time (observed_at, then commit_seq): the last and
-- the previous in full, the third's position only. video_growth, int_video_version_starts,
-- dim_videos and track_features read this table (one row per video) instead of every
-- snapshot, so a daily build costs in proportion to the new snapshots and the number of
-- videos, not to the history.
--
-- Incremental: the snapshots of the crawls published after the table's highest
-- publish_seq are folded into the stored state of their videos (the three latest of
-- {the stored three, the new ones} are the three latest of all, and the counts add up);
-- the model returns every row of each video_bucket it touches (replace_partitions).
{%- set kept = ['snapshot_id', 'crawl_id', 'commit_seq', 'publish_seq', 'observed_at', 'published_at',
                'channel_id', 'channel_title', 'video_title', 'view_count', 'like_count', 'comment_count'] %}
{%- set slots = ['last_available', 'previous_available'] %}
{%- set columns = ['video_id', 'video_bucket', 'publish_seq', 'snapshot_count', 'available_count', 'first_crawled_at',
                   'latest_status', 'latest_observed_at', 'latest_commit_seq', 'latest_crawl_id'] %}
{%- for slot in slots %}{% for column in kept %}{% do columns.append(slot ~ '_' ~ column) %}{% endfor %}{% endfor %}
{%- do columns.extend(['third_available_observed_at', 'third_available_commit_seq']) %}

with
{% if is_incremental() %}
watermark as (
    select coalesce(max(publish_seq), 0) as publish_seq from {{ this }}
),
{% endif %}

fresh as (
    select video_id, is_available, snapshot_status, {{ kept | join(', ') }}
    from {{ ref('fct_video_snapshots') }}
    {% if is_incremental() %}
    where publish_seq > (select publish_seq from watermark)
    {% endif %}
),

changed_videos as (
    select distinct video_id from fresh
),

{% if is_incremental() %}
touched_buckets as (
    select distinct {{ video_bucket('video_id') }} as video_bucket from changed_videos
),

stored as (
    select {{ columns | join(', ') }}
    from {{ this }}
    where video_bucket in (select video_bucket from touched_buckets)
),

stored_changed as (
    select stored.*
    from stored
    inner join changed_videos on stored.video_id = changed_videos.video_id
),
{% endif %}

-- the candidates for the three latest available snapshots of each changed video
available as (
    select video_id, {{ kept | join(', ') }}
    from fresh
    where is_available
    {% if is_incremental() %}
    {% for slot in slots %}
    union all
    select video_id, {% for column in kept %}{{ slot }}_{{ column }}{{ ', ' if not loop.last }}{% endfor %}
    from stored_changed
    where {{ slot }}_snapshot_id is not null
    {% endfor %}
    union all
    select video_id, {% for column in kept %}{{ 'third_available_' ~ column if column in ('observed_at', 'commit_seq') else 'null' }}{{ ', ' if not loop.last }}{% endfor %}
    from stored_changed
    where third_available_observed_at is not null
    {% endif %}
),

ranked_available as (
    select
        available.*,
        row_number() over (partition by video_id order by observed_at desc, commit_seq desc) as recency
    from available
),

latest as (
    select video_id, snapshot_status, observed_at, commit_seq, crawl_id
    from (
        select
            candidates.*,
            row_number() over (partition by video_id order by observed_at desc, commit_seq desc) as recency
        from (
            select video_id, snapshot_status, observed_at, commit_seq, crawl_id from fresh
            {% if is_incremental() %}
            union all
            select video_id, latest_status, latest_observed_at, latest_commit_seq, latest_crawl_id from stored_changed
            {% endif %}
        ) as candidates
    ) as ranked
    where recency = 1
),

counts as (
    select
        video_id,
        cast(sum(snapshot_count) as bigint) as snapshot_count,
        cast(sum(available_count) as bigint) as available_count,
        min(first_crawled_at) as first_crawled_at,
        max(publish_seq) as publish_seq
    from (
        select
            video_id,
            count(*) as snapshot_count,
            sum(case when is_available then 1 else 0 end) as available_count,
            min(observed_at) as first_crawled_at,
            max(publish_seq) as publish_seq
        from fresh
        group by video_id
        {% if is_incremental() %}
        union all
        select video_id, snapshot_count, available_count, first_crawled_at, publish_seq from stored_changed
        {% endif %}
    ) as parts
    group by video_id
),

folded as (
    select
        counts.video_id,
        {{ video_bucket('counts.video_id') }} as video_bucket,
        counts.publish_seq,
        counts.snapshot_count,
        counts.available_count,
        counts.first_crawled_at,
        latest.snapshot_status as latest_status,
        latest.observed_at as latest_observed_at,
        latest.commit_seq as latest_commit_seq,
        latest.crawl_id as latest_crawl_id,
        {% for slot in slots %}
        {% set alias = 'available_' ~ loop.index %}
        {% for column in kept %}
        {{ alias }}.{{ column }} as {{ slot }}_{{ column }},
        {% endfor %}
        {% endfor %}
        available_3.observed_at as third_available_observed_at,
        available_3.commit_seq as third_available_commit_seq
    from counts
    inner join latest on counts.video_id = latest.video_id
    left join ranked_available as available_1 on counts.video_id = available_1.video_id and available_1.recency = 1
    left join ranked_available as available_2 on counts.video_id = available_2.video_id and available_2.recency = 2
    left join ranked_available as available_3 on counts.video_id = available_3.video_id and available_3.recency = 3
)

select {{ columns | join(', ') }} from folded
{% if is_incremental() %}
union all
-- the unchanged videos of the touched buckets: each bucket is replaced whole
select {{ columns | join(', ') }}
from stored
where not exists (select 1 from changed_videos where changed_videos.video_id = stored.video_id)
{% endif %}
