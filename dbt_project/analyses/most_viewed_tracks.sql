-- The five most viewed tracks at the Kaggle crawl, with their artist.
select artist, views
from {{ ref('dim_tracks') }}
order by views desc nulls last
limit 5
