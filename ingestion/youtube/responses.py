"""What a videos.list or channels.list response means, classified the way the real API answers.

- 200: the videos found; requested ids missing from `items` are deleted, private or
  unknown (the API has no 404 for them: it answers `items: []`). A 200 whose body is not
  that shape (not JSON, cut short, no `items`, `items: null`, an item without a string
  id, a count that is not a non-negative integer) is malformed: retried like an outage,
  never read as "not found".
- 403 quotaExceeded / dailyLimitExceeded: the project's daily quota is spent; stop.
- 403 or 429 rateLimitExceeded / userRateLimitExceeded, and any 5xx: transient; retry.
- 400 keyInvalid, or details[].reason API_KEY_INVALID: the key is wrong; fail at once.
- anything else 4xx: the request itself is wrong; fail at once.
Counts arrive as strings; likeCount/commentCount (even viewCount) may be absent when
the owner hides them, which is stored as NULL, never as 0 or 'Error'. channels.list is
read by the same rules (its unknown or closed ids are missing from `items`); its
`subscriberCount` is absent when `hiddenSubscriberCount` is true (stored as NULL).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any


class ErrorKind(str, Enum):
    QUOTA_EXCEEDED = "quota_exceeded"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    KEY_INVALID = "key_invalid"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"
    TRANSPORT = "transport"
    MALFORMED = "malformed_response"


RETRYABLE = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.SERVER_ERROR, ErrorKind.TRANSPORT, ErrorKind.MALFORMED})

_QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded"}
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
_KEY_REASONS = {"keyInvalid", "keyExpired", "API_KEY_INVALID", "API_KEY_EXPIRED"}


class YouTubeApiError(RuntimeError):
    """An answer (or no answer) from the API that is not a usable videos page.

    The message never contains the request URL or the key.
    """

    def __init__(self, kind: ErrorKind, message: str, *, status: int | None = None,
                 reason: str | None = None, retry_after_s: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.reason = reason
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


@dataclass(frozen=True)
class VideoRecord:
    """One item of a videos.list response, typed."""

    video_id: str
    published_at: datetime | None
    channel_id: str | None
    channel_title: str | None
    title: str | None
    view_count: int | None
    like_count: int | None
    comment_count: int | None


@dataclass(frozen=True)
class VideosPage:
    found: tuple[VideoRecord, ...]
    not_found: tuple[str, ...]


@dataclass(frozen=True)
class ChannelRecord:
    """One item of a channels.list response (part=snippet,statistics), typed."""

    channel_id: str
    title: str | None
    custom_url: str | None
    published_at: datetime | None      # when the channel was created
    country: str | None
    view_count: int | None
    subscriber_count: int | None       # None when hidden (rounded by YouTube when public)
    hidden_subscriber_count: bool | None
    video_count: int | None


@dataclass(frozen=True)
class ChannelsPage:
    found: tuple[ChannelRecord, ...]
    not_found: tuple[str, ...]


def _error_reasons(body: Any) -> list[str]:
    """errors[].reason and details[].reason of a Google error body, in that order."""
    if not isinstance(body, Mapping) or not isinstance(body.get("error"), Mapping):
        return []
    error = body["error"]
    reasons = [e.get("reason") for e in error.get("errors") or [] if isinstance(e, Mapping)]
    reasons += [d.get("reason") for d in error.get("details") or [] if isinstance(d, Mapping)]
    return [r for r in reasons if isinstance(r, str)]


def _error_message(body: Any) -> str | None:
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        message = body["error"].get("message")
        return message if isinstance(message, str) else None
    return None


def decode_body(raw: bytes) -> Any:
    """The JSON body, or None when it is not JSON (e.g. an HTML page from a proxy)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def classify_error(status: int, body: Any, retry_after_s: float | None = None) -> YouTubeApiError:
    """The error a non-200 answer stands for."""
    reasons = _error_reasons(body)
    message = _error_message(body) or f"HTTP {status}"
    shown = reasons[0] if reasons else None
    if any(r in _QUOTA_REASONS for r in reasons):
        kind = ErrorKind.QUOTA_EXCEEDED
        text = "YouTube API daily quota exceeded (403 quotaExceeded); the crawl resumes after midnight Pacific"
        shown = next(r for r in reasons if r in _QUOTA_REASONS)
    elif any(r in _RATE_REASONS for r in reasons) or status == 429:
        kind = ErrorKind.RATE_LIMITED
        shown = next((r for r in reasons if r in _RATE_REASONS), shown)
        text = f"YouTube API rate limit ({status} {shown or 'too many requests'})"
    elif any(r in _KEY_REASONS for r in reasons):
        kind = ErrorKind.KEY_INVALID
        shown = next(r for r in reasons if r in _KEY_REASONS)
        text = (
            f"YouTube API rejected the API key ({status} {shown}): set YOUTUBE_API_KEY to a valid "
            "YouTube Data API v3 key"
        )
    elif status >= 500:
        kind = ErrorKind.SERVER_ERROR
        text = f"YouTube API server error ({status} {shown or ''}".rstrip() + ")"
    elif status in (401, 403):
        kind = ErrorKind.FORBIDDEN
        text = f"YouTube API refused the request ({status} {shown or ''}: {message})"
    else:
        kind = ErrorKind.BAD_REQUEST
        text = f"YouTube API rejected the request ({status} {shown or ''}: {message})"
    return YouTubeApiError(kind, text, status=status, reason=shown, retry_after_s=retry_after_s)


