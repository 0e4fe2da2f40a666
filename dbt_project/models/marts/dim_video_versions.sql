-- History of each video's title and channel (type-2): one row per version, valid from
-- the first snapshot that showed it until the first snapshot that showed the next one.
-- The versions start where int_video_version_starts says (kept up to date incrementally
-- from every available snapshot, so no change between two builds is missed); this model
-- numbers them and closes each at the next, reading one row per version, not per snapshot.
select
    video_id || '#' || cast(row_number() over by_video as {{ dbt.type_string() }}) as version_id,
    video_id,
    row_number() over by_video as version_no,
    video_title,
    channel_id,
    channel_title,
    crawl_id as first_seen_crawl_id,
    observed_at as valid_from,
    lead(observed_at) over by_video as valid_to,
    lead(observed_at) over by_video is null as is_current
from {{ ref('int_video_version_starts') }}
window by_video as (partition by video_id order by observed_at, commit_seq)
