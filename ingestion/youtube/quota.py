"""The daily quota budget and the quota ledger: a call is on the ledger before it is sent.

The API charges a videos.list or channels.list call when it receives it, so the ledger
(raw.quota_ledger) must hold a call before the request leaves: otherwise a process
killed between sending and committing would have spent quota that no table shows.
`QuotaGate` therefore hands out *reservations* that are already committed:

- the crawler's writing thread commits reservations (ledger entry 'reserved', +units)
  for the current API day: a few ahead (`prefetch`, so calls rarely wait) and any a
  network thread asks for;
- a network thread takes one committed reservation before every HTTP attempt (retries
  included), waiting for the next commit when none is left, or raising BudgetExhausted
  when the day's budget (all crawls' ledger entries, reservations included) is spent;
- answers the API does not charge (quotaExceeded, an invalid key, forbidden) are given
  back at the next commit (entry 'refunded', -units), and reservations never used are
  given back when the crawl stops (entry 'released', -units).

The ledger's sum is thus never below the calls the API served, whenever the process
dies; a kill can leave at most the unused reservations over (prefetch plus one per
thread) and the refunds not yet committed. A crawl that ends normally leaves the exact
count of charged calls.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta

import duckdb

from ingestion.youtube.apiclock import ApiClock, api_day
from ingestion.youtube.client import QUOTA_UNITS_PER_CALL

#: raw.quota_ledger.entry values.
RESERVED, REFUNDED, RELEASED = "reserved", "refunded", "released"


class BudgetExhausted(RuntimeError):
    """This API day's budget is spent; the crawl pauses and resumes on a later day."""

    def __init__(self, day: date, budget: int, used: int):
        super().__init__(
            f"daily quota budget reached: {used} of {budget} units used on API day {day} "
            "(resets at midnight America/Los_Angeles; raise TUNEHOUSE_CRAWL_DAILY_BUDGET to allow more)"
        )
        self.day = day
        self.budget = budget
        self.used = used


class GateClosed(RuntimeError):
    """The crawl is stopping: no reservation will be committed for this call, so it is not sent."""


def units_spent_since(con: duckdb.DuckDBPyConnection, first_day: date) -> dict[date, int]:
    """Quota units in the ledger per API day, from `first_day` on (all crawls, all entries)."""
    rows = con.execute(
        "SELECT api_day, sum(quota_units) FROM raw.quota_ledger WHERE api_day >= ? GROUP BY api_day",
        [first_day],
    ).fetchall()
    return {day: int(units) for day, units in rows}


LedgerEntries = list[tuple[date, str, int]]  # (api day, entry, units: + reserved, - refunded/released)


