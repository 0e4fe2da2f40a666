-- The latest known state of every crawled channel: status from its latest snapshot, the
-- rest from its latest available snapshot (observation time: observed_at, then
-- commit_seq), plus a kind derived from its title and the artists of its videos:
--   topic            "<name> - Topic": YouTube's auto-generated channel of an artist's audio
--   official_artist  the title is, up to case, spaces and punctuation, the Kaggle artist of
--                    one of its videos, or that name + "VEVO" / "official"
--   other            anything else (labels, fans, compilations, broadcasters)
with snapshots as (
    select * from {{ ref('stg_channel_snapshots') }}
),

ranked as (
    select
        snapshots.*,
        row_number() over (
            partition by channel_id order by observed_at desc, commit_seq desc
        ) as recency,
        row_number() over (
            partition by channel_id, is_available order by observed_at desc, commit_seq desc
        ) as recency_in_status
    from snapshots
),

summary as (
    select
        channel_id,
        count(*) as snapshot_count,
        count(case when is_available then 1 end) as available_count,
        min(observed_at) as first_crawled_at
    from snapshots
    group by channel_id
),

latest as (
    select channel_id, snapshot_status, observed_at, crawl_id
    from ranked
    where recency = 1
),

latest_available as (
    select *
    from ranked
    where is_available and recency_in_status = 1
),

-- the Kaggle artists whose videos' latest available snapshot is on the channel
channel_artists as (
    select distinct videos.channel_id, {{ name_key('tracks.artist') }} as artist_key
    from {{ ref('stg_tracks') }} as tracks
    inner join {{ ref('dim_videos') }} as videos on tracks.video_id = videos.video_id
    where videos.channel_id is not null and tracks.artist is not null
),

official as (
    select distinct latest_available.channel_id
    from latest_available
    inner join channel_artists on latest_available.channel_id = channel_artists.channel_id
    where {{ dbt.length('channel_artists.artist_key') }} > 0
      and {{ name_key('latest_available.channel_title') }} in (
          channel_artists.artist_key,
          {{ dbt.concat(['channel_artists.artist_key', "'vevo'"]) }},
          {{ dbt.concat(['channel_artists.artist_key', "'official'"]) }}
      )
)

select
    latest.channel_id,
    latest.snapshot_status as status,
    latest.snapshot_status = 'not_found' as is_gone,
    latest.observed_at as last_crawled_at,
    latest.crawl_id as last_crawl_id,
    summary.first_crawled_at,
    summary.snapshot_count,
    summary.available_count,
    latest_available.observed_at as last_available_at,
    latest_available.channel_title,
    latest_available.custom_url,
    latest_available.channel_published_at,
    latest_available.country,
    latest_available.view_count,
    latest_available.subscriber_count,
    latest_available.is_subscriber_count_hidden,
    latest_available.video_count,
    case
        when latest_available.channel_title is null then null
        when latest_available.channel_title like '% - Topic' then 'topic'
        when official.channel_id is not null then 'official_artist'
        else 'other'
    end as channel_kind
from latest
inner join summary on latest.channel_id = summary.channel_id
left join latest_available on latest.channel_id = latest_available.channel_id
left join official on latest.channel_id = official.channel_id
