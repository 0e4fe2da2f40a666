"""Crawls by API day: what the Dagster crawl asset is partitioned by, and what its checks measure.

A crawl belongs to the API day it started on: midnight to midnight America/Los_Angeles
(the API's quota day) of ``raw.crawl_runs.started_at``, which is the API's own time (the
``Date`` header), so a crawl of the local emulator belongs to the emulated day. A day is
*crawled* when one of its crawls is visible downstream: published
(``raw.crawl_runs.published_at``, write-audit-publish) or, in a warehouse from before
publishing existed, completed.

:func:`crawl_on_day` is what materializing one day means: a day whose crawls are closed
is recorded again from the warehouse without a single API call (never a second crawl of
the day); a day with an unfinished crawl resumes it, within the quota ledger's daily
budget; the API's current day starts a crawl (after finishing an older paused one); any
other day without a crawl cannot be crawled afterwards, since a crawl records the counts
of the moment it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from ingestion.youtube.apiclock import API_TIMEZONE, api_day
from ingestion.youtube.progress import CrawlProgress
from ingestion.youtube.store import OPEN_STATUSES  # what a later crawl of the same base URL resumes
#: After midnight Pacific, how long a day may still be without its crawl before it is late
#: (the schedule crawls at 00:30; a crawl of every video takes minutes).
CRAWL_GRACE = timedelta(hours=6)


class DayNotCrawlable(RuntimeError):
    """The day asked for has no crawl and cannot get one now (one line, why)."""


@dataclass(frozen=True)
class DayCrawl:
    """One crawl of a day (a row of raw.crawl_runs)."""

    crawl_id: str
    base_url: str
    status: str
    stop_reason: str | None
    started_at: datetime
    published: bool

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class CrawlDay:
    """An API day's crawls and what they covered (distinct videos and channels, over all of its crawls)."""

    day: date
    crawls: tuple[DayCrawl, ...]
    targets: int        # distinct video ids the day's crawls were to snapshot (raw.crawl_targets)
    snapshotted: int    # of those, with a snapshot (ok or not_found) from one of the day's crawls
    ok: int             # snapshotted and returned by the API
    snapshot_rows: int  # rows of raw.youtube_snapshots from the day's crawls
    api_calls: int
    quota_units: int
    # The channel phase (issue #14), over the day's crawls:
    channels_expected: int = 0     # distinct channels of the day's available video snapshots
    channels_snapshotted: int = 0  # of those, with a channel snapshot (ok or not_found) from one of the day's crawls
    channels_ok: int = 0           # of those, returned by the API
    channel_snapshot_rows: int = 0  # rows of raw.channel_snapshots from the day's crawls

    @property
    def not_found(self) -> int:
        return self.snapshotted - self.ok

    @property
    def channels_not_found(self) -> int:
        return self.channels_snapshotted - self.channels_ok

    @property
    def channel_coverage(self) -> float:
        """Share of the channels of the day's available videos with a channel snapshot."""
        return self.channels_snapshotted / self.channels_expected if self.channels_expected else 0.0

    @property
    def coverage(self) -> float:
        """Share of the target videos snapshotted (1.0 for a finished crawl; 0.0 without targets)."""
        return self.snapshotted / self.targets if self.targets else 0.0

    @property
    def not_found_share(self) -> float:
        """Share of the snapshotted videos the API did not return (deleted, private, unknown)."""
        return self.not_found / self.snapshotted if self.snapshotted else 0.0

    @property
    def is_open(self) -> bool:
        """A crawl of the day is unfinished (running, paused or failed): it can be resumed."""
        return any(c.is_open for c in self.crawls)

    @property
    def is_crawled(self) -> bool:
        """One of the day's crawls is visible downstream."""
        return any(c.published for c in self.crawls)

    @property
    def latest(self) -> DayCrawl:
        return self.crawls[-1]


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    (n,) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
    ).fetchone()
    return bool(n)


def _has_column(con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> bool:
    (n,) = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "AND column_name = ?", [schema, table, column]
    ).fetchone()
    return bool(n)


