"""A crawl: snapshots of every distinct video of the latest Kaggle load, then of every
distinct channel of those videos, resumably.

A crawl has two phases run by one loop: the videos (videos.list over the frozen video
ids), then the channels (channels.list over the distinct channel ids of the crawl's
available video snapshots, frozen into raw.crawl_channel_targets once every video batch
is in). Threads send the calls (up to `concurrency` in flight); this thread alone writes
the warehouse, committing in one short transaction each time whatever has happened:
finished batches of either phase (snapshots, progress markers), quota reservations the
threads need before they send (see quota.py: a call is on the ledger before it leaves)
and refunds. Killing the process therefore loses only batches not yet committed, which a
resumed crawl re-requests, and never a call from the ledger; a crawl killed between its
last video batch and the freezing of its channels freezes them when resumed. A crawl
stops cleanly (status 'paused') when the daily budget or the API quota is spent, or when
the API keeps failing or answering malformed bodies after retries, in either phase; the
next invocation resumes it where it stopped. When the last batch of both phases is in,
the crawl is audited and published (or rejected) in the same transaction
(store.finish_crawl): downstream models only ever see whole, audited crawls, and the
channel snapshots become visible with their crawl.
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
from ingestion.youtube.client import MAX_IDS_PER_CALL, PageResult, RetryPolicy, YouTubeClient
from ingestion.youtube.progress import CrawlProgress, NoProgress
from ingestion.youtube.quota import BudgetExhausted, GateClosed, QuotaGate, ledger_window_start, units_spent_since
from ingestion.youtube.redaction import install_log_redaction, redact, remove_log_redaction
from ingestion.youtube.responses import ErrorKind, YouTubeApiError
from ingestion.youtube.store import (
    CHANNELS,
    VIDEOS,
    Audit,
    Batch,
    FinishedBatch,
    PhasePlan,
    abandon_open_crawls,
    close_run,
    commit_batches,
    finish_crawl,
    plan_channels,
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
    batches_done: int          # video batches, over the whole crawl, all invocations
    ids_ok: int                # videos, this invocation
    ids_not_found: int         # videos, this invocation
    api_calls: int             # this invocation's net ledger entries (calls the API may have charged), both phases
    quota_units: int           # this invocation
    duration_s: float
    message: str
    published: bool = False    # the crawl passed its audit and is visible downstream
    rejection_reason: str | None = None
    # The channel phase (channels.list over the distinct channels of the crawl's available
    # videos); requested/total are None until every video batch is in.
    channels_requested: int | None = None
    channel_batches_total: int | None = None
    channel_batches_done: int = 0     # over the whole crawl, all invocations
    channels_ok: int = 0              # this invocation
    channels_not_found: int = 0       # this invocation

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
    result: PageResult | None = None
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
            # None until every video batch is in; a resumed crawl whose videos are done
            # goes on with its channels (frozen now if a kill came before they were).
            channels = plan_channels(con, plan.crawl_id, self.options.batch_size)
            work = plan.remaining + (channels.remaining if channels else ())
            spent = units_spent_since(con, ledger_window_start(self.clock.now()))
            gate = QuotaGate(self.options.daily_budget, self.clock, spent,
                             prefetch=self.options.concurrency if work else 0, on_request=attention.set)
            first = gate.to_commit()  # the first reservations, before any call is sent
            first_units = record_quota(con, plan.crawl_id, first)
        gate.committed(first)
        log.info(
            "%s crawl %s: %d videos in %d batches, %d batches to go%s, %d quota units left today",
            "resuming" if plan.resumed else "starting", plan.crawl_id, plan.ids_requested,
            plan.batches_total, len(plan.remaining),
            f"; {channels.requested} channels in {channels.batches_total} batches, {len(channels.remaining)} to go"
            if channels else "", gate.remaining_today(),
        )
        phases: dict[str, PhasePlan | None] = {VIDEOS.name: plan.videos, CHANNELS.name: channels}
        current = channels if channels is not None and not plan.remaining else plan.videos
        self.progress.start(plan.crawl_id, current.requested, current.done_ids, current.phase.name)
        totals = {"units": first_units}
        # Per phase: this invocation's ok / not found, and batches done over the whole crawl.
        counts = {name: {"ok": 0, "not_found": 0, "done": p.batches_done if p else 0} for name, p in phases.items()}
        stop: BaseException | None = None
        interrupted = False
        pending: list[FinishedBatch] = []

        def tally(batches: list[FinishedBatch], advance: bool) -> None:
            for b in batches:
                c = counts[b.phase.name]
                c["ok"] += len(b.page.found)
                c["not_found"] += len(b.page.not_found)
                c["done"] += 1
                if advance:
                    self.progress.advance(len(b.page.found) + len(b.page.not_found))

        def flush() -> None:
            entries = gate.to_commit()
            if not pending and not entries:
                return
            with write_connection(self.warehouse) as con, transaction(con):
                commit_batches(con, plan.crawl_id, pending)
                units = record_quota(con, plan.crawl_id, entries)
            gate.committed(entries)
            totals["units"] += units
            tally(pending, advance=True)
            pending.clear()

        def start_channels() -> PhasePlan | None:
            """Every video batch is in: freeze the channel phase (or find it frozen)."""
            with write_connection(self.warehouse) as con, transaction(con):
                frozen = plan_channels(con, plan.crawl_id, self.options.batch_size)
            if frozen is not None:
                phases[CHANNELS.name] = frozen
                counts[CHANNELS.name]["done"] = frozen.batches_done
                log.info("crawl %s: videos done; %d channels in %d batches", plan.crawl_id, frozen.requested,
                         frozen.batches_total)
                self.progress.start(plan.crawl_id, frozen.requested, frozen.done_ids, CHANNELS.name)
            return frozen

        def collect(future: Future[_Outcome]) -> BaseException | None:
            outcome = future.result()
            if outcome.result is not None:
                pending.append(FinishedBatch(outcome.batch.batch_no, outcome.result.page, outcome.result.attempts,
                                             outcome.result.served_at, outcome.batch.phase))
            return outcome.error

        # One queue, one loop for both phases: the channel batches join it once the video
        # batches are all committed (their snapshots say which channels to fetch).
        queue = list(work)
        queue.reverse()  # pop() from the end = lowest batch first
        pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="youtube-list")
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
                        if stop is None and phases[CHANNELS.name] is None:
                            frozen = start_channels()
                            if frozen is not None and frozen.remaining:
                                queue = list(reversed(frozen.remaining))
                                continue
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
        tally(pending, advance=False)
        channel_plan = phases[CHANNELS.name]
        if status == "completed" and (
            counts[VIDEOS.name]["done"] < plan.batches_total
            or channel_plan is None
            or counts[CHANNELS.name]["done"] < channel_plan.batches_total
        ):
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
        videos, chans = counts[VIDEOS.name], counts[CHANNELS.name]
        message = self._message(plan.crawl_id, status, reason, stop, totals, counts, plan, channel_plan, audit)
        self.progress.finish(message)
        result = CrawlResult(
            crawl_id=plan.crawl_id, status=status, stop_reason=reason, resumed=plan.resumed,
            ids_requested=plan.ids_requested, batches_total=plan.batches_total, batches_done=videos["done"],
            ids_ok=videos["ok"], ids_not_found=videos["not_found"], api_calls=totals["units"],
            quota_units=totals["units"], duration_s=time.monotonic() - t0, message=message,
            published=status == "completed", rejection_reason=audit.reason if audit else None,
            channels_requested=channel_plan.requested if channel_plan else None,
            channel_batches_total=channel_plan.batches_total if channel_plan else None,
            channel_batches_done=chans["done"], channels_ok=chans["ok"], channels_not_found=chans["not_found"],
        )
        if interrupted:
            raise KeyboardInterrupt
        if status in ("failed", "rejected"):
            raise CrawlError(message)
        return result

    def _fetch(self, batch: Batch, gate: QuotaGate) -> _Outcome:
        call = self.client.list_channels if batch.phase is CHANNELS else self.client.list_videos
        try:
            return _Outcome(batch, result=call(batch.ids, before_attempt=gate.acquire))
        except YouTubeApiError as exc:
            if exc.kind in _UNCHARGED:
                gate.refund_last()
            return _Outcome(batch, error=exc)
        except (BudgetExhausted, GateClosed) as exc:
            return _Outcome(batch, error=exc)
        except Exception as exc:  # noqa: BLE001 - reported as the crawl's failure, key redacted
            return _Outcome(batch, error=RuntimeError(redact(f"{type(exc).__name__}: {exc}", [self._key])))

    def _message(self, crawl_id, status, reason, stop, totals, counts, plan, channel_plan,
                 audit: Audit | None = None) -> str:
        if status == "rejected" and audit is not None:
            return (
                f"crawl {crawl_id} rejected by its audit: {audit.reason}; its snapshots stay in "
                "raw.youtube_snapshots and raw.channel_snapshots unpublished (raw.crawl_runs.rejection_reason), "
                "the previous crawls stay current, and the next crawl starts afresh"
            )
        videos, chans = counts[VIDEOS.name], counts[CHANNELS.name]
        channel_part = (f"channels {chans['done']}/{channel_plan.batches_total} batches"
                        if channel_plan is not None else "channels not started (after the videos)")
        head = (
            f"crawl {crawl_id} {status}"
            + (f" ({reason})" if reason else "")
            + f": videos {videos['done']}/{plan.batches_total} batches, {channel_part} done; "
            f"this run {videos['ok']} ok, {videos['not_found']} not found videos, "
            f"{chans['ok']} ok, {chans['not_found']} not found channels, {totals['units']} quota units"
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
