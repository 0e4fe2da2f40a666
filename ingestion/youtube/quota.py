"""The daily quota budget: what a crawl may still spend on the current API day.

Units already spent come from raw.quota_ledger (all crawls); the gate adds every HTTP
attempt of this invocation (retries included, because the API charges them too) and
refuses the attempt that would go over the budget. What the gate lets through is
drained into ledger rows whenever the crawler commits.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date, datetime, timedelta

import duckdb

from ingestion.youtube.apiclock import ApiClock, api_day
from ingestion.youtube.client import QUOTA_UNITS_PER_CALL


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


def units_spent_since(con: duckdb.DuckDBPyConnection, first_day: date) -> dict[date, int]:
    """Quota units in the ledger per API day, from `first_day` on (all crawls)."""
    rows = con.execute(
        "SELECT api_day, sum(quota_units) FROM raw.quota_ledger WHERE api_day >= ? GROUP BY api_day",
        [first_day],
    ).fetchall()
    return {day: int(units) for day, units in rows}


class QuotaGate:
    """Reserves one call's units before each HTTP attempt; thread-safe."""

    def __init__(self, budget: int, clock: ApiClock, already_spent: dict[date, int] | None = None):
        if budget < 1:
            raise ValueError(f"daily budget must be at least 1 unit, got {budget}")
        self.budget = budget
        self.clock = clock
        self._spent: Counter[date] = Counter(already_spent or {})
        self._undrained: Counter[date] = Counter()
        self._lock = threading.Lock()
        self._last_day = threading.local()  # the day of this thread's latest reservation

    def acquire(self) -> None:
        day = api_day(self.clock.now())
        with self._lock:
            if self._spent[day] + QUOTA_UNITS_PER_CALL > self.budget:
                raise BudgetExhausted(day, self.budget, self._spent[day])
            self._spent[day] += QUOTA_UNITS_PER_CALL
            self._undrained[day] += QUOTA_UNITS_PER_CALL
        self._last_day.value = day

    def refund_last(self) -> None:
        """Give back this thread's latest reservation: the API refused the call without
        charging it (quotaExceeded, an invalid key)."""
        day = getattr(self._last_day, "value", None)
        if day is None:
            return
        self._last_day.value = None
        with self._lock:
            self._spent[day] -= QUOTA_UNITS_PER_CALL
            self._undrained[day] -= QUOTA_UNITS_PER_CALL

    def remaining_today(self) -> int:
        day = api_day(self.clock.now())
        with self._lock:
            return max(0, self.budget - self._spent[day])

    def drain(self) -> dict[date, int]:
        """Units let through since the last drain, per API day (for the ledger)."""
        with self._lock:
            drained = {d: u for d, u in self._undrained.items() if u}
            self._undrained.clear()
        return drained


def ledger_window_start(now: datetime) -> date:
    """The earliest API day a crawl starting `now` can still spend on (yesterday, for safety)."""
    return api_day(now) - timedelta(days=1)
