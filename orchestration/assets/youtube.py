"""raw/youtube_snapshots, raw/channel_snapshots (+ crawl_runs, quota_ledger): crawls of the YouTube
Data API, one API day each.

A crawl snapshots the videos, then their channels (ingestion.youtube.crawler); both
snapshot tables are materialized by the same run. The four assets are partitioned by API day (`CRAWL_DAYS`: midnight to midnight
America/Los_Angeles, the API's quota day). A crawl belongs to the day it started on
(`ingestion.youtube.crawl_days`); materializing a day records its crawls and what they
covered:

- the API's current day: crawl (or resume the day's paused crawl; an older paused crawl
  is finished first), within the quota ledger's daily budget;
- a day whose crawls are all closed: recorded again from the warehouse, no API call, never
  a second crawl of the day;
- a day with an unfinished crawl: resume it;
- any other day without a crawl: fails with one line (a past day cannot be crawled now).

A run without a partition (`tunehouse crawl`, `dg.materialize` in a test) crawls now,
records the materialization under the day of the crawl it ran, and also materializes the
assets without a partition, so the dbt models downstream run in the same job. Crawl days the Dagster
instance has no materialization for (crawls made before partitions existed, or outside
this instance) are recorded under their days by the `crawl_history` sensor and after
every crawl run. The schedule materializes the current day's partition at 00:30 Pacific.

The key comes from the `youtube` resource (bound to `dg.EnvVar("YOUTUBE_API_KEY")`,
never run config, which the UI shows); budget, concurrency and base URL from run config,
else the resource.
"""

from datetime import UTC, date, datetime

import dagster as dg

from ingestion.youtube import CrawlError, TargetsUnavailable
from ingestion.youtube.apiclock import API_TIMEZONE
from ingestion.youtube.crawl_days import (
    CrawlDay,
    DayNotCrawlable,
    api_clock_offset,
    crawl_days,
    crawl_on_day,
    freshness,
)
from ingestion.youtube.progress import default_progress
from orchestration.resources import WarehouseResource, YouTubeApiResource

SNAPSHOTS_KEY = dg.AssetKey(["raw", "youtube_snapshots"])
CHANNEL_SNAPSHOTS_KEY = dg.AssetKey(["raw", "channel_snapshots"])
CRAWL_RUNS_KEY = dg.AssetKey(["raw", "crawl_runs"])
QUOTA_LEDGER_KEY = dg.AssetKey(["raw", "quota_ledger"])
#: The dbt model a crawl's target videos come from (ingestion.youtube.targets).
TARGETS_KEY = dg.AssetKey(["intermediate", "int_kaggle_videos"])
GROUP = "youtube"

#: The first day a partition exists for: the month the Kaggle dataset was crawled (the
#: emulator's calendar starts there too); no crawl of its videos can be older.
FIRST_CRAWL_DAY = "2023-02-01"
#: One partition per API day; end_offset=1: the current day is a partition (the
#: schedule crawls it just after it starts, not a day later).
CRAWL_DAYS = dg.DailyPartitionsDefinition(start_date=FIRST_CRAWL_DAY, timezone=API_TIMEZONE.key, end_offset=1)

# Check thresholds (docs/youtube.md, "Partitions and checks").
COVERAGE_ERROR_BELOW = 0.9
NOT_FOUND_WARN_ABOVE = 0.05
NOT_FOUND_ERROR_ABOVE = 0.2


class CrawlConfig(dg.Config):
    daily_budget: int | None = None
    """Quota units the crawl may spend per API day [default: the youtube resource's, TUNEHOUSE_CRAWL_DAILY_BUDGET]."""
    concurrency: int | None = None
    """videos.list calls in flight [default: the youtube resource's, TUNEHOUSE_CRAWL_CONCURRENCY]."""
    base_url: str | None = None
    """API base URL, e.g. the local emulator [default: the youtube resource's, TUNEHOUSE_YOUTUBE_BASE_URL]."""
    fresh: bool = False
    """Abandon an unfinished crawl and start a new one instead of resuming it."""


def _crawls_table(day: CrawlDay) -> str:
    lines = ["| crawl | status | stop reason | started (API time) | published |", "|---|---|---|---|---|"]
    lines += [f"| {c.crawl_id} | {c.status} | {c.stop_reason or ''} | {c.started_at:%Y-%m-%d %H:%M:%S} UTC | "
              f"{'yes' if c.published else 'no'} |" for c in day.crawls]
    return "\n".join(lines)


