"""The emulator's HTTP side: GET /youtube/v3/videos and /channels as the real API answers them.

- Shape: kind, etag, pageInfo, items[{kind, etag, id, snippet, statistics}], counts as
  strings, likeCount/commentCount left out when hidden; only the requested parts.
  channels.list: snippet as the real body (title, description, customUrl, publishedAt,
  thumbnails, localized, country), statistics with string viewCount / subscriberCount /
  videoCount and a boolean hiddenSubscriberCount (subscriberCount left out when hidden).
  Both endpoints share keys, quota, faults and time below.
- Keys: no key -> 403 (free, like the real API: no project to charge); an unknown key ->
  400 with today's API_KEY_INVALID body.
- Quota: every keyed request costs 1 unit of the emulated Pacific day; past the daily
  limit -> 403 quotaExceeded (not charged).
- Faults: 5xx backendError, 403/429 rate limits, dropped connections (closed without an
  answer), and malformed 200 answers (JSON cut short, no `items`, `items: null`, a
  negative count) at configured rates, plus latency per request and slow answers (a share
  of charged requests answered after `slow_s`). Whether a request fails is decided
  by a hash of (seed, the time it is served at, its ids, how many times this day the same
  ids were asked before), never by a generator shared across threads, so a crawl sees the
  same failures whatever order its concurrent requests arrive in. GET stats counts the
  charged calls per endpoint (`calls`).
- Time: the emulated clock stands still unless moved through the admin endpoints under
  /_emulator/ (GET/POST clock: {"advance_days": 1} or {"now": ISO}); POST faults, POST
  quota ({"daily_limit": n}), GET stats. A videos.list request is served at the clock plus
  one second per 50 catalogue videos before its first id (`served_at`): a crawl in id
  order appears to take one emulated second per batch, and the moment each video is
  observed at (the Date header, the counts) depends on the clock and the request only,
  not on the wall clock or the order of concurrent requests. A channels.list request is
  served after the whole catalogue's videos (as a crawl asks for the channels after the
  videos): one more second per 50 channels (in channel id order) before its first id.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import socket
import threading
import time
from collections.abc import Sequence
from collections import Counter
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ingestion.youtube.apiclock import api_day
from ingestion.youtube.emulator.universe import KAGGLE_OBSERVED_AT, ChannelState, VideoState, VideoUniverse
from ingestion.youtube.redaction import redact

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "emulator-key"
API_PREFIX = "/youtube/v3"
ADMIN_PREFIX = "/_emulator"
KNOWN_PARTS = {"id", "snippet", "statistics", "contentDetails", "status", "localizations",
               "player", "recordingDetails", "topicDetails", "liveStreamingDetails", "paidProductPlacementDetails"}
KNOWN_CHANNEL_PARTS = {"id", "snippet", "statistics", "contentDetails", "status", "localizations", "topicDetails",
                       "brandingSettings", "auditDetails", "contentOwnerDetails"}
#: The list endpoints served: resource -> (response kind, the parts it knows).
RESOURCES = {
    "videos": ("youtube#videoListResponse", KNOWN_PARTS),
    "channels": ("youtube#channelListResponse", KNOWN_CHANNEL_PARTS),
}
MAX_IDS = 50

_QUOTA_MESSAGE = (
    'The request cannot be completed because you have exceeded your '
    '<a href="/youtube/v3/getting-started#quota">quota</a>.'
)


def _google_error(code: int, message: str, reason: str, domain: str, status: str | None = None,
                  details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
    }
    if status:
        error["status"] = status
    if details:
        error["details"] = details
    return {"error": error}


def quota_exceeded_body() -> dict[str, Any]:
    return _google_error(403, _QUOTA_MESSAGE, "quotaExceeded", "youtube.quota")


def key_invalid_body() -> dict[str, Any]:
    message = "API key not valid. Please pass a valid API key."
    return _google_error(
        400, message, "badRequest", "global", "INVALID_ARGUMENT",
        [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
          "domain": "googleapis.com", "metadata": {"service": "youtube.googleapis.com"}}],
    )


def missing_key_body() -> dict[str, Any]:
    message = (
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API."
    )
    return _google_error(403, message, "forbidden", "global", "PERMISSION_DENIED")


def rate_limited_body(status: int) -> dict[str, Any]:
    if status == 429:
        return _google_error(429, "Too many requests.", "userRateLimitExceeded", "usageLimits", "RESOURCE_EXHAUSTED")
    return _google_error(403, "Rate Limit Exceeded", "rateLimitExceeded", "usageLimits")


def server_error_body(status: int) -> dict[str, Any]:
    if status == 503:
        return _google_error(503, "The service is currently unavailable.", "backendError", "global", "UNAVAILABLE")
    return _google_error(500, "Internal error encountered.", "backendError", "global", "INTERNAL")


def _etag(*parts: object) -> str:
    digest = hashlib.sha1("|".join(map(str, parts)).encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:27]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def video_item(state: VideoState, parts: set[str]) -> dict[str, Any]:
    """A videos.list item with the requested parts (counts are strings, as the API sends)."""
    item: dict[str, Any] = {"kind": "youtube#video", "etag": _etag(state), "id": state.video_id}
    if "snippet" in parts:
        vid = state.video_id
        item["snippet"] = {
            "publishedAt": _iso(state.published_at),
            "channelId": state.channel_id,
            "title": state.title,
            "description": "",
            "thumbnails": {
                name: {"url": f"https://i.ytimg.com/vi/{vid}/{file}.jpg", "width": w, "height": h}
                for name, file, w, h in (
                    ("default", "default", 120, 90), ("medium", "mqdefault", 320, 180),
                    ("high", "hqdefault", 480, 360),
                )
            },
            "channelTitle": state.channel_title,
            "categoryId": "10",
            "liveBroadcastContent": "none",
            "localized": {"title": state.title, "description": ""},
        }
    if "statistics" in parts:
        stats = {"viewCount": str(state.view_count)}
        if state.like_count is not None:
            stats["likeCount"] = str(state.like_count)
        stats["favoriteCount"] = "0"
        if state.comment_count is not None:
            stats["commentCount"] = str(state.comment_count)
        item["statistics"] = stats
    return item


def channel_item(state: ChannelState, parts: set[str]) -> dict[str, Any]:
    """A channels.list item with the requested parts (counts are strings, the flag a boolean)."""
    item: dict[str, Any] = {"kind": "youtube#channel", "etag": _etag(state), "id": state.channel_id}
    if "snippet" in parts:
        thumbs = f"https://yt3.ggpht.com/{state.channel_id[2:]}"
        snippet: dict[str, Any] = {
            "title": state.title,
            "description": "",
            "customUrl": state.custom_url,
            "publishedAt": _iso(state.published_at),
            "thumbnails": {
                name: {"url": f"{thumbs}=s{size}-c-k-c0x00ffffff-no-rj", "width": size, "height": size}
                for name, size in (("default", 88), ("medium", 240), ("high", 800))
            },
            "localized": {"title": state.title, "description": ""},
        }
        if state.country is not None:
            snippet["country"] = state.country
        item["snippet"] = snippet
    if "statistics" in parts:
        stats: dict[str, Any] = {"viewCount": str(state.view_count)}
        if state.subscriber_count is not None:
            stats["subscriberCount"] = str(state.subscriber_count)
        stats["hiddenSubscriberCount"] = state.hidden_subscriber_count
        stats["videoCount"] = str(state.video_count)
        item["statistics"] = stats
    return item


#: The exclusive failure shares, in the order a request's roll is compared with them.
FAILURE_RATES = ("drop_rate", "server_error_rate", "rate_limit_rate", "truncated_rate", "missing_items_rate",
                 "null_items_rate", "bad_count_rate")


@dataclass
class Faults:
    """Injected failures, as shares of keyed requests, plus latency per request.

    The failure shares are exclusive (drop, 5xx, rate limit, then the malformed 200s) and
    must sum to at most 1; `slow_rate` is drawn separately (a slow answer may also fail).
    """

    server_error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    drop_rate: float = 0.0
    latency_s: float = 0.0
    truncated_rate: float = 0.0      # 200 with the JSON body cut in half
    missing_items_rate: float = 0.0  # 200 without `items`
    null_items_rate: float = 0.0     # 200 with `items: null`
    bad_count_rate: float = 0.0      # 200 whose first item has viewCount "-1"
    slow_rate: float = 0.0           # answered after slow_s more seconds
    slow_s: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value < 0 or (f.name.endswith("_rate") and value > 1):
                raise ValueError(f"emulator fault {f.name}={value} is out of range")
        if sum(getattr(self, name) for name in FAILURE_RATES) > 1 + 1e-9:
            raise ValueError(f"emulator faults {', '.join(FAILURE_RATES)} add up to more than 1")


# Emulated seconds a crawl takes per batch of MAX_IDS catalogue videos (see served_at).
SECONDS_PER_BATCH = 1


class EmulatorState:
    """Clock, quota, faults and counters, shared by the request threads."""

    def __init__(self, universe: VideoUniverse, api_keys: set[str], daily_quota: int, faults: Faults,
                 start: datetime, seed: int):
        self.universe = universe
        self.api_keys = api_keys
        self.daily_quota = daily_quota
        self.faults = faults
        # Whole seconds, like the Date header: the counts served are those at the header's time.
        self._now = start.replace(microsecond=0)
        self._seed = seed
        self._lock = threading.Lock()
        # (api day, ids) -> charged requests so far: the attempt number of a retried batch.
        self._attempts: Counter[tuple[str, str]] = Counter()
        self.quota_used: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()  # charged calls per endpoint (videos, channels)
        self.responses: Counter[str] = Counter()
        self.received = 0  # keyed list requests (videos, channels) that arrived (charged or not)
        self.active = 0    # keyed list requests being answered right now

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def move_clock(self, *, advance: timedelta | None = None, to: datetime | None = None) -> datetime:
        with self._lock:
            moved = self._now
            if advance is not None:
                if advance < timedelta(0):
                    raise ValueError("the emulated clock only moves forward")
                moved += advance
            if to is not None:
                if to.tzinfo is None:
                    raise ValueError("the emulated clock needs a time with its UTC offset")
                if to < moved:
                    raise ValueError("the emulated clock only moves forward")
                moved = to
            self._now = moved.astimezone(UTC).replace(microsecond=0)
            # Attempt counts of days that are over are never needed again.
            today = api_day(self._now).isoformat()
            for key in [k for k in self._attempts if k[0] < today]:
                del self._attempts[key]
            return self._now

    def served_at(self, ids: Sequence[str], resource: str = "videos") -> datetime:
        """When a list call for `ids` is answered: the clock plus one second per batch of
        catalogue videos before its first known id (ids the universe lacks add nothing); a
        channels.list call comes after every video batch, plus one second per batch of
        channels before its first known id."""
        if resource == "channels":
            positions = [p for p in map(self.universe.channel_position, ids) if p is not None]
            tick = -(-len(self.universe) // MAX_IDS) + (min(positions) // MAX_IDS if positions else 0)
        else:
            positions = [p for p in map(self.universe.position, ids) if p is not None]
            tick = min(positions) // MAX_IDS if positions else 0
        return self.now() + timedelta(seconds=tick * SECONDS_PER_BATCH)

    def rolls(self, served_at: datetime, ids: Sequence[str], resource: str = "videos") -> tuple[float, float, float]:
        """Three uniform numbers in [0, 1) that decide this request's fault: the first whether
        it fails, the second which status, the third whether it is slow. The same ids asked again the same API day (a
        retry) count as the next attempt, so a retry is a fresh draw but the n-th attempt at
        a batch always draws the same, whichever thread sends it and when."""
        requested = ",".join(ids) if resource == "videos" else f"{resource}:{','.join(ids)}"
        with self._lock:
            key = (api_day(served_at).isoformat(), hashlib.sha256(requested.encode("utf-8")).hexdigest())
            attempt = self._attempts[key]
            self._attempts[key] += 1
        digest = hashlib.sha256(f"{self._seed}|{_iso(served_at)}|{requested}|{attempt}".encode("utf-8")).digest()
        return tuple(int.from_bytes(digest[i:i + 8], "big") / 2**64 for i in (0, 8, 16))  # type: ignore[return-value]

    def charge(self, day: str, resource: str = "videos") -> bool:
        """Spend one unit of `day`; False (nothing spent) when the day's quota is used up."""
        with self._lock:
            if self.quota_used[day] >= self.daily_quota:
                return False
            self.quota_used[day] += 1
            self.calls[resource] += 1
            return True

    def count(self, outcome: str) -> None:
        with self._lock:
            self.responses[outcome] += 1

    def arriving(self, delta: int) -> None:
        """A keyed request arrives (+1) or is done with (-1)."""
        with self._lock:
            if delta > 0:
                self.received += delta
            self.active += delta

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "now": _iso(self._now),
                "daily_quota": self.daily_quota,
                "quota_used": dict(self.quota_used),
                "calls": dict(self.calls),
                "responses": dict(self.responses),
                "received": self.received,
                "active": self.active,
                "faults": asdict(self.faults),
                "videos": len(self.universe),
                "channels": len(self.universe.channel_ids),
            }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # When the answer being sent is served (a list call sets it); None = the clock.
    _served_at: datetime | None = None

    def date_time_string(self, timestamp: float | None = None) -> str:
        return format_datetime(self._served_at or self.server.state.now(), usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("emulator %s", redact(format % args))

    def _send_json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
                   truncate: bool = False) -> None:
        payload = json.dumps(body).encode("utf-8")
        if truncate:  # a body cut short, with a Content-Length that matches what is sent
            payload = payload[: len(payload) // 2]
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._served_at = None  # one handler answers every request of a keep-alive connection
        url = urlsplit(self.path)
        resource = url.path.rstrip("/").removeprefix(f"{API_PREFIX}/")
        if url.path.startswith(f"{API_PREFIX}/") and resource in RESOURCES:
            self._list(parse_qs(url.query, keep_blank_values=True), resource)
        elif url.path == f"{ADMIN_PREFIX}/clock":
            now = self.server.state.now()
            self._send_json(200, {"now": _iso(now), "api_day": api_day(now).isoformat()})
        elif url.path == f"{ADMIN_PREFIX}/stats":
            self._send_json(200, self.server.state.stats())
        else:
            self._send_json(404, _google_error(404, "Not Found", "notFound", "global", "NOT_FOUND"))

    def do_POST(self) -> None:  # noqa: N802
        self._served_at = None
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            state = self.server.state
            if url.path == f"{ADMIN_PREFIX}/clock":
                now = state.move_clock(
                    advance=timedelta(days=float(body["advance_days"])) if "advance_days" in body else None,
                    to=datetime.fromisoformat(body["now"]) if "now" in body else None,
                )
                self._send_json(200, {"now": _iso(now), "api_day": api_day(now).isoformat()})
            elif url.path == f"{ADMIN_PREFIX}/faults":
                state.faults = Faults(**{**asdict(state.faults), **body})
                self._send_json(200, asdict(state.faults))
            elif url.path == f"{ADMIN_PREFIX}/quota":
                state.daily_quota = int(body["daily_limit"])
                self._send_json(200, {"daily_quota": state.daily_quota})
            else:
                self._send_json(404, _google_error(404, "Not Found", "notFound", "global", "NOT_FOUND"))
        except (ValueError, KeyError, TypeError) as exc:
            self._send_json(400, _google_error(400, f"bad admin request: {exc}", "badRequest", "global"))

    def _list(self, query: dict[str, list[str]], resource: str) -> None:
        keyed = bool((query.get("key") or [""])[0])
        if not keyed:
            self._answer_list(query, resource)
            return
        self.server.state.arriving(+1)
        try:
            self._answer_list(query, resource)
        finally:
            self.server.state.arriving(-1)

    def _answer_list(self, query: dict[str, list[str]], resource: str) -> None:
        state = self.server.state
        faults = state.faults
        if faults.latency_s:
            time.sleep(faults.latency_s)
        key = (query.get("key") or [""])[0]
        if not key:
            state.count("403 forbidden")
            self._send_json(403, missing_key_body())
            return
        if key not in state.api_keys:
            state.count("400 API_KEY_INVALID")
            self._send_json(400, key_invalid_body())
            return
        ids = [v for v in ",".join(query.get("id") or []).split(",") if v]
        now = self._served_at = state.served_at(ids, resource)
        if not state.charge(api_day(now).isoformat(), resource):
            state.count("403 quotaExceeded")
            self._send_json(403, quota_exceeded_body())
            return
        roll, pick, slow = state.rolls(now, ids, resource)
        if slow < faults.slow_rate:
            state.count("slow")
            time.sleep(faults.slow_s)
        if roll < faults.drop_rate:
            state.count("dropped")
            self.close_connection = True  # hang up without an answer
            return
        roll -= faults.drop_rate
        if roll < faults.server_error_rate:
            status = 503 if pick < 0.5 else 500
            state.count(f"{status} backendError")
            self._send_json(status, server_error_body(status))
            return
        roll -= faults.server_error_rate
        if roll < faults.rate_limit_rate:
            status = 429 if pick < 0.5 else 403
            state.count(f"{status} rateLimit")
            self._send_json(status, rate_limited_body(status), {"Retry-After": "0"} if status == 429 else None)
            return
        parts = {p.strip() for p in ",".join(query.get("part") or []).split(",") if p.strip()}
        if not parts:
            state.count("400 required")
            self._send_json(400, _google_error(400, "Required parameter: part", "required", "global", "INVALID_ARGUMENT"))
            return
        kind, known_parts = RESOURCES[resource]
        unknown = parts - known_parts
        if unknown:
            state.count("400 unknownPart")
            self._send_json(400, _google_error(
                400, f"'{sorted(unknown)[0]}'", "unknownPart", "youtube.part", "INVALID_ARGUMENT"))
            return
        if len(ids) > MAX_IDS:
            state.count("400 badRequest")
            self._send_json(400, _google_error(
                400, f"The request specifies more than {MAX_IDS} ids.", "badRequest", "youtube.parameter",
                "INVALID_ARGUMENT"))
            return
        roll -= faults.rate_limit_rate
        items = []
        for item_id in dict.fromkeys(ids):
            if resource == "channels":
                channel = state.universe.channel_state(item_id, now)
                if channel is not None:
                    items.append(channel_item(channel, parts))
            else:
                video = state.universe.state(item_id, now)
                if video is not None:
                    items.append(video_item(video, parts))
        body = {
            "kind": kind,
            "etag": _etag(now.date(), *ids),
            "items": items,
            "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
        }
        # Malformed 200s (charged, like any answer the API serves).
        if roll < faults.truncated_rate:
            state.count("200 truncated")
            self._send_json(200, body, truncate=True)
            return
        roll -= faults.truncated_rate
        if roll < faults.missing_items_rate:
            del body["items"]
            state.count("200 without items")
            self._send_json(200, body)
            return
        roll -= faults.missing_items_rate
        if roll < faults.null_items_rate:
            body["items"] = None
            state.count("200 items null")
            self._send_json(200, body)
            return
        roll -= faults.null_items_rate
        if roll < faults.bad_count_rate and items and "statistics" in items[0]:
            items[0]["statistics"]["viewCount"] = "-1"
            state.count("200 negative count")
            self._send_json(200, body)
            return
        state.count("200")
        self._send_json(200, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: EmulatorState):
        super().__init__(address, _Handler)
        self.state = state

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up mid-answer (timeouts, a killed crawler) is normal here.
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            log.debug("emulator: client %s went away", client_address)
            return
        super().handle_error(request, client_address)


class EmulatorServer:
    """The emulator on loopback, served from a background thread.

    with EmulatorServer(universe) as emu:
        emu.base_url  # -> http://127.0.0.1:PORT/youtube/v3
        emu.advance_days(1)
    """

    def __init__(
        self,
        universe: VideoUniverse,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: set[str] | None = None,
        daily_quota: int = 10_000,
        faults: Faults | None = None,
        start: datetime | None = None,
        seed: int = 7,
    ):
        self.state = EmulatorState(
            universe,
            api_keys or {DEFAULT_API_KEY},
            daily_quota,
            faults or Faults(),
            start or (KAGGLE_OBSERVED_AT + timedelta(days=1)),
            seed,
        )
        self._httpd = _Server((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def root_url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.root_url + API_PREFIX

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="youtube-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the `tunehouse emulator` command)."""
        self._httpd.serve_forever()

    def stop_serving(self) -> None:
        self._httpd.server_close()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Conveniences for in-process callers; out-of-process callers use the admin endpoints.
    def now(self) -> datetime:
        return self.state.now()

    def advance_days(self, days: float) -> datetime:
        return self.state.move_clock(advance=timedelta(days=days))

    def set_faults(self, faults: Faults) -> None:
        self.state.faults = faults
