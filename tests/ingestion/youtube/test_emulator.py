"""The emulator answers like the real API (checked against the real fixtures) and behaves."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from ingestion.youtube.apiclock import api_day, parse_http_date
from ingestion.youtube.emulator import EmulatorServer, Faults, SeedVideo, VideoUniverse

from ._support import load_fixture

KEY = "conformance-key"


def seeds(n: int = 60) -> list[SeedVideo]:
    return [SeedVideo(f"vid{i:08d}", f"Song {i}", f"Channel {i % 7}", 1_000_000 + i * 1000,
                      10_000 + i if i % 5 else None, 500 + i if i % 6 else None) for i in range(n)]


@pytest.fixture
def emulator():
    with EmulatorServer(VideoUniverse(seeds()), api_keys={KEY}, daily_quota=5) as server:
        yield server


def get(server: EmulatorServer, **params) -> requests.Response:
    return requests.get(f"{server.base_url}/videos", params=params, timeout=10)


def _shape(value):
    """Type skeleton of a JSON value: dicts by key, lists by first element."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _assert_subshape(ours, real, path="$"):
    """Every field we send exists in the real response with the same JSON type."""
    if isinstance(ours, dict):
        assert isinstance(real, dict), path
        for key, sub in ours.items():
            assert key in real, f"{path}.{key} is not a field of the real response"
            _assert_subshape(sub, real[key], f"{path}.{key}")
    elif isinstance(ours, list):
        assert isinstance(real, list), path
        if ours and real:
            _assert_subshape(ours[0], real[0], f"{path}[0]")
    else:
        assert ours == real, f"{path}: {ours} here, {real} in the real API"


def test_videos_list_has_the_real_shape(api_fixtures, emulator):
    real = load_fixture(api_fixtures, "videos_list_full_2019.json")
    response = get(emulator, part="snippet,statistics", id="vid00000001,vid00000002", key=KEY)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    ours = response.json()
    _assert_subshape(_shape(ours), _shape(real))
    assert set(ours) == set(real)  # kind, etag, pageInfo, items
    item_keys = set(ours["items"][0])
    assert item_keys == {"kind", "etag", "id", "snippet", "statistics"}
    # The fields a crawler reads are all there, counts as digit strings.
    for item in ours["items"]:
        assert {"publishedAt", "channelId", "title", "channelTitle"} <= set(item["snippet"])
        assert all(isinstance(v, str) and v.isdigit() for v in item["statistics"].values())
    assert ours["pageInfo"] == {"totalResults": 2, "resultsPerPage": 2}


def test_only_requested_parts_are_returned(emulator):
    [item] = get(emulator, part="statistics", id="vid00000001", key=KEY).json()["items"]
    assert set(item) == {"kind", "etag", "id", "statistics"}


def test_unknown_ids_are_left_out_like_the_real_api(api_fixtures, emulator):
    real = load_fixture(api_fixtures, "videos_list_empty.json")
    ours = get(emulator, part="snippet,statistics", id="nonexistent", key=KEY).json()
    assert set(ours) == set(real)
    assert ours["items"] == [] and ours["pageInfo"] == real["pageInfo"]


def test_hidden_counts_are_absent(emulator):
    # Seeds with likes/comments None (i % 5 == 0 / i % 6 == 0) hide them.
    items = get(emulator, part="statistics", id="vid00000000,vid00000001", key=KEY).json()["items"]
    by_id = {i["id"]: i["statistics"] for i in items}
    assert "likeCount" not in by_id["vid00000000"] and "commentCount" not in by_id["vid00000000"]
    assert "likeCount" in by_id["vid00000001"]


@pytest.mark.parametrize("fixture", ["error_key_invalid_current.json"])
def test_invalid_key_body_is_the_real_one(api_fixtures, emulator, fixture):
    response = get(emulator, part="snippet", id="vid00000001", key="wrong")
    assert response.status_code == 400
    assert response.json() == load_fixture(api_fixtures, fixture)


