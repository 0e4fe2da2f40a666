"""The crawl's tables in the warehouse: runs, frozen id lists, batches, snapshots, ledger.

A crawl has two phases over the same tables' pattern (a `Phase` each): the videos
(raw.crawl_targets, raw.crawl_batches, raw.youtube_snapshots; frozen by `plan_crawl`),
then the distinct channels of its available video snapshots (raw.crawl_channel_targets,
raw.crawl_channel_batches, raw.channel_snapshots; frozen by `plan_channels` once every
video batch is in). Every write of a crawl is one transaction of the crawler's writing
thread: the snapshots of the finished batches, their progress markers, the quota ledger
entries and the run's counters land together or not at all (`commit_batches`,
`record_quota`).

Write-audit-publish: a crawl's snapshots are visible downstream (dbt's
stg_youtube_snapshots and everything built on it) iff its `raw.crawl_runs.published_at`
is set. When the last batch of both phases is in, `finish_crawl` audits the whole crawl in the same
transaction (`audit_crawl`) and either publishes it (status completed, published_at,
publish_seq from raw.youtube_commit_seq) or rejects it (status rejected,
rejection_reason). A paused, killed or rejected crawl is never published.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa

from ingestion.youtube.client import QUOTA_UNITS_PER_CALL
from ingestion.youtube.responses import ChannelsPage, VideosPage

# A crawl that has not finished is resumed by the next invocation (same base URL).
# 'completed' (published), 'rejected' (audit failed) and 'abandoned' are final.
OPEN_STATUSES = ("running", "paused", "failed")


@dataclass(frozen=True)
class Phase:
    """The tables and counters of one phase of a crawl (videos, then channels)."""

    name: str             # videos | channels
    endpoint: str         # the API call that fetches a batch
    targets: str          # frozen ids and their batch numbers
    batches: str          # progress markers
    snapshots: str
    id_column: str
    requested: str        # raw.crawl_runs counters
    batches_total: str
    ok: str
    not_found: str


VIDEOS = Phase("videos", "videos.list", "raw.crawl_targets", "raw.crawl_batches", "raw.youtube_snapshots",
               "video_id", "ids_requested", "batches_total", "ids_ok", "ids_not_found")
CHANNELS = Phase("channels", "channels.list", "raw.crawl_channel_targets", "raw.crawl_channel_batches",
                 "raw.channel_snapshots", "channel_id", "channels_requested", "channel_batches_total",
                 "channels_ok", "channels_not_found")
PHASES = (VIDEOS, CHANNELS)


@dataclass(frozen=True)
class Batch:
    batch_no: int
    ids: tuple[str, ...]
    phase: Phase = VIDEOS

    @property
    def video_ids(self) -> tuple[str, ...]:
        return self.ids


@dataclass(frozen=True)
class PhasePlan:
    """A phase's frozen size and the batches without a progress marker yet."""

    phase: Phase
    requested: int
    batches_total: int
    remaining: tuple[Batch, ...]

    @property
    def done_ids(self) -> int:
        return self.requested - sum(len(b.ids) for b in self.remaining)

    @property
    def batches_done(self) -> int:
        return self.batches_total - len(self.remaining)


@dataclass(frozen=True)
class CrawlPlan:
    crawl_id: str
    resumed: bool
    ids_requested: int
    batches_total: int
    remaining: tuple[Batch, ...]

    @property
    def done_videos(self) -> int:
        return self.ids_requested - sum(len(b.ids) for b in self.remaining)

    @property
    def videos(self) -> PhasePlan:
        return PhasePlan(VIDEOS, self.ids_requested, self.batches_total, self.remaining)


@dataclass(frozen=True)
class FinishedBatch:
    batch_no: int
    page: VideosPage | ChannelsPage
    attempts: int
    observed_at: datetime
    phase: Phase = VIDEOS


