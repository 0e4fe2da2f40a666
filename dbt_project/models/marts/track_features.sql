-- The ML-ready table: one row per Kaggle row, audio features, Kaggle counts and
-- log-counts, the latest counts (crawled, else Kaggle's) with their source, the study's
-- stream gap, plus features from the YouTube snapshots and of the video's channel (null
-- for videos or channels never crawled).
with tracks as (
    select * from {{ ref('stg_tracks') }}
),

dim as (
    select track_id, is_official_video, is_children from {{ ref('dim_tracks') }}
),

videos as (
    select * from {{ ref('dim_videos') }}
),

track_groups as (
    select track_id, track_group_id from {{ ref('int_track_groups') }}
),

-- views_per_day of each video's latest row of video_growth (its last available snapshot
-- against the previous one), from int_video_snapshot_state: one row per video, not the
-- whole history. Where the state alone cannot tell (the last or the previous snapshot
-- shares its moment with another one, which video_growth may count as one observation),
-- from video_growth's latest row of that video.
state as (
    select
        video_id,
        previous_available_observed_at is null  -- none or one available snapshot
        or (previous_available_observed_at < last_available_observed_at
            and (third_available_observed_at is null
                 or third_available_observed_at < previous_available_observed_at)) as is_unambiguous,
        case when {{ days_between('previous_available_observed_at', 'last_available_observed_at') }} > 0
            then (last_available_view_count - previous_available_view_count)
                 / {{ days_between('previous_available_observed_at', 'last_available_observed_at') }}
        end as views_per_day
    from {{ ref('int_video_snapshot_state') }}
),

latest_growth as (
    select video_id, views_per_day
    from state
    where is_unambiguous
    union all
    select video_id, views_per_day
    from (
        select
            growth.video_id,
            growth.views_per_day,
            row_number() over (
                partition by growth.video_id order by growth.observed_at desc, growth.commit_seq desc
            ) as recency
        from {{ ref('video_growth') }} as growth
        inner join state on growth.video_id = state.video_id
        where not state.is_unambiguous
    ) as ranked
    where recency = 1
),

-- The channel as of the video's latest available snapshot: the channel snapshot of the
-- same crawl (the daily case: a crawl snapshots the channels of its videos), else the
-- latest available one observed at or before it.
video_channels as (
    select
        video_id,
        last_available_channel_id as channel_id,
        last_available_crawl_id as crawl_id,
        last_available_observed_at as observed_at
    from {{ ref('int_video_snapshot_state') }}
    where last_available_channel_id is not null
),

channel_snapshots as (
    select
        channel_id, crawl_id, observed_at, commit_seq, subscriber_count, is_subscriber_count_hidden,
        view_count, video_count, channel_published_at
    from {{ ref('stg_channel_snapshots') }}
    where is_available
),

same_crawl as (
    select video_channels.video_id, video_channels.observed_at as video_observed_at, channel_snapshots.*
    from video_channels
    inner join channel_snapshots
        on video_channels.channel_id = channel_snapshots.channel_id
        and video_channels.crawl_id = channel_snapshots.crawl_id
),

earlier as (
    select *
    from (
        select
            video_channels.video_id,
            video_channels.observed_at as video_observed_at,
            channel_snapshots.*,
            row_number() over (
                partition by video_channels.video_id
                order by channel_snapshots.observed_at desc, channel_snapshots.commit_seq desc
            ) as recency
        from video_channels
        left join same_crawl on video_channels.video_id = same_crawl.video_id
        inner join channel_snapshots
            on video_channels.channel_id = channel_snapshots.channel_id
            and channel_snapshots.observed_at <= video_channels.observed_at
        where same_crawl.video_id is null
    ) as ranked
    where recency = 1
),

channel_as_of as (
    select
        video_id, subscriber_count, is_subscriber_count_hidden, view_count, video_count,
        {{ days_between('channel_published_at', 'video_observed_at') }} as channel_age_days
    from same_crawl
    union all
    select
        video_id, subscriber_count, is_subscriber_count_hidden, view_count, video_count,
        {{ days_between('channel_published_at', 'video_observed_at') }} as channel_age_days
    from earlier
),

latest_counts as (
    select
        tracks.track_id,
        coalesce(videos.view_count, tracks.views) as view_count,
        coalesce(videos.like_count, tracks.likes) as like_count,
        coalesce(videos.comment_count, tracks.comments) as comment_count,
        case
            when videos.view_count is not null
              or videos.like_count is not null
              or videos.comment_count is not null
            then 'crawl'
            else 'kaggle'
        end as count_source
    from tracks
    left join videos on tracks.video_id = videos.video_id
)

select
    tracks.track_id,
    -- The track's group (artist, Spotify URI and video joined; int_track_groups): the
    -- unit every honest ML split keeps whole.
    track_groups.track_group_id,
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
    -- THE count rule: the latest crawled count when a crawl measured it (the video's
    -- latest available snapshot), otherwise the Kaggle count; count_source says whether
    -- any of the three came from a crawl.
    latest_counts.view_count,
    latest_counts.like_count,
    latest_counts.comment_count,
    latest_counts.count_source,
    ln(1 + latest_counts.view_count) as log_view_count,
    -- The study's Spotify-minus-YouTube gap (ch. 5): stream - viewCount.
    tracks.stream - latest_counts.view_count as stream_gap,
    -- Year of snippet.publishedAt (UTC) of the latest available snapshot. (The study's
    -- code filled publishedYear with the is_children rule by mistake.)
    videos.published_year,
    -- Latest available snapshot minus this row's Kaggle counts, as in the study.
    videos.view_count - tracks.views as delta_views,
    videos.like_count - tracks.likes as delta_likes,
    videos.comment_count - tracks.comments as delta_comments,
    {{ days_between('videos.published_at', 'videos.last_available_at') }} as video_age_days,
    case when {{ days_between(kaggle_observed_at(), 'videos.last_available_at') }} > 0
        then (videos.view_count - tracks.views)
             / {{ days_between(kaggle_observed_at(), 'videos.last_available_at') }}
    end as views_per_day_since_kaggle,
    case when tracks.views > 0
        then cast(videos.view_count - tracks.views as double) / tracks.views
    end as growth_rate_since_kaggle,
    latest_growth.views_per_day as recent_views_per_day,
    videos.snapshot_count as youtube_snapshot_count,
    videos.is_gone as is_video_gone,
    -- The video's channel, as of the video's latest available snapshot (channel_as_of).
    videos.channel_id,
    channel_as_of.subscriber_count as channel_subscribers,
    channel_as_of.is_subscriber_count_hidden as channel_subscribers_hidden,
    channel_as_of.view_count as channel_view_count,
    channel_as_of.video_count as channel_video_count,
    channel_as_of.channel_age_days,
    channels.channel_kind
from tracks
inner join dim on tracks.track_id = dim.track_id
inner join latest_counts on tracks.track_id = latest_counts.track_id
left join videos on tracks.video_id = videos.video_id
left join latest_growth on tracks.video_id = latest_growth.video_id
left join track_groups on tracks.track_id = track_groups.track_id
left join channel_as_of on tracks.video_id = channel_as_of.video_id
left join {{ ref('dim_channels') }} as channels on videos.channel_id = channels.channel_id