def day_metadata(day: CrawlDay, total_rows: int | tuple[int, int], result=None) -> dict[dg.AssetKey, dict]:
    """Materialization metadata of API day `day` for each crawl asset.

    `total_rows`: rows of raw.youtube_snapshots, or (those, rows of raw.channel_snapshots).
    `result` (a CrawlResult) is the crawl this run made for the day, if any: its counts are
    this invocation's (what `tunehouse crawl` prints); without one they are zero.
    """
    total_rows, channel_rows = total_rows if isinstance(total_rows, tuple) else (total_rows, 0)
    latest = day.latest
    run = {
        "crawl_id": result.crawl_id if result else latest.crawl_id,
        "status": result.status if result else latest.status,
        "stop_reason": (result.stop_reason if result else latest.stop_reason) or "",
        "resumed": bool(result and result.resumed),
        "ids_requested": result.ids_requested if result else day.targets,
        "ids_ok": result.ids_ok if result else 0,
        "ids_not_found": result.ids_not_found if result else 0,
        "api_calls": result.api_calls if result else 0,
        "quota_units": result.quota_units if result else 0,
        "batches_done": result.batches_done if result else 0,
        "batches_total": result.batches_total if result else 0,
        "duration_s": round(result.duration_s, 2) if result else 0.0,
        "crawled_now": result is not None,
    }
    whole_day = {
        "api_day": day.day.isoformat(),
        "day_crawls": dg.MetadataValue.md(_crawls_table(day)),
        "day_targets": day.targets,
        "day_snapshotted": day.snapshotted,
        "day_ok": day.ok,
        "day_not_found": day.not_found,
        "day_coverage": dg.MetadataValue.float(round(day.coverage, 4)),
        "day_not_found_share": dg.MetadataValue.float(round(day.not_found_share, 4)),
        "day_visible_downstream": day.is_crawled,
    }
    channels = {
        "crawl_id": run["crawl_id"], "status": run["status"], "stop_reason": run["stop_reason"],
        "resumed": run["resumed"],
        "channels_requested": (result.channels_requested or 0) if result else day.channels_expected,
        "channels_ok": result.channels_ok if result else 0,
        "channels_not_found": result.channels_not_found if result else 0,
        "channel_batches_done": result.channel_batches_done if result else 0,
        "channel_batches_total": (result.channel_batches_total or 0) if result else 0,
        "quota_units": run["quota_units"], "crawled_now": run["crawled_now"],
        "api_day": day.day.isoformat(),
        "day_channels_expected": day.channels_expected,
        "day_channels_snapshotted": day.channels_snapshotted,
        "day_channels_ok": day.channels_ok,
        "day_channels_not_found": day.channels_not_found,
        "day_channel_coverage": dg.MetadataValue.float(round(day.channel_coverage, 4)),
        "day_quota_units": day.quota_units,
        "day_visible_downstream": day.is_crawled,
        "dagster/partition_row_count": day.channel_snapshot_rows,
        "dagster/row_count": channel_rows,
    }
    return {
        SNAPSHOTS_KEY: {**run, **whole_day, "dagster/partition_row_count": day.snapshot_rows,
                        "dagster/row_count": total_rows},
        CHANNEL_SNAPSHOTS_KEY: channels,
        CRAWL_RUNS_KEY: {**run, **whole_day, "dagster/partition_row_count": len(day.crawls)},
        QUOTA_LEDGER_KEY: {"api_day": day.day.isoformat(), "crawl_id": run["crawl_id"],
                           "quota_units": run["quota_units"], "day_quota_units": day.quota_units,
                           "day_api_calls": day.api_calls},
    }


def _in_range(day: date) -> bool:
    return CRAWL_DAYS.has_partition_key(day.isoformat())


def history_events(instance: dg.DagsterInstance, days: dict[date, CrawlDay], total_rows: int,
                   skip: tuple[date, ...] = ()) -> list[dg.AssetMaterialization]:
    """Materializations for the crawl days this instance has none for (history made outside it)."""
    recorded = instance.get_materialized_partitions(SNAPSHOTS_KEY)
    events = []
    for d, day in days.items():
        if d in skip or d.isoformat() in recorded or not _in_range(d):
            continue
        for key, meta in day_metadata(day, total_rows).items():
            meta = {**meta, "recorded_from": "raw.crawl_runs: a crawl this Dagster instance had not recorded"}
            events.append(dg.AssetMaterialization(asset_key=key, partition=d.isoformat(), metadata=meta))
    return events