def new_crawl_id(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def open_crawl(con: duckdb.DuckDBPyConnection, base_url: str) -> str | None:
    row = con.execute(
        f"""
        SELECT crawl_id FROM raw.crawl_runs
        WHERE base_url = ? AND status IN {OPEN_STATUSES}
        ORDER BY started_at DESC, crawl_id DESC LIMIT 1
        """,
        [base_url],
    ).fetchall()
    return row[0][0] if row else None


def plan_crawl(
    con: duckdb.DuckDBPyConnection,
    base_url: str,
    load_id: int | None,
    video_ids: Sequence[str],
    batch_size: int,
    now: datetime,
) -> CrawlPlan:
    """Resume the open crawl for this base URL, or freeze a new one over `video_ids`."""
    crawl_id = open_crawl(con, base_url)
    resumed = crawl_id is not None
    if crawl_id is None:
        if not video_ids:
            raise ValueError("no video ids to crawl (the latest Kaggle load has no YouTube URLs)")
        crawl_id = new_crawl_id(now)
        batches = [video_ids[i : i + batch_size] for i in range(0, len(video_ids), batch_size)]
        _insert_targets(con, VIDEOS, crawl_id, batches)
        con.execute(
            """
            INSERT INTO raw.crawl_runs (crawl_id, load_id, base_url, started_at, finished_at, updated_at,
                status, stop_reason, invocations, ids_requested, batches_total, ids_ok, ids_not_found,
                api_calls, quota_units)
            VALUES (?, ?, ?, ?, NULL, now(), 'running', NULL, 1, ?, ?, 0, 0, 0, 0)
            """,
            [crawl_id, load_id, base_url, now, len(video_ids), len(batches)],
        )
    else:
        con.execute(
            """
            UPDATE raw.crawl_runs
            SET status = 'running', stop_reason = NULL, invocations = invocations + 1, updated_at = now()
            WHERE crawl_id = ?
            """,
            [crawl_id],
        )
    ids_requested, batches_total = con.execute(
        "SELECT ids_requested, batches_total FROM raw.crawl_runs WHERE crawl_id = ?", [crawl_id]
    ).fetchall()[0]
    remaining = _remaining(con, VIDEOS, crawl_id)
    return CrawlPlan(crawl_id, resumed, int(ids_requested), int(batches_total), remaining)


def _insert_targets(con: duckdb.DuckDBPyConnection, phase: Phase, crawl_id: str,
                    batches: Sequence[Sequence[str]]) -> None:
    """Freeze a phase's ids, split into batches (caller's transaction)."""
    targets = pa.table({
        "crawl_id": pa.array([crawl_id] * sum(len(b) for b in batches), pa.string()),
        "batch_no": pa.array([n for n, b in enumerate(batches) for _ in b], pa.int32()),
        "id": pa.array([v for b in batches for v in b], pa.string()),
    })
    con.register("new_crawl_targets", targets)
    try:
        con.execute(f"INSERT INTO {phase.targets} (crawl_id, batch_no, {phase.id_column}) "
                    "SELECT crawl_id, batch_no, id FROM new_crawl_targets")
    finally:
        con.unregister("new_crawl_targets")


def _remaining(con: duckdb.DuckDBPyConnection, phase: Phase, crawl_id: str) -> tuple[Batch, ...]:
    """The phase's batches without a progress marker, lowest first."""
    rows = con.execute(
        f"""
        SELECT t.batch_no, list(t.{phase.id_column} ORDER BY t.{phase.id_column})
        FROM {phase.targets} t
        ANTI JOIN {phase.batches} b ON b.crawl_id = t.crawl_id AND b.batch_no = t.batch_no
        WHERE t.crawl_id = ?
        GROUP BY t.batch_no ORDER BY t.batch_no
        """,
        [crawl_id],
    ).fetchall()
    return tuple(Batch(n, tuple(ids), phase) for n, ids in rows)


def plan_channels(con: duckdb.DuckDBPyConnection, crawl_id: str, batch_size: int) -> PhasePlan | None:
    """The crawl's channel phase: None while a video batch is missing; otherwise frozen (once,
    in the caller's transaction) over the distinct channel ids of the crawl's available
    video snapshots, and returned with its batches still to do. Idempotent: a crawl killed
    before its channels were frozen freezes them on resume; once frozen they never change."""
    (batches_total, videos_done, planned) = con.execute(
        f"""
        SELECT batches_total, (SELECT count(*) FROM {VIDEOS.batches} WHERE crawl_id = $crawl),
               channel_batches_total IS NOT NULL
        FROM raw.crawl_runs WHERE crawl_id = $crawl
        """,
        {"crawl": crawl_id},
    ).fetchall()[0]
    if videos_done < batches_total:
        return None
    if not planned:
        channel_ids = [r[0] for r in con.execute(
            """
            SELECT DISTINCT channel_id FROM raw.youtube_snapshots
            WHERE crawl_id = ? AND status = 'ok' AND channel_id IS NOT NULL AND channel_id <> ''
            ORDER BY channel_id
            """,
            [crawl_id],
        ).fetchall()]
        batches = [channel_ids[i : i + batch_size] for i in range(0, len(channel_ids), batch_size)]
        _insert_targets(con, CHANNELS, crawl_id, batches)
        con.execute(
            """
            UPDATE raw.crawl_runs SET channels_requested = ?, channel_batches_total = ?, channels_ok = 0,
                channels_not_found = 0, updated_at = now()
            WHERE crawl_id = ?
            """,
            [len(channel_ids), len(batches), crawl_id],
        )
    requested, total = con.execute(
        "SELECT channels_requested, channel_batches_total FROM raw.crawl_runs WHERE crawl_id = ?", [crawl_id]
    ).fetchall()[0]
    return PhasePlan(CHANNELS, int(requested), int(total), _remaining(con, CHANNELS, crawl_id))


_SNAPSHOT_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("batch_no", pa.int32()),
    ("observed_at", pa.timestamp("us", tz="UTC")),
    ("status", pa.string()),
    ("published_at", pa.timestamp("us", tz="UTC")),
    ("channel_id", pa.string()),
    ("channel_title", pa.string()),
    ("video_title", pa.string()),
    ("view_count", pa.int64()),
    ("like_count", pa.int64()),
    ("comment_count", pa.int64()),
])


