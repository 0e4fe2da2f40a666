-- The ML-ready table: one row per Kaggle row, audio features, counts and log-counts.
-- Snapshot-derived features (published_year, deltas, growth) join here once crawls exist.
with tracks as (
    select * from {{ ref('stg_tracks') }}
),

dim as (
    select track_id, is_official_video, is_children from {{ ref('dim_tracks') }}
)

select
    tracks.track_id,
    tracks.artist,
    tracks.track,
    tracks.album_type,
    tracks.video_id,
    tracks.channel,
    tracks.licensed,
    dim.is_official_video,
    dim.is_children,
    tracks.danceability,
    tracks.energy,
    tracks.key,
    tracks.loudness,
    tracks.speechiness,
    tracks.acousticness,
    tracks.instrumentalness,
    tracks.liveness,
    tracks.valence,
    tracks.tempo,
    tracks.duration_ms,
    tracks.views,
    tracks.likes,
    tracks.comments,
    tracks.stream,
    ln(1 + tracks.views) as log_views,
    ln(1 + tracks.likes) as log_likes,
    ln(1 + tracks.comments) as log_comments,
    ln(1 + tracks.stream) as log_stream,
    -- Known only from a YouTube crawl (snippet.publishedAt); null until one exists.
    cast(null as integer) as published_year
from tracks
inner join dim using (track_id)
