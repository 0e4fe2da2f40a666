"""videos.list and channels.list over HTTP: up to 50 ids per call, retries with backoff,
key kept secret.

The client knows nothing about the warehouse or the crawl; it turns a list of ids into a
`VideosPage` (or a `ChannelsPage`) or raises a `YouTubeApiError` (see responses.py for
what each answer means). Both endpoints go through one request/retry path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ingestion.youtube.apiclock import ApiClock, parse_http_date
from ingestion.youtube.redaction import redact
from ingestion.youtube.responses import (
    ChannelsPage,
    ErrorKind,
    VideosPage,
    YouTubeApiError,
    classify_error,
    decode_body,
    parse_channels_page,
    parse_videos_page,
)

log = logging.getLogger(__name__)

MAX_IDS_PER_CALL = 50
PARTS = "snippet,statistics"
QUOTA_UNITS_PER_CALL = 1  # videos.list and channels.list cost 1 unit per call whatever the parts and ids


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures (5xx, rate limits, dropped connections) are retried."""

    max_attempts: int = 8
    initial_wait_s: float = 0.5
    max_wait_s: float = 60.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0


@dataclass(frozen=True)
class PageResult:
    page: VideosPage | ChannelsPage
    attempts: int
    served_at: datetime  # the API's time of the answer (Date header)


VideosResult = PageResult  # the name callers used before channels.list


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class YouTubeClient:
    """A videos.list / channels.list client. Safe to call from several threads at once."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        retry: RetryPolicy | None = None,
        clock: ApiClock | None = None,
        pool_size: int = 8,
    ):
        if not api_key:
            raise ValueError("a YouTube API key is required (set YOUTUBE_API_KEY)")
        self._key = api_key
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.clock = clock or ApiClock()
        self._pool_size = pool_size
        self._local = threading.local()

    def __repr__(self) -> str:  # never show the key
        return f"YouTubeClient(base_url={self.base_url!r})"

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # Retries are ours (tenacity, with the API's error classification), not urllib3's.
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def _get(self, path: str, params: dict[str, str]) -> requests.Response:
        timeout = (self.retry.connect_timeout_s, self.retry.read_timeout_s)
        failure: YouTubeApiError | None = None
        try:
            response = self._session().get(f"{self.base_url}/{path}", params=params, timeout=timeout)
            response.content  # read the whole body here, so a dropped connection is a transport error
        except requests.RequestException as exc:
            # Built outside the except block and raised without a cause: requests' messages
            # carry the full URL (with the key), and chained exceptions get printed too.
            failure = YouTubeApiError(
                ErrorKind.TRANSPORT, redact(f"YouTube API unreachable ({type(exc).__name__}: {exc})", [self._key])
            )
        if failure is not None:
            raise failure
        return response

    def _list_once(self, resource: str, ids: Sequence[str], parse) -> tuple[VideosPage | ChannelsPage, datetime]:
        response = self._get(resource, {"part": PARTS, "id": ",".join(ids), "key": self._key})
        served_at = self.clock.observe(parse_http_date(response.headers.get("Date")))
        body = decode_body(response.content)
        if response.status_code != 200:
            raise classify_error(response.status_code, body, _retry_after(response.headers.get("Retry-After")))
        return parse(body, ids), served_at

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_random_exponential(multiplier=self.retry.initial_wait_s, max=self.retry.max_wait_s)(state)
        exc = state.outcome.exception() if state.outcome else None
        hinted = getattr(exc, "retry_after_s", None) or 0.0
        return max(backoff, min(hinted, self.retry.max_wait_s))

    def _list(self, resource: str, ids: Sequence[str], parse,
              before_attempt: Callable[[], None] | None) -> PageResult:
        endpoint = f"{resource}.list"
        ids = list(dict.fromkeys(ids))
        if not ids:
            raise ValueError(f"{endpoint} needs at least one id")
        if len(ids) > MAX_IDS_PER_CALL:
            raise ValueError(f"{endpoint} takes at most {MAX_IDS_PER_CALL} ids per call, got {len(ids)}")
        attempts = 0

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception()
            log.info("retrying %s (attempt %d failed: %s)", endpoint, state.attempt_number, exc)

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, YouTubeApiError) and e.retryable),
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=self._wait,
            before_sleep=before_sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                if before_attempt is not None:
                    before_attempt()
                attempts += 1
                page, served_at = self._list_once(resource, ids, parse)
        return PageResult(page=page, attempts=attempts, served_at=served_at)

    def list_videos(
        self, ids: Sequence[str], before_attempt: Callable[[], None] | None = None
    ) -> PageResult:
        """One videos.list call for up to 50 ids, retried on transient failures.

        `before_attempt` runs before every HTTP attempt (the crawler reserves quota there;
        it may raise to stop). Raises YouTubeApiError for answers that are not retried or
        when the attempts are used up.
        """
        return self._list("videos", ids, parse_videos_page, before_attempt)

    def list_channels(
        self, ids: Sequence[str], before_attempt: Callable[[], None] | None = None
    ) -> PageResult:
        """One channels.list call (part=snippet,statistics) for up to 50 channel ids, 1 quota
        unit; retried and classified exactly like :meth:`list_videos`."""
        return self._list("channels", ids, parse_channels_page, before_attempt)

    def server_time(self) -> datetime:
        """The API's current time, from an unauthenticated request (no key, so no quota).

        Any answer carries a Date header; the body (a 403 for a missing key) is ignored.
        """
        response = self._get("videos", {"part": "id", "id": ""})
        served = parse_http_date(response.headers.get("Date"))
        return self.clock.observe(served)