def _snapshot_table(batches: Sequence[FinishedBatch]) -> pa.Table:
    rows: list[tuple] = []
    for b in batches:
        for r in b.page.found:
            rows.append((r.video_id, b.batch_no, b.observed_at, "ok", r.published_at, r.channel_id,
                         r.channel_title, r.title, r.view_count, r.like_count, r.comment_count))
        for video_id in b.page.not_found:
            rows.append((video_id, b.batch_no, b.observed_at, "not_found") + (None,) * 7)
    return _arrow(rows, _SNAPSHOT_SCHEMA)


_CHANNEL_SCHEMA = pa.schema([
    ("channel_id", pa.string()),
    ("batch_no", pa.int32()),
    ("observed_at", pa.timestamp("us", tz="UTC")),
    ("status", pa.string()),
    ("channel_title", pa.string()),
    ("custom_url", pa.string()),
    ("channel_published_at", pa.timestamp("us", tz="UTC")),
    ("country", pa.string()),
    ("view_count", pa.int64()),
    ("subscriber_count", pa.int64()),
    ("hidden_subscriber_count", pa.bool_()),
    ("video_count", pa.int64()),
])


def _channel_table(batches: Sequence[FinishedBatch]) -> pa.Table:
    rows: list[tuple] = []
    for b in batches:
        for r in b.page.found:
            rows.append((r.channel_id, b.batch_no, b.observed_at, "ok", r.title, r.custom_url, r.published_at,
                         r.country, r.view_count, r.subscriber_count, r.hidden_subscriber_count, r.video_count))
        for channel_id in b.page.not_found:
            rows.append((channel_id, b.batch_no, b.observed_at, "not_found") + (None,) * 8)
    return _arrow(rows, _CHANNEL_SCHEMA)


