-- Every YouTube snapshot, with timestamps as plain UTC and clearer names.
select
    video_id,
    crawl_id,
    batch_no,
    commit_seq,
    {{ to_utc_timestamp('observed_at') }} as observed_at,
    status as snapshot_status,
    {{ to_utc_timestamp('published_at') }} as published_at,
    channel_id,
    channel_title,
    video_title,
    view_count,
    like_count,
    comment_count,
    {{ to_utc_timestamp('committed_at') }} as committed_at
from {{ source('youtube', 'youtube_snapshots') }}
