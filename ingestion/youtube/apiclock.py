"""The API's time: observed-at timestamps and the Pacific quota day.

Snapshots are stamped with the server's `Date` header (when the API served the counts),
and the quota day is the API's day (it resets at midnight America/Los_Angeles). The
clock keeps the offset between the server and this machine, so it also answers "what
time is it at the API now" before a request is sent.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

API_TIMEZONE = ZoneInfo("America/Los_Angeles")


def api_day(moment: datetime) -> date:
    """The quota day a moment belongs to (midnight to midnight Pacific, DST-aware)."""
    if moment.tzinfo is None:
        raise ValueError("api_day needs a timezone-aware datetime")
    return moment.astimezone(API_TIMEZONE).date()


def parse_http_date(value: str | None) -> datetime | None:
    """An RFC 7231 Date header as an aware UTC datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class ApiClock:
    """This machine's clock corrected by the last seen server Date header (thread-safe)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._synced = False
        self._lock = threading.Lock()

    @staticmethod
    def _local_now() -> datetime:
        return datetime.now(UTC)

    @property
    def synced(self) -> bool:
        return self._synced

    def observe(self, server_time: datetime | None) -> datetime:
        """Record a server time (from a Date header) and return the best time of it."""
        local = self._local_now()
        if server_time is None:
            return local + self._offset
        with self._lock:
            self._offset = server_time - local
            self._synced = True
        return server_time

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset
        return self._local_now() + offset