def _arrow(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*rows)) if rows else [[] for _ in schema]
    return pa.table([pa.array(list(c), f.type) for c, f in zip(columns, schema)], schema=schema)


_INSERT = {
    VIDEOS.name: (_snapshot_table, """
        INSERT INTO raw.youtube_snapshots (video_id, crawl_id, batch_no, commit_seq, observed_at, status,
            published_at, channel_id, channel_title, video_title, view_count, like_count, comment_count,
            committed_at)
        SELECT video_id, $crawl, batch_no, $seq, observed_at, status, published_at, channel_id, channel_title,
               video_title, view_count, like_count, comment_count, now()
        FROM new_snapshots
    """),
    CHANNELS.name: (_channel_table, """
        INSERT INTO raw.channel_snapshots (channel_id, crawl_id, batch_no, commit_seq, observed_at, status,
            channel_title, custom_url, channel_published_at, country, view_count, subscriber_count,
            hidden_subscriber_count, video_count, committed_at)
        SELECT channel_id, $crawl, batch_no, $seq, observed_at, status, channel_title, custom_url,
               channel_published_at, country, view_count, subscriber_count, hidden_subscriber_count,
               video_count, now()
        FROM new_snapshots
    """),
}


def commit_batches(
    con: duckdb.DuckDBPyConnection,
    crawl_id: str,
    batches: Sequence[FinishedBatch],
) -> None:
    """Write finished batches (snapshots, progress markers, run counters) in the caller's transaction.

    Batches of both phases may be mixed. Batches that already have their marker are
    skipped, so writing the same batch twice (an interrupt between a commit and its
    bookkeeping) is harmless.
    """
    for phase in PHASES:
        _commit_phase(con, crawl_id, phase, [b for b in batches if b.phase is phase])


def _commit_phase(con: duckdb.DuckDBPyConnection, crawl_id: str, phase: Phase,
                  batches: Sequence[FinishedBatch]) -> None:
    if batches:
        committed = {n for (n,) in con.execute(
            f"SELECT batch_no FROM {phase.batches} WHERE crawl_id = ? AND list_contains(?, batch_no)",
            [crawl_id, [b.batch_no for b in batches]],
        ).fetchall()}
        batches = [b for b in batches if b.batch_no not in committed]
    if not batches:
        return
    commit_seq = con.execute("SELECT nextval('raw.youtube_commit_seq')").fetchall()[0][0]
    table, insert = _INSERT[phase.name]
    con.register("new_snapshots", table(batches))
    try:
        con.execute(insert, {"crawl": crawl_id, "seq": commit_seq})
    finally:
        con.unregister("new_snapshots")
    con.executemany(
        f"INSERT INTO {phase.batches} VALUES (?, ?, ?, ?, ?, ?, ?, now())",
        [(crawl_id, b.batch_no, commit_seq, len(b.page.found), len(b.page.not_found), b.attempts, b.observed_at)
         for b in batches],
    )
    ok = sum(len(b.page.found) for b in batches)
    not_found = sum(len(b.page.not_found) for b in batches)
    con.execute(
        f"UPDATE raw.crawl_runs SET {phase.ok} = {phase.ok} + ?, {phase.not_found} = {phase.not_found} + ?, "
        "updated_at = now() WHERE crawl_id = ?",
        [ok, not_found, crawl_id],
    )


