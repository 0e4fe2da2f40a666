-- Quota used per API day (midnight to midnight America/Los_Angeles), all crawls.
select api_day, crawls, api_calls, quota_units, share_of_default_quota
from {{ ref('quota_usage_daily') }}
order by api_day