_INT64_MAX = 2**63 - 1

VIDEOS_LIST = "videos.list"
CHANNELS_LIST = "channels.list"


def _malformed(message: str, endpoint: str = VIDEOS_LIST) -> YouTubeApiError:
    return YouTubeApiError(ErrorKind.MALFORMED, f"malformed {endpoint} answer: {message}")


@dataclass(frozen=True)
class _Item:
    """Which item of which answer is being read: names it in a malformed-answer message."""

    endpoint: str  # videos.list | channels.list
    owner: str     # e.g. "video dQw4w9WgXcQ"

    def malformed(self, message: str) -> YouTubeApiError:
        return _malformed(f"{self.owner}: {message}", self.endpoint)


def _count(where: _Item, statistics: Mapping[str, Any], field: str) -> int | None:
    """A count as the API sends it (a decimal string; a JSON integer is taken too).

    Anything else (negative, fractional, a bool, text, beyond BIGINT) is malformed.
    """
    value = statistics.get(field)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        count = int(value)
    else:
        raise where.malformed(f"statistics.{field} is {str(value)[:40]!r}, not a count")
    if not 0 <= count <= _INT64_MAX:
        raise where.malformed(f"statistics.{field} is {str(value)[:40]!r}, not a count")
    return count


def _flag(where: _Item, part: Mapping[str, Any], name: str, field: str) -> bool | None:
    value = part.get(field)
    if value is None or isinstance(value, bool):
        return value
    raise where.malformed(f"{name}.{field} is {str(value)[:40]!r}, not a boolean")


def _text(where: _Item, part: Mapping[str, Any], name: str, field: str) -> str | None:
    value = part.get(field)
    if value is None or isinstance(value, str):
        return value
    raise where.malformed(f"{name}.{field} is a {type(value).__name__}, not text")