def crawl_days(con: duckdb.DuckDBPyConnection) -> dict[date, CrawlDay]:
    """Every API day with a crawl, oldest first (empty when nothing was ever crawled)."""
    if not _has_table(con, "raw", "crawl_runs"):
        return {}
    # Before write-audit-publish a completed crawl was visible downstream as it stood.
    published = (
        "published_at IS NOT NULL" if _has_column(con, "raw", "crawl_runs", "published_at") else "status = 'completed'"
    )
    # The API day in SQL (ICU time zones, the same IANA rules as apiclock.api_day).
    days_sql = f"timezone('{API_TIMEZONE.key}', started_at)::DATE"
    runs = con.execute(
        f"""
        SELECT {days_sql} AS api_day, crawl_id, base_url, status, stop_reason, started_at, {published},
               api_calls, quota_units
        FROM raw.crawl_runs ORDER BY started_at, crawl_id
        """
    ).fetchall()
    if not runs:
        return {}
    counts = {
        day: (targets, snapshotted, ok, rows)
        for day, targets, snapshotted, ok, rows in con.execute(
            f"""
            WITH runs AS (SELECT crawl_id, {days_sql} AS api_day FROM raw.crawl_runs),
            targets AS (
                SELECT r.api_day, count(DISTINCT t.video_id) AS targets
                FROM raw.crawl_targets t JOIN runs r USING (crawl_id) GROUP BY r.api_day
            ),
            snaps AS (
                SELECT r.api_day, count(DISTINCT s.video_id) AS snapshotted,
                       count(DISTINCT s.video_id) FILTER (WHERE s.status = 'ok') AS ok, count(*) AS snapshot_rows
                FROM raw.youtube_snapshots s JOIN runs r USING (crawl_id) GROUP BY r.api_day
            )
            SELECT api_day, coalesce(t.targets, 0), coalesce(s.snapshotted, 0), coalesce(s.ok, 0),
                   coalesce(s.snapshot_rows, 0)
            FROM (SELECT DISTINCT api_day FROM runs) d
            LEFT JOIN targets t USING (api_day) LEFT JOIN snaps s USING (api_day)
            """
        ).fetchall()
    }
    channel_counts = _channel_counts(con, days_sql) if _has_table(con, "raw", "channel_snapshots") else {}
    grouped: dict[date, list[tuple]] = {}
    for row in runs:
        grouped.setdefault(row[0], []).append(row)
    days: dict[date, CrawlDay] = {}
    for day in sorted(grouped):
        rows = grouped[day]
        targets, snapshotted, ok, snapshot_rows = counts.get(day, (0, 0, 0, 0))
        days[day] = CrawlDay(
            day=day,
            crawls=tuple(DayCrawl(r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows),
            targets=int(targets), snapshotted=int(snapshotted), ok=int(ok), snapshot_rows=int(snapshot_rows),
            api_calls=int(sum(r[7] or 0 for r in rows)), quota_units=int(sum(r[8] or 0 for r in rows)),
            **channel_counts.get(day, {}),
        )
    return days


def _channel_counts(con: duckdb.DuckDBPyConnection, days_sql: str) -> dict[date, dict[str, int]]:
    """Per API day: the channels of its available video snapshots and their channel snapshots."""
    rows = con.execute(
        f"""
        WITH runs AS (SELECT crawl_id, {days_sql} AS api_day FROM raw.crawl_runs),
        expected AS (
            SELECT DISTINCT r.api_day, s.channel_id
            FROM raw.youtube_snapshots s JOIN runs r USING (crawl_id)
            WHERE s.status = 'ok' AND s.channel_id IS NOT NULL AND s.channel_id <> ''
        ),
        snapped AS (
            SELECT r.api_day, c.channel_id, bool_or(c.status = 'ok') AS ok, count(*) AS n
            FROM raw.channel_snapshots c JOIN runs r USING (crawl_id) GROUP BY ALL
        )
        SELECT coalesce(e.api_day, p.api_day),
               count(e.channel_id),
               count(e.channel_id) FILTER (WHERE p.channel_id IS NOT NULL),
               count(e.channel_id) FILTER (WHERE p.ok),
               coalesce(sum(p.n), 0)
        FROM expected e FULL JOIN snapped p ON p.api_day = e.api_day AND p.channel_id = e.channel_id
        GROUP BY 1
        """
    ).fetchall()
    return {day: {"channels_expected": int(n), "channels_snapshotted": int(snapped), "channels_ok": int(ok),
                  "channel_snapshot_rows": int(rows_)} for day, n, snapped, ok, rows_ in rows}


def api_clock_offset(con: duckdb.DuckDBPyConnection) -> timedelta:
    """The API's clock minus this machine's, as last seen: the latest committed batch's
    ``observed_at`` (the API's Date header) minus its ``committed_at`` (local time).

    Zero for the real API (up to the commit's delay); days or years for the emulator,
    whose clock runs in the emulated past. Zero when nothing was committed yet.
    """
    if not _has_table(con, "raw", "crawl_batches"):
        return timedelta(0)
    row = con.execute(
        "SELECT observed_at, committed_at FROM raw.crawl_batches ORDER BY committed_at DESC LIMIT 1"
    ).fetchone()
    return row[0] - row[1] if row else timedelta(0)


@dataclass(frozen=True)
class Freshness:
    """Which API days are late (no visible crawl although their deadline passed)."""

    api_now: datetime
    due_day: date | None               # the latest day whose crawl should exist by now
    last_crawled_day: date | None
    late_days: tuple[date, ...]        # after the last crawled day, up to the due day
    missed_days: tuple[date, ...]      # between the first and the last crawled day, never crawled

    @property
    def is_fresh(self) -> bool:
        return self.last_crawled_day is not None and not self.late_days


def freshness(days: dict[date, CrawlDay], api_now: datetime, grace: timedelta = CRAWL_GRACE) -> Freshness:
    """Late and missed API days as of ``api_now`` (the API's time; see :func:`api_clock_offset`).

    A day is due once ``grace`` has elapsed since its midnight (Pacific); a due day without a
    visible crawl after the last crawled one is *late*; a day between two crawled days without
    one is *missed* (it can never be crawled afterwards).
    """
    crawled = sorted(d for d, c in days.items() if c.is_crawled)
    due = api_day(api_now.astimezone(UTC) - grace)  # elapsed time, also across a DST change
    if not crawled:
        return Freshness(api_now, due, None, (), ())
    first, last = crawled[0], crawled[-1]
    span = (last - first).days
    present = set(crawled)
    missed = tuple(first + timedelta(n) for n in range(span + 1) if first + timedelta(n) not in present)
    late = tuple(last + timedelta(n) for n in range(1, (due - last).days + 1))
    return Freshness(api_now, due, last, late, missed)


@dataclass(frozen=True)
class DayCrawlOutcome:
    """What :func:`crawl_on_day` did: the crawl invocations it ran (none: the day was recorded
    from the warehouse) and the API days they belong to, the day asked for last."""

    results: tuple  # of ingestion.youtube.CrawlResult, in order
    days: tuple[date, ...]


def _read_days(warehouse: Path) -> dict[date, CrawlDay]:
    from warehouse import read_connection

    if not warehouse.exists():
        return {}
    with read_connection(warehouse) as con:
        return crawl_days(con)


def _day_of(days: dict[date, CrawlDay], crawl_id: str) -> date:
    return next(d for d, c in days.items() if any(x.crawl_id == crawl_id for x in c.crawls))


def crawl_on_day(
    warehouse: Path | str,
    api_key: str,
    options,
    day: date | None = None,
    progress: CrawlProgress | None = None,
) -> DayCrawlOutcome:
    """Materialize API day ``day`` (None: crawl now, as :func:`~ingestion.youtube.crawl` does).

    Raises :class:`DayNotCrawlable` for a day without a crawl that is not the API's current
    day, or whose unfinished crawl was made against another API; :class:`CrawlError` as
    :func:`~ingestion.youtube.crawl` does.
    """
    from ingestion.youtube.client import YouTubeClient
    from ingestion.youtube.crawler import CrawlError, crawl
    from ingestion.youtube.responses import YouTubeApiError

    path = Path(warehouse)
    before = _read_days(path)
    if day is not None and day in before:
        existing = before[day]
        if not existing.is_open:
            return DayCrawlOutcome((), (day,))  # every crawl of the day is closed: no API call
        elsewhere = [c for c in existing.crawls if c.is_open and c.base_url != options.base_url]
        if elsewhere:
            raise DayNotCrawlable(
                f"crawl {elsewhere[0].crawl_id} of API day {day} was made against {elsewhere[0].base_url}, "
                f"not {options.base_url}: resume it with that base URL"
            )
        result = crawl(path, api_key, options, progress)  # one open crawl per base URL: this day's
        return DayCrawlOutcome((result,), (day,))
    if day is not None:
        try:
            today = api_day(YouTubeClient(api_key, options.base_url, options.retry).server_time())
        except YouTubeApiError as exc:
            raise CrawlError(f"cannot reach the YouTube API at {options.base_url}: {exc}") from None
        if day != today:
            raise DayNotCrawlable(
                f"API day {day} has no crawl and the API's day is now {today}: "
                + ("a crawl records the counts of the moment it runs, so a past day cannot be crawled afterwards"
                   if day < today else "that day has not started yet")
            )
    results = [crawl(path, api_key, options, progress)]
    after = _read_days(path)
    first = _day_of(after, results[0].crawl_id)
    if day is not None and first != day and results[0].complete:
        # The budget first finished an older day's paused crawl; now the day asked for.
        results.append(crawl(path, api_key, options, progress))
        after = _read_days(path)
    touched = list(dict.fromkeys(_day_of(after, r.crawl_id) for r in results))
    if day is not None and day not in touched:
        touched.append(day)  # asked for, not reached (the budget went to the older crawl)
    elif day is not None:
        touched.remove(day)
        touched.append(day)
    return DayCrawlOutcome(tuple(results), tuple(touched))
