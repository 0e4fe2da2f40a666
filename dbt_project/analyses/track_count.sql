-- How many Kaggle rows the latest load has.
select count(*) as tracks
from {{ ref('dim_tracks') }}
