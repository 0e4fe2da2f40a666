-- One row per Kaggle row of the latest load, with the flags analyses filter on.
with tracks as (
    select * from {{ ref('stg_tracks') }}
),

children_artists as (
    select name_key from {{ ref('int_children_music_acts') }} where match_on = 'artist'
),

children_channels as (
    select name_key from {{ ref('int_children_music_acts') }} where match_on = 'channel'
)

select
    tracks.track_id,
    tracks.load_id,
    tracks.kaggle_index,
    tracks.artist,
    tracks.track,
    tracks.album,
    tracks.album_type,
    tracks.spotify_uri,
    tracks.video_id,
    tracks.url_youtube,
    tracks.video_title,
    tracks.channel,
    tracks.licensed,
    coalesce(tracks.official_video, false) as is_official_video,
    -- Joins, not `x in (select ...)` in the select list, which Spark does not accept there.
    (children_artists.name_key is not null or children_channels.name_key is not null) as is_children,
    tracks.video_id is not null as has_youtube_video,
    tracks.views,
    tracks.likes,
    tracks.comments,
    tracks.stream,
    tracks.source_file,
    tracks.loaded_at
from tracks
-- name_key is unique per match_on (int_children_music_acts), so no row is repeated
left join children_artists on lower(trim(tracks.artist)) = children_artists.name_key
left join children_channels on lower(trim(tracks.channel)) = children_channels.name_key
