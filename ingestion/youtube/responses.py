"""What a videos.list response means, classified the way the real API answers.

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
the owner hides them, which is stored as NULL, never as 0 or 'Error'.
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


def _malformed(message: str) -> YouTubeApiError:
    return YouTubeApiError(ErrorKind.MALFORMED, f"malformed videos.list answer: {message}")


def _count(video_id: str, statistics: Mapping[str, Any], field: str) -> int | None:
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
        raise _malformed(f"video {video_id}: statistics.{field} is {str(value)[:40]!r}, not a count")
    if not 0 <= count <= _INT64_MAX:
        raise _malformed(f"video {video_id}: statistics.{field} is {str(value)[:40]!r}, not a count")
    return count


def _text(video_id: str, part: Mapping[str, Any], name: str, field: str) -> str | None:
    value = part.get(field)
    if value is None or isinstance(value, str):
        return value
    raise _malformed(f"video {video_id}: {name}.{field} is a {type(value).__name__}, not text")


def _part(video_id: str, item: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = item.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _malformed(f"video {video_id}: {name} is a {type(value).__name__}, not an object")
    return value


def _timestamp(video_id: str, value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _malformed(f"video {video_id}: snippet.publishedAt {str(value)[:40]!r} is not a timestamp") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def parse_item(item: Mapping[str, Any]) -> VideoRecord:
    video_id = item.get("id")
    if not isinstance(video_id, str):
        raise _malformed("an item without a string id")
    snippet = _part(video_id, item, "snippet")
    statistics = _part(video_id, item, "statistics")
    return VideoRecord(
        video_id=video_id,
        published_at=_timestamp(video_id, snippet.get("publishedAt")),
        channel_id=_text(video_id, snippet, "snippet", "channelId"),
        channel_title=_text(video_id, snippet, "snippet", "channelTitle"),
        title=_text(video_id, snippet, "snippet", "title"),
        view_count=_count(video_id, statistics, "viewCount"),
        like_count=_count(video_id, statistics, "likeCount"),
        comment_count=_count(video_id, statistics, "commentCount"),
    )


def parse_videos_page(body: Any, requested: Sequence[str]) -> VideosPage:
    """A 200 body as found records + requested ids that did not come back.

    Only a well-formed answer says which ids are gone: `items` must be there and be a
    list (the API sends `items: []` when none of the ids exists, see
    ../shared/data/api_fixtures/videos_list_empty.json). A body without `items`, with
    `items: null` or any other shape raises a MALFORMED error (retried, then the crawl
    pauses), so an odd answer can never turn live videos into not-found snapshots.
    """
    if not isinstance(body, Mapping) or body.get("kind") != "youtube#videoListResponse":
        raise _malformed("HTTP 200 without a youtube#videoListResponse JSON body (cut short or not JSON)")
    if "items" not in body:
        raise _malformed("HTTP 200 without 'items'")
    items = body["items"]
    if not isinstance(items, list):
        raise _malformed(f"'items' is {'null' if items is None else type(items).__name__}, not a list")
    wanted = set(requested)
    found: dict[str, VideoRecord] = {}
    for item in items:
        if not isinstance(item, Mapping):
            raise _malformed("an item is not an object")
        record = parse_item(item)
        if record.video_id in wanted:  # ignore anything we did not ask for
            found.setdefault(record.video_id, record)
    not_found = tuple(v for v in dict.fromkeys(requested) if v not in found)
    return VideosPage(found=tuple(found.values()), not_found=not_found)
