-- Quota spent per API day (midnight to midnight America/Los_Angeles), all crawls.
-- share_of_default_quota compares with the API's default 10,000 units a day.
select
    api_day,
    count(distinct crawl_id) as crawls,
    cast(sum(api_calls) as bigint) as api_calls,
    cast(sum(quota_units) as bigint) as quota_units,
    cast(sum(quota_units) as double) / 10000 as share_of_default_quota
from {{ ref('stg_quota_ledger') }}
group by api_day