def _total_rows(con) -> tuple[int, int]:
    """Rows of raw.youtube_snapshots and raw.channel_snapshots (0 before the channel table exists)."""
    videos = con.execute("SELECT count(*) FROM raw.youtube_snapshots").fetchone()[0]
    has_channels = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' "
                               "AND table_name = 'channel_snapshots'").fetchone()[0]
    channels = con.execute("SELECT count(*) FROM raw.channel_snapshots").fetchone()[0] if has_channels else 0
    return videos, channels


_CRAWL_SPECS = [
    dg.AssetSpec(
        SNAPSHOTS_KEY,
        deps=[TARGETS_KEY],
        description="One row per video per crawl (videos.list snippet+statistics), append-only; one "
        "partition per API day (Pacific), the day the crawl started.",
    ),
    dg.AssetSpec(
        CHANNEL_SNAPSHOTS_KEY,
        deps=[TARGETS_KEY],
        description="One row per channel per crawl (channels.list snippet+statistics: subscribers, views, "
        "videos), append-only: every distinct channel of the crawl's available videos, snapshotted after them "
        "by the same crawl and published with it; one partition per API day (Pacific).",
    ),
    dg.AssetSpec(
        CRAWL_RUNS_KEY,
        deps=[TARGETS_KEY],
        description="One row per crawl: status, ids ok / not found, API calls, quota units, publication.",
    ),
    dg.AssetSpec(
        QUOTA_LEDGER_KEY,
        deps=[TARGETS_KEY],
        description="Quota units reserved and spent per API day (midnight America/Los_Angeles) and crawl.",
    ),
]


