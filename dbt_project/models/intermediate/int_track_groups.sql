-- Track groups: the connected components of the graph whose nodes are the tracks of the
-- latest Kaggle load and whose edges join two tracks with the same artist, the same
-- Spotify URI or the same YouTube video. The same song listed under each artist of a
-- collaboration (same URI or video, different artist) lands in one group with both
-- artists' other songs, so a split that keeps groups whole never has a copy of a song,
-- a video or an artist on both sides. track_group_id = the smallest track_id of the group.
--
-- Portable SQL (DuckDB and Spark): iterative label propagation, unrolled by Jinja. Every
-- track starts with its own track_id as label; each iteration gives every track the
-- smallest label among itself and the tracks sharing its artist, its Spotify URI or its
-- video (three windowed mins in one step; a null key joins nothing). After n iterations a
-- label has travelled n hops, so the labels are the components once n exceeds the longest
-- chain: the real Kaggle file needs 35 (default 40). Each step reads the previous one once
-- and is one level of the plan: an inlined self-join per step would double the plan on
-- Spark, and Spark's analyzer stops at 100 resolution rounds (spark.sql.analyzer.maxIterations),
-- which 40 one-level steps stay under while 40 three-level steps did not. The tests in
-- int_track_groups.yml fail if a dataset needs more steps: raise the var
-- track_group_iterations then (on Spark, with that setting).
{{ config(materialized='table') }}

{%- set iterations = var('track_group_iterations', 40) | int %}

with tracks as (
    select track_id, artist, spotify_uri, video_id
    from {{ ref('stg_tracks') }}
),

step_0 as (
    select track_id, artist, spotify_uri, video_id, track_id as label
    from tracks
),

{% for i in range(1, iterations + 1) %}
step_{{ i }} as (
    select
        track_id, artist, spotify_uri, video_id,
        least(
            label,
            case when artist is null then label else min(label) over (partition by artist) end,
            case when spotify_uri is null then label else min(label) over (partition by spotify_uri) end,
            case when video_id is null then label else min(label) over (partition by video_id) end
        ) as label
    from step_{{ i - 1 }}
),

{% endfor %}
final as (
    select track_id, artist, spotify_uri, video_id, label as track_group_id
    from step_{{ iterations }}
)

select
    track_id,
    track_group_id,
    count(*) over (partition by track_group_id) as track_group_size,
    artist,
    spotify_uri,
    video_id
from final
