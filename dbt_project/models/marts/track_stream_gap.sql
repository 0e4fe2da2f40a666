-- The study's stream-gap quantities (ch. 5), one row per Kaggle row: the gap itself
-- (from track_features, where it is defined), whether the track is in the study's
-- population, that population's mean gap and the study's label.
--
-- The study kept official videos only and dropped rows with a missing value before it
-- took the mean; here the population is the official videos whose gap is known (both
-- counts present). The study's label is gap > mean (it floored the mean, which for
-- integer gaps gives the same label). This is the label *as the study computed it*: the
-- honest protocol's thresholds, taken on each training fold, stay in ml/.
with features as (
    select track_id, artist, track, is_official_video, is_children, stream, view_count, count_source, stream_gap
    from {{ ref('track_features') }}
),

marked as (
    select
        features.*,
        is_official_video and stream_gap is not null as is_in_study_population
    from features
),

population as (
    select avg(stream_gap) as study_mean_stream_gap, count(*) as study_population_size
    from marked
    where is_in_study_population
)

select
    marked.track_id,
    marked.artist,
    marked.track,
    marked.is_official_video,
    marked.is_children,
    marked.stream,
    marked.view_count,
    marked.count_source,
    marked.stream_gap,
    marked.is_in_study_population,
    population.study_population_size,
    population.study_mean_stream_gap,
    case when marked.is_in_study_population
        then marked.stream_gap > population.study_mean_stream_gap
    end as is_stream_gap_above_study_mean
from marked
cross join population