def _part(where: _Item, item: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = item.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise where.malformed(f"{name} is a {type(value).__name__}, not an object")
    return value


def _timestamp(where: _Item, value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise where.malformed(f"snippet.publishedAt {str(value)[:40]!r} is not a timestamp") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _item_id(item: Mapping[str, Any], endpoint: str) -> str:
    item_id = item.get("id")
    if not isinstance(item_id, str):
        raise _malformed("an item without a string id", endpoint)
    return item_id


def parse_item(item: Mapping[str, Any]) -> VideoRecord:
    video_id = _item_id(item, VIDEOS_LIST)
    where = _Item(VIDEOS_LIST, f"video {video_id}")
    snippet = _part(where, item, "snippet")
    statistics = _part(where, item, "statistics")
    return VideoRecord(
        video_id=video_id,
        published_at=_timestamp(where, snippet.get("publishedAt")),
        channel_id=_text(where, snippet, "snippet", "channelId"),
        channel_title=_text(where, snippet, "snippet", "channelTitle"),
        title=_text(where, snippet, "snippet", "title"),
        view_count=_count(where, statistics, "viewCount"),
        like_count=_count(where, statistics, "likeCount"),
        comment_count=_count(where, statistics, "commentCount"),
    )


def parse_channel_item(item: Mapping[str, Any]) -> ChannelRecord:
    """One channels.list item. A hidden subscriber count (`hiddenSubscriberCount: true`) is
    NULL even if a count were sent; otherwise the count is the one YouTube shows (rounded)."""
    channel_id = _item_id(item, CHANNELS_LIST)
    where = _Item(CHANNELS_LIST, f"channel {channel_id}")
    snippet = _part(where, item, "snippet")
    statistics = _part(where, item, "statistics")
    hidden = _flag(where, statistics, "statistics", "hiddenSubscriberCount")
    subscribers = _count(where, statistics, "subscriberCount")
    return ChannelRecord(
        channel_id=channel_id,
        title=_text(where, snippet, "snippet", "title"),
        custom_url=_text(where, snippet, "snippet", "customUrl"),
        published_at=_timestamp(where, snippet.get("publishedAt")),
        country=_text(where, snippet, "snippet", "country"),
        view_count=_count(where, statistics, "viewCount"),
        subscriber_count=None if hidden else subscribers,
        hidden_subscriber_count=hidden,
        video_count=_count(where, statistics, "videoCount"),
    )


def _parse_page(body: Any, requested: Sequence[str], endpoint: str, kind: str, parse, key: str):
    if not isinstance(body, Mapping) or body.get("kind") != kind:
        raise _malformed(f"HTTP 200 without a {kind} JSON body (cut short or not JSON)", endpoint)
    if "items" not in body:
        raise _malformed("HTTP 200 without 'items'", endpoint)
    items = body["items"]
    if not isinstance(items, list):
        raise _malformed(f"'items' is {'null' if items is None else type(items).__name__}, not a list", endpoint)
    wanted = set(requested)
    found: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, Mapping):
            raise _malformed("an item is not an object", endpoint)
        record = parse(item)
        if getattr(record, key) in wanted:  # ignore anything we did not ask for
            found.setdefault(getattr(record, key), record)
    not_found = tuple(v for v in dict.fromkeys(requested) if v not in found)
    return tuple(found.values()), not_found


def parse_videos_page(body: Any, requested: Sequence[str]) -> VideosPage:
    """A 200 body as found records + requested ids that did not come back.

    Only a well-formed answer says which ids are gone: `items` must be there and be a
    list (the API sends `items: []` when none of the ids exists, see
    ../shared/data/api_fixtures/videos_list_empty.json). A body without `items`, with
    `items: null` or any other shape raises a MALFORMED error (retried, then the crawl
    pauses), so an odd answer can never turn live videos into not-found snapshots.
    """
    found, not_found = _parse_page(body, requested, VIDEOS_LIST, "youtube#videoListResponse", parse_item, "video_id")
    return VideosPage(found=found, not_found=not_found)


def parse_channels_page(body: Any, requested: Sequence[str]) -> ChannelsPage:
    """A channels.list 200 body, read by the same rules as :func:`parse_videos_page`:
    requested channel ids missing from `items` are not found (closed, suspended, unknown),
    any other shape is MALFORMED."""
    found, not_found = _parse_page(body, requested, CHANNELS_LIST, "youtube#channelListResponse",
                                   parse_channel_item, "channel_id")
    return ChannelsPage(found=found, not_found=not_found)
