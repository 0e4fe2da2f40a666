-- The seed, normalised for case-insensitive matching.
select distinct
    lower(trim(name)) as name_key,
    match_on
from {{ ref('children_music_acts') }}
