-- The current Kaggle load (stg_kaggle_loads.is_latest: the latest published load, never a
-- pending or rejected one, so this view cannot show a load before it passed its audit),
-- cleaned: snake_case names, counts as integers, video_id parsed (macro youtube_video_id).
-- The counts fit BIGINT: ingestion quarantines values that are not finite, negative, not
-- whole or too large (ingestion/kaggle_schema.py).
with latest_load as (
    select load_id
    from {{ ref('stg_kaggle_loads') }}
    where is_latest
),

tracks as (
    select t.*
    from {{ source('raw', 'kaggle_tracks') }} as t
    inner join latest_load using (load_id)
)

select
    source_row_number as track_id,
    load_id,
    source_index as kaggle_index,
    artist,
    track,
    album,
    lower(album_type) as album_type,
    uri as spotify_uri,
    url_spotify as spotify_artist_url,
    danceability,
    energy,
    cast(key as integer) as key,
    loudness,
    speechiness,
    acousticness,
    instrumentalness,
    liveness,
    valence,
    tempo,
    cast(duration_ms as bigint) as duration_ms,
    url_youtube,
    {{ youtube_video_id('url_youtube') }} as video_id,
    title as video_title,
    channel,
    cast(views as bigint) as views,
    cast(likes as bigint) as likes,
    cast(comments as bigint) as comments,
    description,
    licensed,
    official_video,
    cast(stream as bigint) as stream,
    source_file,
    file_sha256,
    loaded_at
from tracks
