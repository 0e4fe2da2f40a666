"""A crawl: snapshots of every distinct video of the latest Kaggle load, resumably.

Threads send videos.list calls (up to `concurrency` in flight); this thread alone writes
the warehouse, committing in one short transaction each time whatever has happened:
finished batches (snapshots, progress markers), quota reservations the threads need
before they send (see quota.py: a call is on the ledger before it leaves) and refunds.
Killing the process therefore loses only batches not yet committed, which a resumed
crawl re-requests, and never a call from the ledger. A crawl stops cleanly (status
'paused') when the daily budget or the API quota is spent, or when the API keeps failing
or answering malformed bodies after retries; the next invocation resumes it. When the
last batch is in, the crawl is audited and published (or rejected) in the same
transaction (store.finish_crawl): downstream models only ever see whole, audited crawls.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from ingestion.youtube.apiclock import ApiClock
from ingestion.youtube.client import MAX_IDS_PER_CALL, RetryPolicy, VideosResult, YouTubeClient
from ingestion.youtube.progress import CrawlProgress, NoProgress
from ingestion.youtube.quota import BudgetExhausted, GateClosed, QuotaGate, ledger_window_start, units_spent_since
from ingestion.youtube.redaction import install_log_redaction, redact, remove_log_redaction
from ingestion.youtube.responses import ErrorKind, YouTubeApiError
from ingestion.youtube.store import (
    Audit,
    Batch,
    FinishedBatch,
    abandon_open_crawls,
    close_run,
    commit_batches,
    finish_crawl,
    plan_crawl,
    record_quota,
)
from ingestion.youtube.targets import crawl_targets
from warehouse import ensure_schema, resolve_path, transaction, write_connection

log = logging.getLogger(__name__)


class CrawlError(RuntimeError):
    """The crawl cannot go on until the user fixes something (key, URL, lock), or its audit failed."""


#: How far the not-found share of a crawl may rise above the previous published crawl's
#: (a share of the crawl's ids) before the audit rejects it (TUNEHOUSE_CRAWL_MAX_NOT_FOUND_JUMP).
DEFAULT_MAX_NOT_FOUND_JUMP = 0.05


@dataclass(frozen=True)
class CrawlOptions:
    base_url: str
    daily_budget: int = 10_000
    concurrency: int = 4
    batch_size: int = MAX_IDS_PER_CALL
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    fresh: bool = False  # abandon an unfinished crawl instead of resuming it
    max_not_found_jump: float = DEFAULT_MAX_NOT_FOUND_JUMP

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_IDS_PER_CALL:
            raise ValueError(f"batch_size must be 1..{MAX_IDS_PER_CALL}, got {self.batch_size}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.daily_budget < 1:
            raise ValueError(f"daily budget must be at least 1 unit, got {self.daily_budget}")
        if not 0 <= self.max_not_found_jump <= 1:
            raise ValueError(f"max_not_found_jump must be a share in 0..1, got {self.max_not_found_jump}")


@dataclass(frozen=True)
class CrawlResult:
    crawl_id: str
    status: str                # completed (published) | paused | rejected | failed
    stop_reason: str | None    # budget_exhausted | quota_exceeded | api_unavailable | malformed_response | interrupted | key_invalid | audit_failed ...
    resumed: bool
    ids_requested: int
    batches_total: int
    batches_done: int          # over the whole crawl, all invocations
    ids_ok: int                # this invocation
    ids_not_found: int         # this invocation
    api_calls: int             # this invocation's net ledger entries (calls the API may have charged)
    quota_units: int           # this invocation
    duration_s: float
    message: str
    published: bool = False    # the crawl passed its audit and is visible downstream
    rejection_reason: str | None = None

    @property
    def complete(self) -> bool:
        return self.status == "completed"


_STOP_REASONS = {
    ErrorKind.QUOTA_EXCEEDED: ("paused", "quota_exceeded"),
    ErrorKind.RATE_LIMITED: ("paused", "api_unavailable"),
    ErrorKind.SERVER_ERROR: ("paused", "api_unavailable"),
    ErrorKind.TRANSPORT: ("paused", "api_unavailable"),
    ErrorKind.MALFORMED: ("paused", "malformed_response"),
    ErrorKind.KEY_INVALID: ("failed", "key_invalid"),
    ErrorKind.FORBIDDEN: ("failed", "forbidden"),
    ErrorKind.BAD_REQUEST: ("failed", "bad_request"),
}


# Answers the API does not charge quota for (the call was refused before any work).
_UNCHARGED = frozenset({ErrorKind.QUOTA_EXCEEDED, ErrorKind.KEY_INVALID, ErrorKind.FORBIDDEN})


@dataclass
class _Outcome:
    batch: Batch
    result: VideosResult | None = None
    error: BaseException | None = None


def crawl_lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".crawl.lock")


class Crawler:
    def __init__(self, warehouse: Path | str | None, api_key: str, options: CrawlOptions,
                 progress: CrawlProgress | None = None):
        self.warehouse = resolve_path(warehouse)
        self.options = options
        self.progress = progress or NoProgress()
        self.clock = ApiClock()
        self._key = api_key
        self.client = YouTubeClient(api_key, options.base_url, options.retry, self.clock,
                                    pool_size=options.concurrency)

    def run(self) -> CrawlResult:
        redaction = install_log_redaction(self._key)
        lock = FileLock(str(crawl_lock_path(self.warehouse)))
        try:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                raise CrawlError(
                    f"another crawl of {self.warehouse} is running (lock {crawl_lock_path(self.warehouse)})"
                ) from None
            try:
                return self._run()
            finally:
                lock.release()
        finally:
            remove_log_redaction(redaction)

    def _run(self) -> CrawlResult:
        t0 = time.monotonic()
        try:
            self.client.server_time()  # learn the API's clock (free: no key sent)
        except YouTubeApiError as exc:
            raise CrawlError(f"cannot reach the YouTube API at {self.options.base_url}: {exc}") from None
        # Set by a finished call, a thread asking for a reservation or a refund: the writing
        # thread (this one) wakes up and commits.
        attention = threading.Event()
        with write_connection(self.warehouse) as con, transaction(con):
            ensure_schema(con)
            if self.options.fresh:
                for crawl_id in abandon_open_crawls(con, self.options.base_url):
                    log.info("abandoned unfinished crawl %s", crawl_id)
            load_id, video_ids = crawl_targets(con)
            plan = plan_crawl(con, self.options.base_url, load_id, video_ids, self.options.batch_size,
                              self.clock.now())
            spent = units_spent_since(con, ledger_window_start(self.clock.now()))
            gate = QuotaGate(self.options.daily_budget, self.clock, spent,
                             prefetch=self.options.concurrency if plan.remaining else 0, on_request=attention.set)
            first = gate.to_commit()  # the first reservations, before any call is sent
            first_units = record_quota(con, plan.crawl_id, first)
        gate.committed(first)
        log.info(
            "%s crawl %s: %d videos in %d batches, %d batches to go, %d quota units left today",
            "resuming" if plan.resumed else "starting", plan.crawl_id, plan.ids_requested,
            plan.batches_total, len(plan.remaining), gate.remaining_today(),
        )
        self.progress.start(plan.crawl_id, plan.ids_requested, plan.done_videos)
        totals = {"ok": 0, "not_found": 0, "units": first_units, "done": plan.batches_total - len(plan.remaining)}
        stop: BaseException | None = None
        interrupted = False
        pending: list[FinishedBatch] = []

        def flush() -> None:
            entries = gate.to_commit()
            if not pending and not entries:
                return
            with write_connection(self.warehouse) as con, transaction(con):
                commit_batches(con, plan.crawl_id, pending)
                units = record_quota(con, plan.crawl_id, entries)
            gate.committed(entries)
            totals["units"] += units
            for b in pending:
                totals["ok"] += len(b.page.found)
                totals["not_found"] += len(b.page.not_found)
                totals["done"] += 1
                self.progress.advance(len(b.page.found) + len(b.page.not_found))
            pending.clear()

        def collect(future: Future[_Outcome]) -> BaseException | None:
            outcome = future.result()
            if outcome.result is not None:
                pending.append(FinishedBatch(outcome.batch.batch_no, outcome.result.page,
                                             outcome.result.attempts, outcome.result.served_at))
            return outcome.error

        queue = list(plan.remaining)
        queue.reverse()  # pop() from the end = lowest batch first
        pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="videos-list")
        in_flight: set[Future[_Outcome]] = set()

        def refill() -> None:
            while queue and stop is None and len(in_flight) < self.options.concurrency:
                future = pool.submit(self._fetch, queue.pop(), gate)
                future.add_done_callback(lambda _f: attention.set())
                in_flight.add(future)

        try:
            try:
                while True:
                    refill()
                    if not in_flight:
                        break
                    attention.wait()
                    attention.clear()  # before looking: whatever happens from here on sets it again
                    done = {f for f in in_flight if f.done()}
                    in_flight -= done
                    for future in done:
                        error = collect(future)
                        if error is not None and (stop is None or _more_serious(error, stop)):
                            stop = error
                    if stop is not None:
                        queue.clear()  # let the calls in flight finish, start no new ones
                        gate.stop_prefetch()
                    # Refill before writing, so the calls run while this thread commits;
                    # whatever finishes meanwhile goes into the next commit.
                    refill()
                    flush()
            except KeyboardInterrupt:
                interrupted = True
                queue.clear()
                gate.close()  # threads waiting for a reservation give up; nothing new is sent
                for future in in_flight:
                    future.cancel()
                for future in in_flight:
                    if not future.cancelled():
                        collect(future)
        finally:
            gate.close()
            pool.shutdown(wait=True, cancel_futures=True)

        status, reason = "completed", None
        if interrupted:
            status, reason = "paused", "interrupted"
        elif isinstance(stop, BudgetExhausted):
            status, reason = "paused", "budget_exhausted"
        elif isinstance(stop, YouTubeApiError):
            status, reason = _STOP_REASONS.get(stop.kind, ("paused", stop.kind.value))
        elif stop is not None:
            status, reason = "failed", type(stop).__name__
        for b in pending:
            totals["ok"] += len(b.page.found)
            totals["not_found"] += len(b.page.not_found)
            totals["done"] += 1
        if status == "completed" and totals["done"] < plan.batches_total:
            status, reason = "paused", "incomplete"
        audit: Audit | None = None
        settle = gate.settle()  # unused reservations and refunds owed
        with write_connection(self.warehouse) as con, transaction(con):
            commit_batches(con, plan.crawl_id, pending)
            totals["units"] += record_quota(con, plan.crawl_id, settle)
            if status == "completed":
                audit = finish_crawl(con, plan.crawl_id, self.clock.now(), self.options.max_not_found_jump)
                if not audit.passed:
                    status, reason = "rejected", "audit_failed"
            else:
                close_run(con, plan.crawl_id, status, reason)
        message = self._message(plan.crawl_id, status, reason, stop, totals, plan, audit)
        self.progress.finish(message)
        result = CrawlResult(
            crawl_id=plan.crawl_id, status=status, stop_reason=reason, resumed=plan.resumed,
            ids_requested=plan.ids_requested, batches_total=plan.batches_total, batches_done=totals["done"],
            ids_ok=totals["ok"], ids_not_found=totals["not_found"], api_calls=totals["units"],
            quota_units=totals["units"], duration_s=time.monotonic() - t0, message=message,
            published=status == "completed", rejection_reason=audit.reason if audit else None,
        )
        if interrupted:
            raise KeyboardInterrupt
        if status in ("failed", "rejected"):
            raise CrawlError(message)
        return result

    def _fetch(self, batch: Batch, gate: QuotaGate) -> _Outcome:
        try:
            return _Outcome(batch, result=self.client.list_videos(batch.video_ids, before_attempt=gate.acquire))
        except YouTubeApiError as exc:
            if exc.kind in _UNCHARGED:
                gate.refund_last()
            return _Outcome(batch, error=exc)
        except (BudgetExhausted, GateClosed) as exc:
            return _Outcome(batch, error=exc)
        except Exception as exc:  # noqa: BLE001 - reported as the crawl's failure, key redacted
            return _Outcome(batch, error=RuntimeError(redact(f"{type(exc).__name__}: {exc}", [self._key])))

    def _message(self, crawl_id, status, reason, stop, totals, plan, audit: Audit | None = None) -> str:
        if status == "rejected" and audit is not None:
            return (
                f"crawl {crawl_id} rejected by its audit: {audit.reason}; its snapshots stay in "
                "raw.youtube_snapshots unpublished (raw.crawl_runs.rejection_reason), the previous "
                "crawls stay current, and the next crawl starts afresh"
            )
        head = (
            f"crawl {crawl_id} {status}"
            + (f" ({reason})" if reason else "")
            + f": {totals['done']}/{plan.batches_total} batches done; this run {totals['ok']} ok, "
            f"{totals['not_found']} not found, {totals['units']} quota units"
        )
        if status == "completed":
            head += "; audited and published"
        if stop is not None and status != "completed":
            head += f"; {redact(str(stop), [self._key])}"
        if status == "paused":
            head += "; run the crawl again to resume"
        return head


def _more_serious(new: BaseException | None, old: BaseException) -> bool:
    """Fatal errors (bad key) win over pauses (quota), which win over outages."""
    def rank(e: BaseException | None) -> int:
        if isinstance(e, YouTubeApiError):
            return {"failed": 3, "paused": 1}[_STOP_REASONS.get(e.kind, ("paused", ""))[0]] + (
                1 if e.kind is ErrorKind.QUOTA_EXCEEDED else 0)
        if isinstance(e, BudgetExhausted):
            return 2
        if isinstance(e, GateClosed):
            return 0
        return 3
    return rank(new) > rank(old)


def crawl(
    warehouse: Path | str | None,
    api_key: str,
    options: CrawlOptions,
    progress: CrawlProgress | None = None,
) -> CrawlResult:
    """Run (or resume) a crawl; see the module docstring."""
    return Crawler(warehouse, api_key, options, progress).run()