def test_quota_is_enforced_per_pacific_day_with_the_real_body(api_fixtures, emulator):
    real = load_fixture(api_fixtures, "error_quota_exceeded.json")
    statuses = [get(emulator, part="id", id="vid00000001", key=KEY).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [403] * 2
    response = get(emulator, part="id", id="vid00000001", key=KEY)
    body = response.json()
    assert body["error"]["code"] == real["error"]["code"] == 403
    assert body["error"]["errors"][0] == real["error"]["errors"][0]
    assert body["error"]["message"] == real["error"]["message"]
    # The next API day (midnight Pacific on the emulated clock) has a fresh quota.
    day = api_day(emulator.now())
    emulator.advance_days(1)
    assert api_day(emulator.now()) == day + timedelta(days=1)
    assert get(emulator, part="id", id="vid00000001", key=KEY).status_code == 200


def test_date_header_and_admin_clock_follow_the_emulated_time(emulator):
    before = parse_http_date(get(emulator, part="id", id="x", key=KEY).headers["Date"])
    moved = requests.post(f"{emulator.root_url}/_emulator/clock", data=json.dumps({"advance_days": 3}), timeout=5)
    assert moved.status_code == 200
    after = parse_http_date(get(emulator, part="id", id="x", key=KEY).headers["Date"])
    assert after - before == timedelta(days=3)  # the clock moves only when moved
    stats = requests.get(f"{emulator.root_url}/_emulator/stats", timeout=5).json()
    assert stats["videos"] == 60
    assert sum(stats["quota_used"].values()) == 2


def test_the_clock_stands_still_and_each_batch_is_served_at_its_place_in_the_catalogue():
    """Observed times depend on the clock and the request only: not on the wall clock, and
    not on which batch a concurrent crawl happens to send first."""
    import time

    ids = [f"vid{i:08d}" for i in range(120)]
    with EmulatorServer(VideoUniverse(seeds(120)), api_keys={KEY}) as server:
        start = server.now()
        assert start == datetime(2023, 2, 8, tzinfo=UTC)  # the day after the Kaggle crawl

        def served(batch: list[str]) -> tuple[datetime, dict[str, str]]:
            response = get(server, part="statistics", id=",".join(batch), key=KEY)
            assert response.status_code == 200
            items = {i["id"]: i["statistics"]["viewCount"] for i in response.json()["items"]}
            return parse_http_date(response.headers["Date"]), items

        # Last batch first: one emulated second per 50 catalogue videos before a batch.
        third, second, first = served(ids[100:]), served(ids[50:100]), served(ids[:50])
        assert [first[0], second[0], third[0]] == [start + timedelta(seconds=s) for s in (0, 1, 2)]
        time.sleep(1.1)
        assert server.now() == start
        assert served(ids[50:100]) == second  # the same moment, the same counts, later in real time
        # The counts are the universe's at the Date header's moment, to the second.
        universe = server.state.universe
        assert second[1] == {v: str(universe.state(v, second[0]).view_count) for v in ids[50:100]}
        assert server.advance_days(1) == start + timedelta(days=1)
        assert served(ids[:50])[0] == start + timedelta(days=1)


def test_injected_faults_do_not_depend_on_the_order_requests_arrive_in():
    """The n-th attempt at a batch fails (or not) the same way whichever order the batches
    and their retries come in, so a crawl's calls and quota per day are reproducible."""
    batches = [",".join(f"vid{i:08d}" for i in range(n, n + 5)) for n in range(0, 60, 5)]
    faults = Faults(server_error_rate=0.3, rate_limit_rate=0.2)

    def outcomes(order: list[tuple[int, int]], seed: int = 7) -> tuple[dict, dict]:
        with EmulatorServer(VideoUniverse(seeds()), api_keys={KEY}, faults=faults, seed=seed) as server:
            seen = {}
            for batch, attempt in order:
                seen[batch, attempt] = get(server, part="id", id=batches[batch], key=KEY).status_code
            return seen, dict(server.state.quota_used)

    # Batch by batch with its retries, versus retries interleaved, last batch first.
    in_turn = [(b, a) for b in range(len(batches)) for a in range(4)]
    interleaved = [(b, a) for a in range(4) for b in reversed(range(len(batches)))]
    first, quota = outcomes(in_turn)
    again, quota_again = outcomes(interleaved)
    assert first == again and quota == quota_again
    assert {200, 500, 503} <= set(first.values()) and set(first.values()) & {403, 429}
    # A retry is a fresh draw: not every attempt at a batch has the same answer.
    assert any(len({first[b, a] for a in range(4)}) > 1 for b in range(len(batches)))
    assert outcomes(in_turn, seed=8)[0] != first  # the seed decides them


def test_no_key_is_refused_for_free(emulator):
    response = get(emulator, part="id", id="vid00000001")
    assert response.status_code == 403
    assert emulator.state.quota_used == {}


def test_faults_are_injected_at_the_configured_rates(emulator):
    emulator.state.daily_quota = 10_000
    emulator.set_faults(Faults(server_error_rate=0.3, rate_limit_rate=0.2))
    statuses = [get(emulator, part="id", id="vid00000001", key=KEY).status_code for _ in range(300)]
    errors5 = sum(s >= 500 for s in statuses)
    limited = sum(s in (403, 429) for s in statuses)
    assert 60 <= errors5 <= 120 and 35 <= limited <= 90  # ~90 and ~60 expected
    body = get(emulator, part="id", id="x", key=KEY)  # whatever it is, it is JSON with the API's envelope
    assert "error" in body.json() or body.json()["kind"] == "youtube#videoListResponse"


def test_dropped_connections_surface_as_connection_errors(emulator):
    emulator.set_faults(Faults(drop_rate=1.0))
    with pytest.raises(requests.ConnectionError):
        get(emulator, part="id", id="vid00000001", key=KEY)


def test_video_histories_are_deterministic_and_plausible():
    universe = VideoUniverse(seeds(400), seed=3)
    again = VideoUniverse(seeds(400), seed=3)
    start = universe.origin
    deleted = hidden = 0
    for vid in universe.video_ids:
        states = [universe.state(vid, start + timedelta(days=d)) for d in (0, 1, 30, 365)]
        assert states == [again.state(vid, start + timedelta(days=d)) for d in (0, 1, 30, 365)]
        if states[0] is not None:
            life = universe.life(vid)
            assert states[0].view_count == life.seed.views  # starts at the Kaggle count
            assert states[0].published_at < start
        alive = [s for s in states if s is not None]
        views = [s.view_count for s in alive]
        assert views == sorted(views)  # counts never go down
        deleted += states[-1] is None
        hidden += bool(alive) and alive[0].like_count is None
    assert 0 < deleted < 40          # some videos disappear within a year
    assert hidden >= 80              # the seeds hide likes for every fifth video


def test_seed_videos_and_crawl_targets_come_from_the_dbt_model(built_warehouse, sample_csv, tmp_path):
    """One seed per distinct video id of the CSV, with its first row's title, channel and
    counts (parsed here with the csv module and urllib, not dbt), and the same ids as the
    crawl's targets; without the model both fail with one line."""
    import csv
    from urllib.parse import parse_qs, urlsplit

    import duckdb

    from ingestion.youtube import TargetsUnavailable
    from ingestion.youtube.emulator import load_seed_videos
    from ingestion.youtube.targets import crawl_targets

    first: dict[str, SeedVideo] = {}
    with sample_csv.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if not row["Url_youtube"]:
                continue
            vid = parse_qs(urlsplit(row["Url_youtube"]).query)["v"][0]
            if vid not in first:
                counts = [int(float(row[c])) if row[c] else None for c in ("Views", "Likes", "Comments")]
                first[vid] = SeedVideo(vid, row["Title"], row["Channel"], *counts)
    assert load_seed_videos(built_warehouse) == [first[v] for v in sorted(first)]
    with duckdb.connect(str(built_warehouse), read_only=True) as con:
        assert crawl_targets(con) == (1, sorted(first))

    bare = tmp_path / "bare.duckdb"
    duckdb.connect(str(bare)).close()
    with pytest.raises(TargetsUnavailable, match="intermediate.int_kaggle_videos does not exist"):
        load_seed_videos(bare)


@pytest.mark.parametrize("fault, outcome, check", [
    ("missing_items_rate", "200 without items", lambda r: "items" not in r.json()),
    ("null_items_rate", "200 items null", lambda r: r.json()["items"] is None),
    ("truncated_rate", "200 truncated", lambda r: not _is_json(r.content)),
    ("bad_count_rate", "200 negative count", lambda r: r.json()["items"][0]["statistics"]["viewCount"] == "-1"),
])
def test_malformed_answers_are_200s_charged_like_any_answer(emulator, fault, outcome, check):
    emulator.state.daily_quota = 100
    emulator.set_faults(Faults(**{fault: 1.0}))
    response = get(emulator, part="snippet,statistics", id="vid00000001,vid00000002", key=KEY)
    assert response.status_code == 200 and check(response)
    stats = emulator.state.stats()
    assert stats["responses"] == {outcome: 1} and sum(stats["quota_used"].values()) == 1
    assert stats["received"] == 1


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def test_failure_shares_cannot_add_up_to_more_than_one():
    with pytest.raises(ValueError, match="add up to more than 1"):
        Faults(server_error_rate=0.6, missing_items_rate=0.5)
    Faults(server_error_rate=0.5, missing_items_rate=0.5, slow_rate=1.0)  # slowness is drawn apart


# --- channels.list (issue #14) ---

def channel_seeds(n: int = 600) -> list[SeedVideo]:
    """Videos of 120 channels named like the Kaggle `Channel` column: topic, VEVO, artist, label."""
    names = [f"Artist {c}" + (" - Topic", "VEVO", "", " Records")[c % 4] for c in range(120)]
    return [SeedVideo(f"vid{i:08d}", f"Song {i}", names[i % 120], 10_000 + 7919 * i, 100 + i, 10 + i)
            for i in range(n)]


def get_channels(server: EmulatorServer, **params) -> requests.Response:
    return requests.get(f"{server.base_url}/channels", params=params, timeout=10)


def test_channels_list_has_the_real_shape(api_fixtures):
    from ingestion.youtube.emulator import channel_id_for

    real = load_fixture(api_fixtures, "channels_list_snippet_2021.json")
    universe = VideoUniverse(channel_seeds(), channels_closed=0.0)
    with EmulatorServer(universe, api_keys={KEY}) as server:
        ids = [channel_id_for(f"Artist {c}" + (" - Topic", "VEVO", "", " Records")[c % 4]) for c in range(4)]
        response = get_channels(server, part="snippet,statistics", id=",".join(ids), key=KEY)
        snippet_only = get_channels(server, part="snippet", id=ids[0], key=KEY).json()
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    ours = response.json()
    assert set(ours) == set(real) and ours["kind"] == real["kind"] == "youtube#channelListResponse"
    # part=snippet answers have the real body's shape exactly (country aside, which some channels lack).
    [item] = snippet_only["items"]
    assert set(item) == set(real["items"][0]) - {"statistics"}
    _assert_subshape(_shape(snippet_only), _shape(real))
    for item in ours["items"]:
        assert set(item) == {"kind", "etag", "id", "snippet", "statistics"} and item["kind"] == "youtube#channel"
        assert set(item["snippet"]) - {"country"} == set(real["items"][0]["snippet"]) - {"country"}
        stats = item["statistics"]
        # As ../shared/data/README.md describes it: string counts, a boolean flag.
        assert isinstance(stats["hiddenSubscriberCount"], bool)
        assert all(isinstance(stats[k], str) and stats[k].isdigit() for k in ("viewCount", "videoCount"))
        assert ("subscriberCount" in stats) != stats["hiddenSubscriberCount"]
    assert {i["id"] for i in ours["items"]} <= set(ids)


def test_channels_follow_their_videos():
    """Titles are the videos' channelTitle (the Kaggle Channel name); a channel's views are at
    least its videos' views and grow with them, subscribers grow in proportion to those views
    and are shown rounded down to three significant figures; videoCount covers its videos."""
    from collections import defaultdict

    universe = VideoUniverse(channel_seeds(), seed=5, hidden_subscribers=0.1, channels_closed=0.05)
    again = VideoUniverse(channel_seeds(), seed=5, hidden_subscribers=0.1, channels_closed=0.05)
    start = universe.origin
    moments = [start + timedelta(days=d) for d in (0, 1, 30, 200)]
    videos_of: dict[str, list[str]] = defaultdict(list)
    titles: dict[str, set[str]] = defaultdict(set)
    for vid in universe.video_ids:
        state = universe.state(vid, start)
        if state is not None:
            videos_of[state.channel_id].append(vid)
            titles[state.channel_id].add(state.channel_title)
    hidden = closed = 0
    for channel_id in universe.channel_ids:
        states = [universe.channel_state(channel_id, t) for t in moments]
        assert states == [again.channel_state(channel_id, t) for t in moments]  # deterministic
        if states[0] is None:
            closed += 1
            assert all(s is None for s in states)
            continue
        hidden += states[0].hidden_subscriber_count
        assert titles[channel_id] <= {states[0].title}
        if videos_of[channel_id]:
            assert states[0].published_at < min(universe.state(v, start).published_at for v in videos_of[channel_id])
        previous = None
        for t, s in zip(moments, states):
            live = [universe.state(v, t) for v in videos_of[channel_id]]
            assert s.view_count >= sum(v.view_count for v in live if v is not None)
            assert s.video_count >= len(videos_of[channel_id])
            if s.hidden_subscriber_count:
                assert s.subscriber_count is None
            else:
                digits = str(s.subscriber_count).rstrip("0")
                assert len(digits) <= 3 or s.subscriber_count < 1000
            if previous is not None:
                assert s.view_count >= previous.view_count and s.video_count >= previous.video_count
                if s.subscriber_count is not None:
                    assert s.subscriber_count >= previous.subscriber_count
            previous = s
    assert 0 < hidden < 30 and 0 < closed < 20


def test_subscriber_growth_is_proportional_to_the_channel_view_growth():
    """Subscribers gained between two moments = the channel's rate x its views gained, up to
    YouTube's rounding (one step of the third significant figure at each end)."""
    universe = VideoUniverse(channel_seeds(), seed=5, hidden_subscribers=0.0, channels_closed=0.0)
    t0, t1 = universe.origin + timedelta(days=1), universe.origin + timedelta(days=300)
    checked = 0
    for channel_id in universe.channel_ids:
        a, b = universe.channel_state(channel_id, t0), universe.channel_state(channel_id, t1)
        rate = universe.channel_life(channel_id).new_subscribers_per_view
        step = max(1, 10 ** (len(str(b.subscriber_count)) - 3))
        assert abs((b.subscriber_count - a.subscriber_count) - rate * (b.view_count - a.view_count)) <= 2 * step + 2
        checked += b.view_count > a.view_count
    assert checked > 100


def test_channels_share_quota_faults_and_keys_with_videos():
    universe = VideoUniverse(channel_seeds(), channels_closed=0.0)
    with EmulatorServer(universe, api_keys={KEY}, daily_quota=3) as server:
        some = ",".join(universe.channel_ids[:5])
        assert get_channels(server, part="statistics", id=some, key="wrong").json() == key_invalid_json()
        statuses = [get_channels(server, part="statistics", id=some, key=KEY).status_code for _ in range(2)]
        statuses.append(get(server, part="id", id="vid00000001", key=KEY).status_code)
        statuses.append(get_channels(server, part="statistics", id=some, key=KEY).status_code)
        assert statuses == [200, 200, 200, 403]
        assert get_channels(server, part="statistics", id=some, key=KEY).json()["error"]["errors"][0]["reason"] \
            == "quotaExceeded"
        assert server.state.stats()["calls"] == {"channels": 2, "videos": 1}
        server.advance_days(1)
        server.state.daily_quota = 10_000
        server.set_faults(Faults(missing_items_rate=1.0))
        assert "items" not in get_channels(server, part="statistics", id=some, key=KEY).json()
        server.set_faults(Faults(bad_count_rate=1.0))
        assert get_channels(server, part="statistics", id=some, key=KEY).json()["items"][0]["statistics"][
            "viewCount"] == "-1"
        server.set_faults(Faults(server_error_rate=1.0))
        assert get_channels(server, part="statistics", id=some, key=KEY).status_code in (500, 503)
        # Unknown ids are left out, as the real API does.
        assert get_channels(server, part="id", id="UCunknown", key=KEY).status_code in (500, 503)
        server.set_faults(Faults())
        assert get_channels(server, part="id", id="UCunknown", key=KEY).json()["items"] == []


def key_invalid_json() -> dict:
    from ingestion.youtube.emulator.server import key_invalid_body

    return key_invalid_body()
