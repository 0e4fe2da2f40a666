-- A table, not a view: it records what the raw tables held when the models were built,
-- so that a load ingested (or a crawl finished) after the last build does not change the
-- data version of marts built before it.
{{ config(materialized='table') }}

-- What the marts are built from, as ML records it with every run: the latest Kaggle load
-- and the latest published YouTube crawl (the marts read published crawls only). Always
-- one row; the crawl columns are null until a crawl has been published.
with latest_load as (
    select load_id, source_file, file_sha256
    from {{ ref('stg_kaggle_loads') }}
    where is_latest
),

latest_crawl as (
    select crawl_id, finished_at
    from {{ ref('stg_crawl_runs') }}
    where is_published
    order by publish_seq desc, crawl_id desc
    limit 1
)

select
    latest_load.load_id as kaggle_load_id,
    latest_load.source_file as kaggle_file,
    latest_load.file_sha256 as kaggle_sha256,
    latest_crawl.crawl_id,
    latest_crawl.finished_at as crawl_finished_at
from (select 1 as one_row) as anchor
left join latest_load on true
left join latest_crawl on true
