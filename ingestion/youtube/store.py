"""The crawl's tables in the warehouse: runs, frozen id lists, batches, snapshots, ledger.

Every write of a crawl goes through `commit_batches`, one transaction per call: the
snapshots of the finished batches, their progress markers, the quota spent and the
run's counters land together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa

from ingestion.youtube.responses import VideosPage

# A crawl that has not finished is resumed by the next invocation (same base URL).
OPEN_STATUSES = ("running", "paused", "failed")


@dataclass(frozen=True)
class Batch:
    batch_no: int
    video_ids: tuple[str, ...]


@dataclass(frozen=True)
class CrawlPlan:
    crawl_id: str
    resumed: bool
    ids_requested: int
    batches_total: int
    remaining: tuple[Batch, ...]

    @property
    def done_videos(self) -> int:
        return self.ids_requested - sum(len(b.video_ids) for b in self.remaining)


@dataclass(frozen=True)
class FinishedBatch:
    batch_no: int
    page: VideosPage
    attempts: int
    observed_at: datetime


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
        targets = pa.table({
            "crawl_id": pa.array([crawl_id] * len(video_ids), pa.string()),
            "batch_no": pa.array([n for n, b in enumerate(batches) for _ in b], pa.int32()),
            "video_id": pa.array([v for b in batches for v in b], pa.string()),
        })
        con.register("new_crawl_targets", targets)
        try:
            con.execute("INSERT INTO raw.crawl_targets SELECT crawl_id, batch_no, video_id FROM new_crawl_targets")
        finally:
            con.unregister("new_crawl_targets")
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
    rows = con.execute(
        """
        SELECT t.batch_no, list(t.video_id ORDER BY t.video_id)
        FROM raw.crawl_targets t
        ANTI JOIN raw.crawl_batches b ON b.crawl_id = t.crawl_id AND b.batch_no = t.batch_no
        WHERE t.crawl_id = ?
        GROUP BY t.batch_no ORDER BY t.batch_no
        """,
        [crawl_id],
    ).fetchall()
    remaining = tuple(Batch(n, tuple(ids)) for n, ids in rows)
    return CrawlPlan(crawl_id, resumed, int(ids_requested), int(batches_total), remaining)


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
    columns = list(zip(*rows)) if rows else [[] for _ in _SNAPSHOT_SCHEMA]
    return pa.table([pa.array(list(c), f.type) for c, f in zip(columns, _SNAPSHOT_SCHEMA)], schema=_SNAPSHOT_SCHEMA)


def commit_batches(
    con: duckdb.DuckDBPyConnection,
    crawl_id: str,
    batches: Sequence[FinishedBatch],
    spent: dict[date, int],
) -> None:
    """Write finished batches + quota spent in the caller's transaction."""
    if batches:
        commit_seq = con.execute("SELECT nextval('raw.youtube_commit_seq')").fetchall()[0][0]
        con.register("new_snapshots", _snapshot_table(batches))
        try:
            con.execute(
                """
                INSERT INTO raw.youtube_snapshots (video_id, crawl_id, batch_no, commit_seq, observed_at, status,
                    published_at, channel_id, channel_title, video_title, view_count, like_count, comment_count,
                    committed_at)
                SELECT video_id, ?, batch_no, ?, observed_at, status, published_at, channel_id, channel_title,
                       video_title, view_count, like_count, comment_count, now()
                FROM new_snapshots
                """,
                [crawl_id, commit_seq],
            )
        finally:
            con.unregister("new_snapshots")
        con.executemany(
            "INSERT INTO raw.crawl_batches VALUES (?, ?, ?, ?, ?, ?, ?, now())",
            [(crawl_id, b.batch_no, commit_seq, len(b.page.found), len(b.page.not_found), b.attempts, b.observed_at)
             for b in batches],
        )
    ok = sum(len(b.page.found) for b in batches)
    not_found = sum(len(b.page.not_found) for b in batches)
    units = sum(spent.values())
    if spent:
        con.executemany(
            "INSERT INTO raw.quota_ledger VALUES (?, ?, ?, ?, now())",
            [(day, crawl_id, u, u) for day, u in sorted(spent.items())],
        )
    con.execute(
        """
        UPDATE raw.crawl_runs
        SET ids_ok = ids_ok + ?, ids_not_found = ids_not_found + ?, api_calls = api_calls + ?,
            quota_units = quota_units + ?, updated_at = now()
        WHERE crawl_id = ?
        """,
        [ok, not_found, units, units, crawl_id],
    )


def close_run(
    con: duckdb.DuckDBPyConnection, crawl_id: str, status: str, stop_reason: str | None,
    finished_at: datetime | None,
) -> None:
    con.execute(
        "UPDATE raw.crawl_runs SET status = ?, stop_reason = ?, finished_at = ?, updated_at = now() WHERE crawl_id = ?",
        [status, stop_reason, finished_at, crawl_id],
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