def record_quota(
    con: duckdb.DuckDBPyConnection,
    crawl_id: str,
    entries: Sequence[tuple[date, str, int]],
) -> int:
    """Append quota ledger entries (api day, entry, units) in the caller's transaction and
    keep the run's api_calls/quota_units equal to its ledger sum. Returns the net units."""
    entries = [e for e in entries if e[2]]
    if not entries:
        return 0
    con.executemany(
        "INSERT INTO raw.quota_ledger (api_day, crawl_id, api_calls, quota_units, recorded_at, entry) "
        "VALUES (?, ?, ?, ?, now(), ?)",
        [(day, crawl_id, units // QUOTA_UNITS_PER_CALL, units, kind) for day, kind, units in entries],
    )
    net = sum(units for _day, _kind, units in entries)
    con.execute(
        "UPDATE raw.crawl_runs SET api_calls = api_calls + ?, quota_units = quota_units + ?, updated_at = now() "
        "WHERE crawl_id = ?",
        [net // QUOTA_UNITS_PER_CALL, net, crawl_id],
    )
    return net


@dataclass(frozen=True)
class Audit:
    """What the audit of a finished crawl found; `failures` empty = publishable."""

    ids_requested: int
    ids_ok: int
    ids_not_found: int
    not_found_share: float
    previous_crawl_id: str | None
    previous_not_found_share: float | None
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def reason(self) -> str | None:
        return "; ".join(self.failures) if self.failures else None


def audit_crawl(con: duckdb.DuckDBPyConnection, crawl_id: str, max_not_found_jump: float) -> Audit:
    """Check a crawl whose batches (videos and channels) are all in, before it may be published.

    - every frozen target has exactly one snapshot, and no snapshot is outside the targets;
    - ok + not_found snapshots = ids requested, and the run's counters agree;
    - no count is negative;
    - the not-found share has not jumped by more than `max_not_found_jump` (a share of
      the crawl's ids, e.g. 0.05 = 5 points) above the previous published crawl of the
      same API (a wave of live videos reported gone is an API fault, not deletions);
    - the channel phase: see `_audit_channels`; its not-found share may not jump either.
    """
    requested, run_ok, run_not_found, base_url = con.execute(
        "SELECT ids_requested, ids_ok, ids_not_found, base_url FROM raw.crawl_runs WHERE crawl_id = ?", [crawl_id]
    ).fetchall()[0]
    (missing, extra, doubled, ok, not_found, negative) = con.execute(
        """
        WITH targets AS (SELECT video_id FROM raw.crawl_targets WHERE crawl_id = $crawl),
             snaps AS (SELECT * FROM raw.youtube_snapshots WHERE crawl_id = $crawl),
             per_video AS (SELECT video_id, count(*) AS n FROM snaps GROUP BY video_id)
        SELECT
            (SELECT count(*) FROM targets t ANTI JOIN per_video p USING (video_id)),
            (SELECT count(*) FROM per_video p ANTI JOIN targets t USING (video_id)),
            (SELECT count(*) FROM per_video WHERE n > 1),
            (SELECT count(*) FROM snaps WHERE status = 'ok'),
            (SELECT count(*) FROM snaps WHERE status = 'not_found'),
            (SELECT count(*) FROM snaps WHERE view_count < 0 OR like_count < 0 OR comment_count < 0)
        """,
        {"crawl": crawl_id},
    ).fetchall()[0]
    failures: list[str] = []
    if missing:
        failures.append(f"{missing} of {requested} target videos have no snapshot")
    if extra:
        failures.append(f"{extra} snapshots are of videos the crawl did not target")
    if doubled:
        failures.append(f"{doubled} videos have more than one snapshot")
    if ok + not_found != requested or (ok, not_found) != (run_ok, run_not_found):
        failures.append(
            f"ok + not_found = {ok} + {not_found} snapshots, {run_ok} + {run_not_found} counted, "
            f"{requested} requested"
        )
    if negative:
        failures.append(f"{negative} snapshots have a negative count")
    failures += _audit_channels(con, crawl_id)
    share = not_found / requested if requested else 0.0
    previous_id, previous_share, jump = _not_found_jump(con, crawl_id, base_url, "ids", not_found, requested,
                                                        max_not_found_jump)
    # The same rule for the channel phase: a wave of channels "not found" is an API fault too.
    channels, channels_not_found = con.execute(
        "SELECT channels_requested, channels_not_found FROM raw.crawl_runs WHERE crawl_id = ?", [crawl_id]
    ).fetchall()[0]
    _, _, channel_jump = _not_found_jump(con, crawl_id, base_url, "channels", channels_not_found or 0,
                                         channels or 0, max_not_found_jump)
    failures += [f for f in (jump, channel_jump) if f]
    return Audit(int(requested), int(ok), int(not_found), share, previous_id, previous_share, tuple(failures))


def _not_found_jump(
    con: duckdb.DuckDBPyConnection, crawl_id: str, base_url: str, counted: str, not_found: int, requested: int,
    max_jump: float,
) -> tuple[str | None, float | None, str | None]:
    """(crawl id, not-found share) of the latest other published crawl of the same API that
    requested any `counted` ("ids": videos, "channels"), or (None, None); and the audit failure
    when this crawl's share is more than `max_jump` above it, else None."""
    requested_col, not_found_col, label, noun = {
        "ids": ("ids_requested", "ids_not_found", "not-found share", "videos"),
        "channels": ("channels_requested", "channels_not_found", "channel not-found share", "channels"),
    }[counted]
    previous = con.execute(
        f"""
        SELECT crawl_id, {not_found_col}, {requested_col} FROM raw.crawl_runs
        WHERE published_at IS NOT NULL AND base_url = ? AND crawl_id <> ? AND {requested_col} > 0
        ORDER BY publish_seq DESC, crawl_id DESC LIMIT 1
        """,
        [base_url, crawl_id],
    ).fetchall()
    if not previous:
        return None, None, None
    previous_id, previous_share = previous[0][0], previous[0][1] / previous[0][2]
    share = not_found / requested if requested else 0.0
    if share - previous_share <= max_jump:
        return previous_id, previous_share, None
    return previous_id, previous_share, (
        f"{label} jumped from {previous_share:.1%} (crawl {previous_id}) to {share:.1%} ({not_found} of "
        f"{requested} {noun}), more than the allowed {max_jump:.1%} (TUNEHOUSE_CRAWL_MAX_NOT_FOUND_JUMP)"
    )


def _audit_channels(con: duckdb.DuckDBPyConnection, crawl_id: str) -> list[str]:
    """The channel phase of a crawl whose batches are all in: its frozen targets are exactly
    the distinct channels of the crawl's available videos, each has exactly one snapshot,
    the counters agree, no count is negative and no hidden subscriber count is stored."""
    requested, total, run_ok, run_not_found = con.execute(
        "SELECT channels_requested, channel_batches_total, channels_ok, channels_not_found FROM raw.crawl_runs "
        "WHERE crawl_id = ?", [crawl_id]
    ).fetchall()[0]
    if total is None:
        return ["the channel phase was never planned"]
    (uncovered, foreign, missing, extra, doubled, ok, not_found, negative, hidden) = con.execute(
        """
        WITH targets AS (SELECT channel_id FROM raw.crawl_channel_targets WHERE crawl_id = $crawl),
             of_videos AS (SELECT DISTINCT channel_id FROM raw.youtube_snapshots
                           WHERE crawl_id = $crawl AND status = 'ok' AND channel_id IS NOT NULL AND channel_id <> ''),
             snaps AS (SELECT * FROM raw.channel_snapshots WHERE crawl_id = $crawl),
             per_channel AS (SELECT channel_id, count(*) AS n FROM snaps GROUP BY channel_id)
        SELECT
            (SELECT count(*) FROM of_videos ANTI JOIN targets USING (channel_id)),
            (SELECT count(*) FROM targets ANTI JOIN of_videos USING (channel_id)),
            (SELECT count(*) FROM targets t ANTI JOIN per_channel p USING (channel_id)),
            (SELECT count(*) FROM per_channel p ANTI JOIN targets t USING (channel_id)),
            (SELECT count(*) FROM per_channel WHERE n > 1),
            (SELECT count(*) FROM snaps WHERE status = 'ok'),
            (SELECT count(*) FROM snaps WHERE status = 'not_found'),
            (SELECT count(*) FROM snaps WHERE view_count < 0 OR subscriber_count < 0 OR video_count < 0),
            (SELECT count(*) FROM snaps WHERE hidden_subscriber_count AND subscriber_count IS NOT NULL)
        """,
        {"crawl": crawl_id},
    ).fetchall()[0]
    failures: list[str] = []
    if uncovered or foreign:
        failures.append(f"the channel targets miss {uncovered} channels of the crawl's videos and hold "
                        f"{foreign} channels none of its videos has")
    if missing:
        failures.append(f"{missing} of {requested} target channels have no snapshot")
    if extra:
        failures.append(f"{extra} channel snapshots are of channels the crawl did not target")
    if doubled:
        failures.append(f"{doubled} channels have more than one snapshot")
    if ok + not_found != requested or (ok, not_found) != (run_ok, run_not_found):
        failures.append(
            f"channels ok + not_found = {ok} + {not_found} snapshots, {run_ok} + {run_not_found} counted, "
            f"{requested} requested"
        )
    if negative:
        failures.append(f"{negative} channel snapshots have a negative count")
    if hidden:
        failures.append(f"{hidden} channel snapshots store a subscriber count their channel hides")
    return failures


def finish_crawl(
    con: duckdb.DuckDBPyConnection, crawl_id: str, finished_at: datetime, max_not_found_jump: float
) -> Audit:
    """Audit a crawl whose batches are all committed, then publish or reject it (caller's transaction)."""
    audit = audit_crawl(con, crawl_id, max_not_found_jump)
    if audit.passed:
        # The sequence orders publications among commits: dbt's incremental models read
        # crawls published after their last build, even one committed long before.
        (publish_seq,) = con.execute("SELECT nextval('raw.youtube_commit_seq')").fetchall()[0]
        con.execute(
            """
            UPDATE raw.crawl_runs
            SET status = 'completed', stop_reason = NULL, finished_at = ?, published_at = ?, publish_seq = ?,
                rejection_reason = NULL, updated_at = now()
            WHERE crawl_id = ?
            """,
            [finished_at, finished_at, publish_seq, crawl_id],
        )
    else:
        con.execute(
            """
            UPDATE raw.crawl_runs
            SET status = 'rejected', stop_reason = 'audit_failed', finished_at = NULL, published_at = NULL,
                publish_seq = NULL, rejection_reason = ?, updated_at = now()
            WHERE crawl_id = ?
            """,
            [audit.reason, crawl_id],
        )
    return audit


def close_run(con: duckdb.DuckDBPyConnection, crawl_id: str, status: str, stop_reason: str | None) -> None:
    """Leave an unfinished crawl (paused / failed) for the next invocation; never publishes."""
    con.execute(
        "UPDATE raw.crawl_runs SET status = ?, stop_reason = ?, updated_at = now() WHERE crawl_id = ?",
        [status, stop_reason, crawl_id],
    )


def abandon_open_crawls(con: duckdb.DuckDBPyConnection, base_url: str) -> list[str]:
    """Mark unfinished crawls for this base URL as abandoned (the next crawl starts fresh)."""
    rows = con.execute(
        f"SELECT crawl_id FROM raw.crawl_runs WHERE base_url = ? AND status IN {OPEN_STATUSES}", [base_url]
    ).fetchall()
    for (crawl_id,) in rows:
        con.execute(
            "UPDATE raw.crawl_runs SET status = 'abandoned', stop_reason = 'abandoned by user', updated_at = now() "
            "WHERE crawl_id = ?",
            [crawl_id],
        )
    return [r[0] for r in rows]
