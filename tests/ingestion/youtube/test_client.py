"""The videos.list client against the real API fixtures, replayed over loopback HTTP."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.youtube import ErrorKind, YouTubeApiError, YouTubeClient
from ingestion.youtube.responses import classify_error, parse_videos_page
from ._support import FAST_RETRY, load_fixture

KEY = "test-key-0123456789"
FULL = "videos_list_full_2019.json"
REAL_ID = "D-lhorsDlUQ"


def client(replay, **kw) -> YouTubeClient:
    return YouTubeClient(KEY, replay.base_url, FAST_RETRY, **kw)


def test_full_response_is_parsed_field_by_field(api_fixtures, replay):
    body = load_fixture(api_fixtures, FULL)
    item = body["items"][0]
    replay.script = [(200, body, {"Date": "Tue, 07 Feb 2023 12:00:00 GMT"})]
    result = client(replay).list_videos([REAL_ID, "deletedvid1"])
    assert result.attempts == 1
    assert result.served_at == datetime(2023, 2, 7, 12, tzinfo=UTC)
    assert result.page.not_found == ("deletedvid1",)
    [record] = result.page.found
    assert record.video_id == item["id"]
    assert record.view_count == int(item["statistics"]["viewCount"]) == 7920
    assert record.like_count == int(item["statistics"]["likeCount"])
    assert record.comment_count == int(item["statistics"]["commentCount"])
    assert record.published_at == datetime(2019, 3, 21, 20, 37, 49, tzinfo=UTC)
    assert record.channel_id == item["snippet"]["channelId"]
    assert record.channel_title == item["snippet"]["channelTitle"]
    assert record.title == item["snippet"]["title"]
    # One call, both parts, the ids joined, the key in the query string.
    [query] = replay.requests
    assert query["part"] == ["snippet,statistics"]
    assert query["id"] == [f"{REAL_ID},deletedvid1"]
    assert query["key"] == [KEY]


def test_hidden_counts_are_null_not_zero(api_fixtures, replay):
    body = load_fixture(api_fixtures, FULL)
    del body["items"][0]["statistics"]["likeCount"]
    del body["items"][0]["statistics"]["commentCount"]
    replay.script = [(200, body, {})]
    [record] = client(replay).list_videos([REAL_ID]).page.found
    assert record.view_count == 7920
    assert record.like_count is None and record.comment_count is None


def test_empty_items_means_not_found(api_fixtures, replay):
    replay.script = [(200, load_fixture(api_fixtures, "videos_list_empty.json"), {})]
    page = client(replay).list_videos(["aaaaaaaaaaa", "bbbbbbbbbbb"]).page
    assert page.found == ()
    assert page.not_found == ("aaaaaaaaaaa", "bbbbbbbbbbb")


def test_quota_exceeded_stops_without_retrying(api_fixtures, replay):
    replay.script = [(403, load_fixture(api_fixtures, "error_quota_exceeded.json"), {})] * 3
    with pytest.raises(YouTubeApiError) as info:
        client(replay).list_videos([REAL_ID])
    assert info.value.kind is ErrorKind.QUOTA_EXCEEDED
    assert len(replay.requests) == 1


@pytest.mark.parametrize("fixture", ["error_key_invalid_legacy.json", "error_key_invalid_current.json"])
def test_invalid_key_fails_at_once_with_a_clear_message(api_fixtures, replay, fixture):
    replay.script = [(400, load_fixture(api_fixtures, fixture), {})] * 3
    with pytest.raises(YouTubeApiError) as info:
        client(replay).list_videos([REAL_ID])
    assert info.value.kind is ErrorKind.KEY_INVALID
    assert "YOUTUBE_API_KEY" in str(info.value)
    assert KEY not in str(info.value)
    assert len(replay.requests) == 1


@pytest.mark.parametrize(
    "status,reason",
    [(403, "rateLimitExceeded"), (403, "userRateLimitExceeded"), (429, "userRateLimitExceeded"),
     (500, "backendError"), (503, "backendError")],
)
def test_transient_errors_are_retried(api_fixtures, replay, status, reason):
    error = {"error": {"code": status, "message": "x", "errors": [{"reason": reason, "domain": "usageLimits"}]}}
    replay.script = [(status, error, {}), (status, error, {}), (200, load_fixture(api_fixtures, FULL), {})]
    result = client(replay).list_videos([REAL_ID])
    assert result.attempts == 3
    assert [r.video_id for r in result.page.found] == [REAL_ID]


def test_dropped_connection_and_garbage_are_retried(api_fixtures, replay):
    replay.script = ["drop", (502, b"<html>Bad Gateway</html>", {}), (200, load_fixture(api_fixtures, FULL), {})]
    result = client(replay).list_videos([REAL_ID])
    assert result.attempts == 3


def test_retries_give_up_after_max_attempts(replay):
    error = {"error": {"code": 503, "message": "x", "errors": [{"reason": "backendError"}]}}
    replay.script = [(503, error, {})] * 20
    with pytest.raises(YouTubeApiError) as info:
        client(replay).list_videos(["aaaaaaaaaaa"])
    assert info.value.kind is ErrorKind.SERVER_ERROR
    assert len(replay.requests) == FAST_RETRY.max_attempts


def test_before_attempt_runs_for_every_attempt_and_can_stop(api_fixtures, replay):
    error = {"error": {"code": 500, "message": "x", "errors": [{"reason": "backendError"}]}}
    replay.script = [(500, error, {}), (200, load_fixture(api_fixtures, FULL), {})]
    calls = []
    client(replay).list_videos([REAL_ID], before_attempt=lambda: calls.append(1))
    assert len(calls) == 2

    class Stop(Exception):
        pass

    def refuse():
        raise Stop

    with pytest.raises(Stop):
        client(replay).list_videos([REAL_ID], before_attempt=refuse)
    assert len(replay.requests) == 2  # the refused attempt sent nothing


def test_more_than_50_ids_is_refused_before_sending(replay):
    with pytest.raises(ValueError, match="at most 50"):
        client(replay).list_videos([f"id{i:08d}" for i in range(51)])
    assert replay.requests == []


def test_unreachable_api_error_does_not_show_the_key():
    unreachable = YouTubeClient(KEY, "http://127.0.0.1:9/youtube/v3", FAST_RETRY.__class__(max_attempts=1))
    with pytest.raises(YouTubeApiError) as info:
        unreachable.list_videos(["aaaaaaaaaaa"])
    assert info.value.kind is ErrorKind.TRANSPORT
    assert "127.0.0.1" in str(info.value)  # the message does name the URL ...
    assert KEY not in str(info.value)      # ... with the key redacted
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_counts_that_are_not_numbers_are_rejected(api_fixtures):
    body = load_fixture(api_fixtures, FULL)
    body["items"][0]["statistics"]["viewCount"] = "Error"
    with pytest.raises(YouTubeApiError, match="viewCount"):
        parse_videos_page(body, [REAL_ID])


_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=11, max_size=11)


@settings(max_examples=60, deadline=None)
@given(
    requested=st.lists(_ids, min_size=1, max_size=50, unique=True),
    data=st.data(),
)
def test_not_found_is_exactly_requested_minus_returned(requested, data):
    returned = data.draw(st.lists(st.sampled_from(requested), unique=True))
    counts = {v: data.draw(st.one_of(st.none(), st.integers(0, 10**12))) for v in returned}
    items = []
    for v in returned:
        stats = {"viewCount": str(counts[v] or 0)}
        if counts[v] is not None:
            stats["likeCount"] = str(counts[v])
        items.append({"kind": "youtube#video", "id": v, "snippet": {"publishedAt": "2020-01-01T00:00:00Z"},
                      "statistics": stats})
    body = {"kind": "youtube#videoListResponse", "items": items}
    page = parse_videos_page(copy.deepcopy(body), requested)
    assert {r.video_id for r in page.found} == set(returned)
    assert list(page.not_found) == [v for v in requested if v not in set(returned)]
    for record in page.found:
        assert record.like_count == counts[record.video_id]


@settings(max_examples=100, deadline=None)
@given(
    status=st.sampled_from([400, 401, 403, 404, 429, 500, 502, 503, 504]),
    reason=st.sampled_from(["quotaExceeded", "rateLimitExceeded", "userRateLimitExceeded", "keyInvalid",
                            "backendError", "forbidden", "badRequest", None]),
)
def test_classification_rules(status, reason):
    body = {"error": {"code": status, "message": "m", "errors": [{"reason": reason}] if reason else []}}
    kind = classify_error(status, body).kind
    if reason == "quotaExceeded":
        assert kind is ErrorKind.QUOTA_EXCEEDED
    elif reason in ("rateLimitExceeded", "userRateLimitExceeded") or status == 429:
        assert kind is ErrorKind.RATE_LIMITED
    elif reason == "keyInvalid":
        assert kind is ErrorKind.KEY_INVALID
    elif status >= 500:
        assert kind is ErrorKind.SERVER_ERROR
    else:
        assert kind in (ErrorKind.FORBIDDEN, ErrorKind.BAD_REQUEST)
    assert classify_error(status, body).retryable == (kind in (ErrorKind.RATE_LIMITED, ErrorKind.SERVER_ERROR))


# --- Malformed 200 answers (issue #9, finding 6): never "not found", always retried ---

@pytest.mark.parametrize("body", [
    {"kind": "youtube#videoListResponse", "etag": "x", "pageInfo": {"totalResults": 0, "resultsPerPage": 0}},
    {"kind": "youtube#videoListResponse", "etag": "x", "items": None},
    {"kind": "youtube#videoListResponse", "etag": "x", "items": {"id": REAL_ID}},
    {"kind": "youtube#videoListResponse", "etag": "x", "items": "[]"},
    {"kind": "youtube#videoListResponse", "etag": "x", "items": [REAL_ID]},
    {"kind": "youtube#videoListResponse", "etag": "x", "items": [{"kind": "youtube#video"}]},
    {"kind": "youtube#videoListResponse", "etag": "x", "items": [{"id": REAL_ID, "statistics": []}]},
    {"kind": "youtube#videoListResponse", "etag": "x", "items": [{"id": REAL_ID, "snippet": {"title": 7}}]},
    {"kind": "youtube#videoListResponse", "etag": "x", "items": [{"id": REAL_ID, "snippet": {"publishedAt": 1}}]},
    {"etag": "x", "items": []},
    [],
    None,
], ids=["no items", "items null", "items object", "items string", "item not object", "item without id",
        "statistics list", "title number", "publishedAt number", "no kind", "list body", "not JSON"])
def test_a_200_that_is_not_the_real_shape_is_malformed(body):
    with pytest.raises(YouTubeApiError) as info:
        parse_videos_page(body, [REAL_ID, "deletedvid1"])
    assert info.value.kind is ErrorKind.MALFORMED and info.value.retryable
    assert str(info.value).startswith("malformed videos.list answer")


def test_the_real_empty_answer_is_not_found_but_the_same_without_items_is_malformed(api_fixtures):
    empty = load_fixture(api_fixtures, "videos_list_empty.json")
    assert parse_videos_page(empty, ["aaaaaaaaaaa"]).not_found == ("aaaaaaaaaaa",)
    for broken in ({k: v for k, v in empty.items() if k != "items"}, {**empty, "items": None}):
        with pytest.raises(YouTubeApiError) as info:
            parse_videos_page(broken, ["aaaaaaaaaaa"])
        assert info.value.kind is ErrorKind.MALFORMED


def test_malformed_200s_and_cut_json_are_retried_and_then_reported(api_fixtures, replay):
    good = load_fixture(api_fixtures, FULL)
    raw = json.dumps(good).encode()
    no_items = {k: v for k, v in good.items() if k != "items"}
    replay.script = [(200, no_items, {}), (200, {**good, "items": None}, {}), (200, raw[: len(raw) // 2], {}),
                     (200, good, {})]
    result = client(replay).list_videos([REAL_ID])
    assert result.attempts == 4 and [r.video_id for r in result.page.found] == [REAL_ID]
    replay.script = [(200, no_items, {})] * FAST_RETRY.max_attempts
    with pytest.raises(YouTubeApiError) as info:
        client(replay).list_videos([REAL_ID])
    assert info.value.kind is ErrorKind.MALFORMED
    assert len(replay.requests) == 4 + FAST_RETRY.max_attempts


_NOT_COUNTS = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text().filter(lambda t: not (t.isascii() and t.isdigit())),
    st.integers(max_value=-1).map(str),
    st.integers(min_value=2**63).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["١٢٣", "²", "1e3", " 12", "12 ", "+5", "0x10", "1_000"]),
    st.lists(st.integers(0, 9), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(["viewCount", "likeCount", "commentCount"]), value=_NOT_COUNTS)
def test_counts_that_are_not_non_negative_integers_are_malformed(field, value):
    item = {"kind": "youtube#video", "id": REAL_ID, "statistics": {"viewCount": "5", field: value}}
    with pytest.raises(YouTubeApiError) as info:
        parse_videos_page({"kind": "youtube#videoListResponse", "items": [item]}, [REAL_ID])
    assert info.value.kind is ErrorKind.MALFORMED and field in str(info.value)


@settings(max_examples=100, deadline=None)
@given(value=st.integers(0, 2**63 - 1), as_text=st.booleans())
def test_non_negative_integer_counts_are_taken_as_they_are(value, as_text):
    item = {"kind": "youtube#video", "id": REAL_ID, "statistics": {"viewCount": str(value) if as_text else value}}
    [record] = parse_videos_page({"kind": "youtube#videoListResponse", "items": [item]}, [REAL_ID]).found
    assert record.view_count == value


# --- channels.list (issue #14): the same rules as videos.list ---

CHANNELS = "channels_list_snippet_2021.json"
REAL_CHANNEL = "UC29ju8bIPH5as8OGnQzwJyA"


def channel_body(api_fixtures, **statistics) -> dict:
    """The real channels.list body, with `statistics` added as ../shared/data/README.md describes it."""
    body = load_fixture(api_fixtures, CHANNELS)
    if statistics:
        body["items"][0]["statistics"] = statistics
    return body


def test_the_real_channels_body_is_parsed_field_by_field(api_fixtures, replay):
    body = load_fixture(api_fixtures, CHANNELS)
    snippet = body["items"][0]["snippet"]
    replay.script = [(200, body, {"Date": "Tue, 07 Feb 2023 12:00:00 GMT"})]
    result = client(replay).list_channels([REAL_CHANNEL, "UCclosedclosedclosed00"])
    assert result.attempts == 1 and result.served_at == datetime(2023, 2, 7, 12, tzinfo=UTC)
    assert result.page.not_found == ("UCclosedclosedclosed00",)
    [record] = result.page.found
    assert record.channel_id == REAL_CHANNEL
    assert (record.title, record.custom_url, record.country) == ("Traversy Media", "traversymedia", "US")
    assert record.title == snippet["title"] and record.custom_url == snippet["customUrl"]
    assert record.published_at == datetime(2009, 10, 30, 21, 33, 14, tzinfo=UTC)
    # part=snippet only in this body: no statistics, so no counts (NULL, never 0).
    assert (record.view_count, record.subscriber_count, record.hidden_subscriber_count, record.video_count) == (
        None, None, None, None)
    # One call to the channels endpoint, both parts, the ids joined, the key in the query string.
    assert replay.paths == ["/youtube/v3/channels"]
    [query] = replay.requests
    assert query["part"] == ["snippet,statistics"]
    assert query["id"] == [f"{REAL_CHANNEL},UCclosedclosedclosed00"]
    assert query["key"] == [KEY]


def test_channel_statistics_are_counts_and_a_hidden_subscriber_count_is_null(api_fixtures, replay):
    public = channel_body(api_fixtures, viewCount="271048939", subscriberCount="2190000",
                          hiddenSubscriberCount=False, videoCount="1016")
    hidden = channel_body(api_fixtures, viewCount="5", hiddenSubscriberCount=True, videoCount="0")
    replay.script = [(200, public, {}), (200, hidden, {})]
    [a] = client(replay).list_channels([REAL_CHANNEL]).page.found
    [b] = client(replay).list_channels([REAL_CHANNEL]).page.found
    assert (a.view_count, a.subscriber_count, a.hidden_subscriber_count, a.video_count) == (
        271048939, 2190000, False, 1016)
    assert (b.view_count, b.subscriber_count, b.hidden_subscriber_count, b.video_count) == (5, None, True, 0)


@pytest.mark.parametrize("mutate", [
    lambda b: b.pop("items"),
    lambda b: b.update(items=None),
    lambda b: b.update(kind="youtube#videoListResponse"),
    lambda b: b["items"][0].pop("id"),
    lambda b: b["items"][0].update(statistics={"viewCount": "-1"}),
    lambda b: b["items"][0].update(statistics={"subscriberCount": "1.2M"}),
    lambda b: b["items"][0].update(statistics={"hiddenSubscriberCount": "false"}),
    lambda b: b["items"][0]["snippet"].update(title=7),
    lambda b: b["items"][0]["snippet"].update(publishedAt="yesterday"),
], ids=["no items", "items null", "a videos answer", "item without id", "negative count", "abbreviated count",
        "hidden flag as text", "title number", "publishedAt text"])
def test_a_channels_200_that_is_not_the_real_shape_is_malformed(api_fixtures, mutate):
    from ingestion.youtube.responses import parse_channels_page

    body = channel_body(api_fixtures, viewCount="1", subscriberCount="1", hiddenSubscriberCount=False,
                        videoCount="1")
    mutate(body)
    with pytest.raises(YouTubeApiError) as info:
        parse_channels_page(body, [REAL_CHANNEL, "UCgone"])
    assert info.value.kind is ErrorKind.MALFORMED and info.value.retryable
    assert str(info.value).startswith("malformed channels.list answer")


@pytest.mark.parametrize(("status", "fixture", "kind", "requests"), [
    (403, "error_quota_exceeded.json", ErrorKind.QUOTA_EXCEEDED, 1),
    (400, "error_key_invalid_current.json", ErrorKind.KEY_INVALID, 1),
])
def test_channels_errors_are_classified_like_videos(api_fixtures, replay, status, fixture, kind, requests):
    replay.script = [(status, load_fixture(api_fixtures, fixture), {})] * 3
    with pytest.raises(YouTubeApiError) as info:
        client(replay).list_channels([REAL_CHANNEL])
    assert info.value.kind is kind and len(replay.requests) == requests
    assert KEY not in str(info.value)


def test_channels_5xx_and_rate_limits_are_retried(api_fixtures, replay):
    good = channel_body(api_fixtures, viewCount="1", hiddenSubscriberCount=True, videoCount="2")
    replay.script = [(503, {"error": {"code": 503, "errors": [{"reason": "backendError"}]}}, {}),
                     (429, {"error": {"code": 429, "errors": [{"reason": "userRateLimitExceeded"}]}}, {}),
                     "drop", (200, good, {})]
    result = client(replay).list_channels([REAL_CHANNEL])
    assert result.attempts == 4 and [r.channel_id for r in result.page.found] == [REAL_CHANNEL]
    assert set(replay.paths) == {"/youtube/v3/channels"}


@settings(max_examples=60, deadline=None)
@given(requested=st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
                                  min_size=24, max_size=24).map(lambda t: "UC" + t[2:]),
                          min_size=1, max_size=50, unique=True),
       data=st.data())
def test_channels_not_found_is_exactly_requested_minus_returned(requested, data):
    from ingestion.youtube.responses import parse_channels_page

    returned = data.draw(st.lists(st.sampled_from(requested), unique=True))
    extra = data.draw(st.lists(st.sampled_from(["UCnotaskednotaskednotask"]), max_size=1))
    body = {"kind": "youtube#channelListResponse", "items": [
        {"kind": "youtube#channel", "id": c, "statistics": {"viewCount": "3", "hiddenSubscriberCount": False,
                                                             "subscriberCount": "1", "videoCount": "1"}}
        for c in returned + extra]}
    page = parse_channels_page(body, requested)
    assert {r.channel_id for r in page.found} == set(returned)
    assert set(page.not_found) == set(requested) - set(returned)
    assert list(page.not_found) == [c for c in requested if c not in returned]