class QuotaGate:
    """Committed reservations, one per HTTP attempt; thread-safe.

    Network threads call `acquire` (before each attempt) and `refund_last`; the writing
    thread calls `to_commit` before each commit and `committed` after it, `close` when
    the crawl stops and `settle` once no call is in flight.
    """

    def __init__(self, budget: int, clock: ApiClock, already_spent: dict[date, int] | None = None,
                 prefetch: int = 1, on_request: Callable[[], None] | None = None):
        if budget < 1:
            raise ValueError(f"daily budget must be at least 1 unit, got {budget}")
        self.budget = budget
        self.clock = clock
        self.prefetch = max(0, prefetch)
        self._on_request = on_request or (lambda: None)
        self._ledger: Counter[date] = Counter(already_spent or {})  # committed, all crawls
        self._asked: Counter[date] = Counter()      # reservations wanted, not committed yet
        self._committing: Counter[date] = Counter()  # handed to the writer, commit in progress
        self._free: Counter[date] = Counter()       # committed, not used by an attempt yet
        self._refunds: Counter[date] = Counter()    # used, not charged by the API, not committed yet
        self._waiting: Counter[date] = Counter()    # threads waiting for a reservation
        self._cond = threading.Condition()
        self._closed = False
        self._prefetching = True
        self._last_day = threading.local()  # the day of this thread's latest reservation

    def _planned(self, day: date) -> int:
        """Units of `day` on the ledger or on their way there, less refunds owed."""
        return self._ledger[day] + self._asked[day] + self._committing[day] - self._refunds[day]

    def acquire(self) -> None:
        """Take a committed reservation for the current API day (blocks until one is committed)."""
        day = api_day(self.clock.now())
        with self._cond:
            self._waiting[day] += 1
            try:
                while True:
                    if self._closed:
                        raise GateClosed("the crawl is stopping; call not sent")
                    if self._free[day] > 0:
                        self._free[day] -= QUOTA_UNITS_PER_CALL
                        break
                    # Every waiting thread needs one unit on its way to the ledger; checked on
                    # every wake-up, since a thread that did not wait may take a unit first.
                    if self._asked[day] + self._committing[day] < self._waiting[day]:
                        if self._planned(day) + QUOTA_UNITS_PER_CALL > self.budget:
                            raise BudgetExhausted(day, self.budget, self._planned(day))
                        self._asked[day] += QUOTA_UNITS_PER_CALL
                        self._on_request()
                    self._cond.wait()
            finally:
                self._waiting[day] -= 1
        self._last_day.value = day

    def refund_last(self) -> None:
        """Give back this thread's latest reservation: the API refused the call without
        charging it (quotaExceeded, an invalid key). Committed with the next commit."""
        day = getattr(self._last_day, "value", None)
        if day is None:
            return
        self._last_day.value = None
        with self._cond:
            self._refunds[day] += QUOTA_UNITS_PER_CALL
        self._on_request()

    def stop_prefetch(self) -> None:
        """Reserve only what threads ask for from now on (the crawl is winding down)."""
        with self._cond:
            self._prefetching = False

    def to_commit(self) -> LedgerEntries:
        """Ledger entries for the next commit: the reservations asked for, today's prefetch
        top-up (within the budget) and the refunds owed. Pass them to `committed` after
        the commit."""
        today = api_day(self.clock.now())
        with self._cond:
            if self._closed:
                return []
            if self._prefetching:
                ahead = self._free[today] + self._asked[today] + self._committing[today] - self._waiting[today]
                room = self.budget - self._planned(today)
                self._asked[today] += max(0, min(self.prefetch - ahead, room))
            entries: LedgerEntries = []
            for day, units in sorted(self._asked.items()):
                if units:
                    entries.append((day, RESERVED, units))
                    self._committing[day] += units
            for day, units in sorted(self._refunds.items()):
                if units:
                    entries.append((day, REFUNDED, -units))
            self._asked.clear()
            return entries

    def committed(self, entries: LedgerEntries) -> None:
        """The entries from `to_commit` are in the warehouse: hand out the reservations."""
        with self._cond:
            for day, kind, units in entries:
                self._ledger[day] += units
                if kind == RESERVED:
                    self._committing[day] -= units
                    self._free[day] += units
                elif kind == REFUNDED:
                    self._refunds[day] += units  # units < 0
            self._cond.notify_all()

    def close(self) -> None:
        """Stop handing out reservations: waiting threads get GateClosed, nothing new is sent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def settle(self) -> LedgerEntries:
        """Close, and return the entries that settle the ledger once no call is in flight:
        unused reservations released, refunds owed."""
        self.close()
        with self._cond:
            entries: LedgerEntries = []
            for day, units in sorted(self._free.items()):
                if units:
                    entries.append((day, RELEASED, -units))
            for day, units in sorted(self._refunds.items()):
                if units:
                    entries.append((day, REFUNDED, -units))
            self._free.clear()
            self._refunds.clear()
            self._asked.clear()
            return entries

    def remaining_today(self) -> int:
        day = api_day(self.clock.now())
        with self._cond:
            return max(0, self.budget - self._planned(day))


def ledger_window_start(now: datetime) -> date:
    """The earliest API day a crawl starting `now` can still spend on (yesterday, for safety)."""
    return api_day(now) - timedelta(days=1)