@dg.multi_asset(
    specs=[
        spec.replace_attributes(group_name=GROUP, skippable=True, partitions_def=CRAWL_DAYS)
        .merge_attributes(kinds={"duckdb", "youtube"} if spec.key in (SNAPSHOTS_KEY, CHANNEL_SNAPSHOTS_KEY)
                          else {"duckdb"})
        for spec in _CRAWL_SPECS
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
    asked = date.fromisoformat(context.partition_key) if context.has_partition_key else None
    try:
        outcome = crawl_on_day(warehouse.path, youtube.api_key, options, asked, default_progress())
    except (CrawlError, TargetsUnavailable, DayNotCrawlable) as exc:
        raise dg.Failure(str(exc)) from None  # messages are redacted; no chained URL
    for result in outcome.results:
        context.log.info(result.message)
    if not outcome.results:
        context.log.info(f"API day {asked}: every crawl is closed; recorded from the warehouse, no API call")
    with warehouse.read_connection() as con:
        days, total = crawl_days(con), _total_rows(con)
    by_crawl = {r.crawl_id: r for r in outcome.results}
    latest_meta: dict[dg.AssetKey, dict] = {}
    for d in outcome.days:
        if d not in days:  # asked for, not reached: the budget went to finishing an older crawl
            raise dg.Failure(
                f"API day {d} has no crawl yet: this run's budget went to finishing a crawl of an earlier "
                "day; materialize the day again to start it"
            )
        result = next((by_crawl[c.crawl_id] for c in reversed(days[d].crawls) if c.crawl_id in by_crawl), None)
        for key, meta in day_metadata(days[d], total, result).items():
            latest_meta[key] = meta
            if d == asked:
                yield dg.MaterializeResult(asset_key=key, metadata=meta)
            elif _in_range(d):
                context.log_event(dg.AssetMaterialization(asset_key=key, partition=d.isoformat(), metadata=meta))
            else:
                context.log.warning(f"API day {d} is outside the partitions ({FIRST_CRAWL_DAY} to today): not recorded")
                break
    if asked is None:
        # A run without a partition (`tunehouse crawl`) has recorded its day above; its outputs
        # are what lets the dbt models downstream run in the same job (`youtube_daily`).
        for key, meta in latest_meta.items():
            yield dg.MaterializeResult(asset_key=key, metadata=meta)
    for event in history_events(context.instance, days, total, skip=outcome.days):
        context.log_event(event)


@dg.sensor(
    name="crawl_history",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records crawl days this Dagster instance has no materialization for (crawls made before "
    "the crawl was partitioned, or with another instance) under their API day. Reads the warehouse only.",
)
def crawl_history(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    from warehouse import WarehouseError, read_connection

    if not warehouse.path.exists():
        return dg.SkipReason(f"{warehouse.path} does not exist yet")
    try:  # never wait for a writer: the next tick reads again
        with read_connection(warehouse.path, timeout_s=1) as con:
            days = crawl_days(con)
            total = _total_rows(con) if days else 0
    except WarehouseError as exc:
        return dg.SkipReason(str(exc))
    events = history_events(context.instance, days, total)
    if not events:
        return dg.SkipReason("every crawl day is recorded")
    return dg.SensorResult(asset_events=events)


# --- Checks (severities: docs/youtube.md, "Partitions and checks") -------------------------------------------


def _checked_day(context, days: dict[date, CrawlDay]) -> CrawlDay | None:
    """The run's partition, else the latest day with a crawl."""
    if context.has_partition_key:
        return days.get(date.fromisoformat(context.partition_key))
    return days[max(days)] if days else None


def _no_crawl(context) -> dg.AssetCheckResult:
    day = context.partition_key if context.has_partition_key else None
    return dg.AssetCheckResult(
        passed=False, severity=dg.AssetCheckSeverity.WARN,
        description=f"API day {day} has no crawl" if day else "nothing crawled yet",
    )


@dg.asset_check(
    asset=SNAPSHOTS_KEY,
    description="Share of the day's target videos with a snapshot. Passes at 100 %; WARN below "
    f"(an unfinished crawl: resume it), ERROR below {COVERAGE_ERROR_BELOW:.0%}.",
)
def crawl_coverage(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.read_connection() as con:
        day = _checked_day(context, crawl_days(con))
    if day is None:
        return _no_crawl(context)
    meta = {"api_day": day.day.isoformat(), "targets": day.targets, "snapshotted": day.snapshotted,
            "coverage": dg.MetadataValue.float(round(day.coverage, 4)), "crawl_status": day.latest.status}
    passed = day.targets > 0 and day.snapshotted == day.targets
    severity = dg.AssetCheckSeverity.ERROR if day.coverage < COVERAGE_ERROR_BELOW else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        passed=passed, severity=severity, metadata=meta,
        description=f"{day.snapshotted} of {day.targets} target videos snapshotted on API day {day.day} "
        f"({day.coverage:.1%})",
    )


@dg.asset_check(
    asset=SNAPSHOTS_KEY,
    description="Share of the day's snapshotted videos the API did not return (deleted, private, unknown id). "
    f"Passes up to {NOT_FOUND_WARN_ABOVE:.0%}; WARN above, ERROR above {NOT_FOUND_ERROR_ABOVE:.0%} "
    "(likely wrong ids or a region/key problem).",
)
def crawl_not_found_share(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    with warehouse.read_connection() as con:
        day = _checked_day(context, crawl_days(con))
    if day is None:
        return _no_crawl(context)
    share = day.not_found_share
    severity = dg.AssetCheckSeverity.ERROR if share > NOT_FOUND_ERROR_ABOVE else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        passed=day.snapshotted > 0 and share <= NOT_FOUND_WARN_ABOVE, severity=severity,
        metadata={"api_day": day.day.isoformat(), "snapshotted": day.snapshotted, "not_found": day.not_found,
                  "not_found_share": dg.MetadataValue.float(round(share, 4))},
        description=f"{day.not_found} of {day.snapshotted} snapshotted videos not found on API day {day.day} "
        f"({share:.1%})",
    )


@dg.asset_check(
    asset=CHANNEL_SNAPSHOTS_KEY,
    description="Share of the channels of the day's available video snapshots that have a channel snapshot "
    "from the day's crawls. Passes at 100 %; WARN below (an unfinished crawl: resume it), ERROR below "
    f"{COVERAGE_ERROR_BELOW:.0%}.",
)
def channel_coverage(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.read_connection() as con:
        day = _checked_day(context, crawl_days(con))
    if day is None:
        return _no_crawl(context)
    share = day.channel_coverage
    meta = {"api_day": day.day.isoformat(), "channels_expected": day.channels_expected,
            "channels_snapshotted": day.channels_snapshotted, "channels_ok": day.channels_ok,
            "channels_not_found": day.channels_not_found,
            "coverage": dg.MetadataValue.float(round(share, 4)), "crawl_status": day.latest.status}
    severity = dg.AssetCheckSeverity.ERROR if share < COVERAGE_ERROR_BELOW else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        passed=day.channels_expected > 0 and day.channels_snapshotted == day.channels_expected,
        severity=severity, metadata=meta,
        description=f"{day.channels_snapshotted} of the {day.channels_expected} channels of the available videos "
        f"snapshotted on API day {day.day} ({share:.1%}); {day.channels_not_found} not found",
    )


def _freshness_now(con):
    """The API's time now: this machine's clock plus the API's offset as last seen."""
    return freshness(crawl_days(con), datetime.now(UTC) + api_clock_offset(con))


@dg.asset_check(
    asset=SNAPSHOTS_KEY,
    description="ERROR when an API day passed without a visible crawl since the last one (the data is "
    "late): each day is due 6 hours after midnight Pacific, by the API's clock as last seen.",
)
def crawl_freshness(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.read_connection() as con:
        fresh = _freshness_now(con)
    meta = {"api_now": fresh.api_now.isoformat(timespec="seconds"),
            "last_crawled_day": str(fresh.last_crawled_day or ""), "due_day": str(fresh.due_day),
            "late_days": len(fresh.late_days)}
    if fresh.last_crawled_day is None:
        text = "no crawl is visible downstream yet"
    elif fresh.late_days:
        text = (f"late: no crawl on API day{'s' if len(fresh.late_days) > 1 else ''} "
                f"{', '.join(str(d) for d in fresh.late_days[:5])}{' ...' if len(fresh.late_days) > 5 else ''} "
                f"(last crawled {fresh.last_crawled_day})")
    else:
        text = f"fresh: last crawled API day {fresh.last_crawled_day}, due {fresh.due_day}"
    return dg.AssetCheckResult(passed=fresh.is_fresh, severity=dg.AssetCheckSeverity.ERROR, metadata=meta,
                               description=text)


@dg.asset_check(
    asset=SNAPSHOTS_KEY,
    description="WARN when an API day between the first and the last crawl has no visible crawl (a missed "
    "day: its counts can never be snapshotted afterwards; growth over it spans two days).",
)
def crawl_days_complete(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.read_connection() as con:
        fresh = _freshness_now(con)
    missed = fresh.missed_days
    return dg.AssetCheckResult(
        passed=not missed, severity=dg.AssetCheckSeverity.WARN,
        metadata={"missed_days": dg.MetadataValue.json([str(d) for d in missed])},
        description=(f"{len(missed)} missed API day{'s' if len(missed) != 1 else ''}: "
                     f"{', '.join(str(d) for d in missed[:10])}{' ...' if len(missed) > 10 else ''}")
        if missed else "no missed day between the first and the last crawl",
    )


assets = [crawl_youtube]
checks = [crawl_coverage, crawl_not_found_share, crawl_freshness, crawl_days_complete, channel_coverage]
sensors = [crawl_history]
CRAWL_KEYS = frozenset(crawl_youtube.keys)

crawl_job = dg.define_asset_job(
    "youtube_crawl",
    selection=dg.AssetSelection.assets(crawl_youtube),
    description="Crawl (or resume) YouTube snapshots of the latest Kaggle load's videos and their channels for "
    "one API day.",
)
daily_job = dg.define_asset_job(
    "youtube_daily",
    # The dbt models downstream of the snapshots (not the ML families further down).
    selection=dg.AssetSelection.assets(crawl_youtube)
    | (dg.AssetSelection.assets(crawl_youtube).downstream() & dg.AssetSelection.kind("dbt")),
    description="Crawl YouTube for one API day, then build the dbt models downstream of the snapshots.",
)
jobs = [crawl_job, daily_job]

# 00:30 Pacific: the API's quota day has just reset, so a paused crawl resumes with a full budget.
@dg.schedule(
    name="youtube_daily_crawl",
    job_name=daily_job.name,  # by name: the definitions add the warehouse's run tags to the job
    cron_schedule="30 0 * * *",
    execution_timezone=API_TIMEZONE.key,
    description="Every API day at 00:30 Pacific: materialize that day's partition (crawl, resuming a paused "
    "crawl) and build the growth models.",
)
def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.astimezone(API_TIMEZONE).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)


schedules = [daily_schedule]
