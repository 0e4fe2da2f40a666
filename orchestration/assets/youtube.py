"""raw/youtube_snapshots (+ crawl_runs, quota_ledger): a crawl of the YouTube Data API.

The asset is a thin layer over ingestion.youtube.crawl: the key comes from the `youtube`
resource (bound to `dg.EnvVar("YOUTUBE_API_KEY")`, never run config, which the UI
shows); budget, concurrency and base URL from run config, else the resource. The daily
schedule crawls right after the API's quota day starts (midnight Pacific) and then
builds the dbt models downstream of the snapshots.
"""

import dagster as dg

from ingestion.youtube import CrawlError, TargetsUnavailable, crawl
from ingestion.youtube.progress import default_progress
from orchestration.resources import WarehouseResource, YouTubeApiResource

SNAPSHOTS_KEY = dg.AssetKey(["raw", "youtube_snapshots"])
STG_TRACKS_KEY = dg.AssetKey(["staging", "stg_tracks"])


class CrawlConfig(dg.Config):
    daily_budget: int | None = None
    """Quota units the crawl may spend per API day [default: the youtube resource's, TUNEHOUSE_CRAWL_DAILY_BUDGET]."""
    concurrency: int | None = None
    """videos.list calls in flight [default: the youtube resource's, TUNEHOUSE_CRAWL_CONCURRENCY]."""
    base_url: str | None = None
    """API base URL, e.g. the local emulator [default: the youtube resource's, TUNEHOUSE_YOUTUBE_BASE_URL]."""
    fresh: bool = False
    """Abandon an unfinished crawl and start a new one instead of resuming it."""


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SNAPSHOTS_KEY,
            deps=[STG_TRACKS_KEY],
            group_name="raw",
            kinds={"duckdb", "youtube"},
            description="One row per video per crawl (videos.list snippet+statistics), append-only.",
        ),
        dg.AssetSpec(
            ["raw", "crawl_runs"],
            deps=[STG_TRACKS_KEY],
            group_name="raw",
            kinds={"duckdb"},
            description="One row per crawl: status, ids ok / not found, API calls, quota units.",
        ),
        dg.AssetSpec(
            ["raw", "quota_ledger"],
            deps=[STG_TRACKS_KEY],
            group_name="raw",
            kinds={"duckdb"},
            description="Quota units spent per API day (midnight America/Los_Angeles) and crawl.",
        ),
    ],
    name="crawl_youtube",
)
def crawl_youtube(
    context: dg.AssetExecutionContext, config: CrawlConfig, warehouse: WarehouseResource, youtube: YouTubeApiResource
):
    if not youtube.api_key:
        raise dg.Failure("YOUTUBE_API_KEY is not set: export a YouTube Data API v3 key (or use the emulator)")
    options = youtube.crawl_options(
        base_url=config.base_url, daily_budget=config.daily_budget, concurrency=config.concurrency, fresh=config.fresh
    )
    try:
        result = crawl(warehouse.path, youtube.api_key, options, default_progress())
    except (CrawlError, TargetsUnavailable) as exc:
        raise dg.Failure(str(exc)) from None  # messages are redacted; no chained URL
    context.log.info(result.message)
    metadata = {
        "crawl_id": result.crawl_id,
        "status": result.status,
        "stop_reason": result.stop_reason or "",
        "resumed": result.resumed,
        "ids_requested": result.ids_requested,
        "ids_ok": result.ids_ok,
        "ids_not_found": result.ids_not_found,
        "api_calls": result.api_calls,
        "quota_units": result.quota_units,
        "batches_done": result.batches_done,
        "batches_total": result.batches_total,
        "duration_s": round(result.duration_s, 2),
    }
    yield dg.MaterializeResult(asset_key=SNAPSHOTS_KEY, metadata={
        **metadata, "dagster/row_count": result.ids_ok + result.ids_not_found})
    yield dg.MaterializeResult(asset_key=["raw", "crawl_runs"], metadata=metadata)
    yield dg.MaterializeResult(asset_key=["raw", "quota_ledger"], metadata={
        "crawl_id": result.crawl_id, "quota_units": result.quota_units})


assets = [crawl_youtube]
CRAWL_KEYS = frozenset(crawl_youtube.keys)

crawl_job = dg.define_asset_job(
    "youtube_crawl",
    selection=dg.AssetSelection.assets(crawl_youtube),
    description="Crawl (or resume) YouTube snapshots of the latest Kaggle load's videos.",
)
daily_job = dg.define_asset_job(
    "youtube_daily",
    # The dbt models downstream of the snapshots (not the ML families further down).
    selection=dg.AssetSelection.assets(crawl_youtube)
    | (dg.AssetSelection.assets(crawl_youtube).downstream() & dg.AssetSelection.kind("dbt")),
    description="Crawl YouTube, then build the dbt models downstream of the snapshots.",
)
jobs = [crawl_job, daily_job]

# 00:30 Pacific: the API's quota day has just reset, so a paused crawl resumes with a full budget.
daily_schedule = dg.ScheduleDefinition(
    name="youtube_daily_crawl",
    job=daily_job,
    cron_schedule="30 0 * * *",
    execution_timezone="America/Los_Angeles",
    description="Every API day: crawl (resuming a paused crawl) and build the growth models.",
)
schedules = [daily_schedule]
