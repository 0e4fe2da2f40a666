"""The emulated videos: each starts at its Kaggle counts and evolves deterministically.

Every property of a video is drawn from a random generator seeded with (seed, video_id),
so any process computes the same history, and the state at a moment depends only on the
moment (no stored state): views follow a saturating curve
    views(t) = V0 + rate0 * tau * (1 - exp(-t / tau)),   t = days since the Kaggle crawl
(fast early growth that slows down, a few viral videos); likes and comments grow in
proportion to new views. Some videos get deleted on some day, a few are already gone,
some hide their likes or have comments disabled, a few get retitled.

Channels are the videos' channels (`channel_id_for` the Kaggle `Channel` name, whose text
is the channel's title, as in the video snapshots' channelTitle): a channel's viewCount
is its catalogue videos' views (all of them, deleted ones included: a channel keeps
counting what they were watched) times 1 + a drawn share for its videos outside the
catalogue, so it is never below the sum of its videos' views and grows with them; its
subscribers grow in proportion to that view growth (subscribers gained = a drawn rate x
channel views gained) and are shown rounded down to three significant figures, as
YouTube does; its videoCount is its catalogue videos plus others plus steady uploads.
A few channels hide their subscriber count, a very few are closed (never served).
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# When the Kaggle dataset was crawled (≈ February 2023); day 0 of every curve. The dbt
# models use the same date (macro kaggle_observed_at) for days since the Kaggle baseline.
KAGGLE_OBSERVED_AT = datetime(2023, 2, 7, tzinfo=UTC)


@dataclass(frozen=True)
class SeedVideo:
    """A video as the Kaggle CSV saw it."""

    video_id: str
    title: str | None
    channel: str | None
    views: int | None
    likes: int | None
    comments: int | None


@dataclass(frozen=True)
class VideoLife:
    """The drawn parameters of one video."""

    seed: SeedVideo
    published_at: datetime
    channel_id: str
    views0: int
    likes0: int
    comments0: int
    rate0: float          # views per day at t = 0
    tau_days: float       # how fast growth slows down
    like_ratio: float     # new likes per new view
    comment_ratio: float
    deleted_after_days: float | None
    likes_hidden: bool
    comments_disabled: bool
    retitled_after_days: float | None


@dataclass(frozen=True)
class ChannelLife:
    """The drawn parameters of one channel (the channel of one or more catalogue videos)."""

    channel_id: str
    title: str
    custom_url: str
    published_at: datetime
    country: str | None
    video_ids: tuple[str, ...]
    extra_view_share: float       # views of its videos outside the catalogue / its catalogue videos' views
    subscribers_per_view: float   # at t = 0: subscribers per channel view
    new_subscribers_per_view: float  # subscribers gained per channel view gained
    other_videos: int             # videos outside the catalogue at t = 0
    uploads_per_year: float
    hidden_subscribers: bool
    closed: bool                  # never served (terminated / unknown to the API)


@dataclass(frozen=True)
class ChannelState:
    """What channels.list shows for a channel at one moment."""

    channel_id: str
    title: str
    custom_url: str
    published_at: datetime
    country: str | None
    view_count: int
    subscriber_count: int | None  # None when hidden; rounded down to 3 significant figures
    hidden_subscriber_count: bool
    video_count: int


#: YouTube went online on this day: no channel is older.
YOUTUBE_LAUNCH = datetime(2005, 4, 23, tzinfo=UTC)
_COUNTRIES = ("US", "GB", "CA", "SE", "DE", "FR", "KR", "JP", "BR", "MX", "ES", "AU", "NG", "IN")


def three_significant_figures(count: int) -> int:
    """A count as YouTube shows subscribers: rounded down to three significant figures."""
    if count < 1000:
        return count
    step = 10 ** (len(str(count)) - 3)
    return count // step * step


def _handle(title: str, channel_id: str) -> str:
    slug = "".join(c for c in title.lower() if c.isascii() and c.isalnum())
    return "@" + (slug[:30] or f"channel{channel_id[2:10].lower()}")


@dataclass(frozen=True)
class VideoState:
    """What the API shows for a video at one moment (None counts = hidden)."""

    video_id: str
    published_at: datetime
    channel_id: str
    channel_title: str
    title: str
    view_count: int
    like_count: int | None
    comment_count: int | None


def channel_id_for(name: str | None) -> str:
    """A stable, real-looking channel id (UC + 22 url-safe characters) for a channel name."""
    digest = hashlib.sha256((name or "").encode("utf-8")).digest()
    return "UC" + base64.urlsafe_b64encode(digest).decode("ascii")[:22]


class VideoUniverse:
    def __init__(
        self,
        seeds: list[SeedVideo],
        *,
        seed: int = 7,
        origin: datetime = KAGGLE_OBSERVED_AT,
        deleted_per_year: float = 0.04,
        gone_at_start: float = 0.005,
        likes_hidden: float = 0.02,
        comments_disabled: float = 0.03,
        retitled_per_year: float = 0.02,
        hidden_subscribers: float = 0.03,
        channels_closed: float = 0.005,
    ):
        self.origin = origin
        self._lives: dict[str, VideoLife] = {}
        for video in seeds:
            if video.video_id not in self._lives:
                self._lives[video.video_id] = self._draw(
                    video, seed, deleted_per_year, gone_at_start, likes_hidden, comments_disabled, retitled_per_year
                )
        # Catalogue order (the seeds' order: video_id, as the crawler's targets): the
        # server derives when a batch is served from it, never from arrival order.
        self._positions = {video_id: n for n, video_id in enumerate(self._lives)}
        by_channel: dict[str, list[VideoLife]] = {}
        for life in self._lives.values():
            by_channel.setdefault(life.channel_id, []).append(life)
        self._channels = {
            channel_id: self._draw_channel(channel_id, by_channel[channel_id], seed, hidden_subscribers,
                                           channels_closed)
            for channel_id in sorted(by_channel)  # channel id order, as the crawler's channel targets
        }
        self._channel_positions = {channel_id: n for n, channel_id in enumerate(self._channels)}

    def __len__(self) -> int:
        return len(self._lives)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._lives

    @property
    def video_ids(self) -> list[str]:
        return list(self._lives)

    def position(self, video_id: str) -> int | None:
        """The video's place in the catalogue (0-based, seed order); None when unknown."""
        return self._positions.get(video_id)

    def life(self, video_id: str) -> VideoLife | None:
        return self._lives.get(video_id)

    @property
    def channel_ids(self) -> list[str]:
        return list(self._channels)

    def channel_position(self, channel_id: str) -> int | None:
        """The channel's place among the channels (0-based, channel id order); None when unknown."""
        return self._channel_positions.get(channel_id)

    def channel_life(self, channel_id: str) -> ChannelLife | None:
        return self._channels.get(channel_id)

    def _draw_channel(self, channel_id: str, videos: list[VideoLife], seed: int, hidden_subscribers: float,
                      channels_closed: float) -> ChannelLife:
        rng = random.Random(f"{seed}:channel:{channel_id}")
        title = videos[0].seed.channel or ""
        first_video = min(v.published_at for v in videos)
        published_at = max(YOUTUBE_LAUNCH, first_video - timedelta(days=rng.uniform(1, 3 * 365)))
        return ChannelLife(
            channel_id=channel_id,
            title=title,
            custom_url=_handle(title, channel_id),
            published_at=published_at.replace(microsecond=0),
            country=rng.choice(_COUNTRIES) if rng.random() < 0.85 else None,
            video_ids=tuple(sorted(v.seed.video_id for v in videos)),
            extra_view_share=math.exp(rng.gauss(math.log(0.5), 1.0)),
            subscribers_per_view=min(math.exp(rng.gauss(math.log(0.004), 0.8)), 0.2),
            new_subscribers_per_view=min(math.exp(rng.gauss(math.log(0.002), 0.8)), 0.1),
            other_videos=int(math.exp(rng.gauss(math.log(40), 1.3))),
            uploads_per_year=rng.uniform(0, 60),
            hidden_subscribers=rng.random() < hidden_subscribers,
            closed=rng.random() < channels_closed,
        )

    def _draw(self, video, seed, deleted_per_year, gone_at_start, likes_hidden, comments_disabled,
              retitled_per_year) -> VideoLife:
        rng = random.Random(f"{seed}:{video.video_id}")
        views0 = video.views if video.views is not None else rng.randint(100, 100_000)
        likes0 = video.likes if video.likes is not None else max(0, int(views0 * 0.008))
        comments0 = video.comments if video.comments is not None else max(0, int(views0 * 0.0004))
        # Daily growth as a share of current views: lognormal around 0.08 %/day, 3 % viral.
        share = math.exp(rng.gauss(math.log(0.0008), 0.9))
        if rng.random() < 0.03:
            share *= 10
        rate0 = max(views0, 500) * min(share, 0.05)
        like_ratio = min(likes0 / views0, 0.2) if views0 > 0 else 0.01
        comment_ratio = min(comments0 / views0, 0.05) if views0 > 0 else 0.0005
        deleted_after: float | None = None
        roll = rng.random()
        if roll < gone_at_start:
            deleted_after = -1.0
        elif rng.random() < deleted_per_year:
            deleted_after = rng.uniform(1.0, 365.0)
        retitled_after = rng.uniform(1.0, 365.0) if rng.random() < retitled_per_year else None
        published_at = self.origin - timedelta(days=rng.uniform(14, 15 * 365), seconds=rng.randint(0, 86399))
        return VideoLife(
            seed=video,
            published_at=published_at.replace(microsecond=0),
            channel_id=channel_id_for(video.channel),
            views0=int(views0),
            likes0=int(likes0),
            comments0=int(comments0),
            rate0=rate0,
            tau_days=rng.uniform(60.0, 720.0),
            like_ratio=like_ratio,
            comment_ratio=comment_ratio,
            deleted_after_days=deleted_after,
            likes_hidden=video.likes is None or rng.random() < likes_hidden,
            comments_disabled=video.comments is None or rng.random() < comments_disabled,
            retitled_after_days=retitled_after,
        )

    def days_since_origin(self, at: datetime) -> float:
        return (at - self.origin).total_seconds() / 86400.0

    @staticmethod
    def _gained(life: VideoLife, t: float) -> int:
        """Views a video gained in `t` days since the Kaggle crawl (whether or not it still exists)."""
        return int(life.rate0 * life.tau_days * (1.0 - math.exp(-t / life.tau_days)))

    def _channel_views(self, channel: ChannelLife, t: float) -> int:
        catalogue = sum(self._lives[v].views0 + self._gained(self._lives[v], t) for v in channel.video_ids)
        return catalogue + math.ceil(catalogue * channel.extra_view_share)

    def channel_state(self, channel_id: str, at: datetime) -> ChannelState | None:
        """The channel as channels.list shows it at `at`; None when closed or unknown."""
        channel = self._channels.get(channel_id)
        if channel is None or channel.closed:
            return None
        t = max(0.0, self.days_since_origin(at))
        views0 = self._channel_views(channel, 0.0)
        views = self._channel_views(channel, t)
        subscribers = int(views0 * channel.subscribers_per_view) + int((views - views0) * channel.new_subscribers_per_view)
        return ChannelState(
            channel_id=channel_id,
            title=channel.title,
            custom_url=channel.custom_url,
            published_at=channel.published_at,
            country=channel.country,
            view_count=views,
            subscriber_count=None if channel.hidden_subscribers else three_significant_figures(subscribers),
            hidden_subscriber_count=channel.hidden_subscribers,
            video_count=len(channel.video_ids) + channel.other_videos + int(channel.uploads_per_year * t / 365.0),
        )

    def state(self, video_id: str, at: datetime) -> VideoState | None:
        """The video as the API shows it at `at`; None when deleted (or never existed)."""
        life = self._lives.get(video_id)
        if life is None:
            return None
        t = max(0.0, self.days_since_origin(at))
        if life.deleted_after_days is not None and t >= life.deleted_after_days:
            return None
        gained = self._gained(life, t)
        title = life.seed.title or ""
        if life.retitled_after_days is not None and t >= life.retitled_after_days:
            title = f"{title} (Remastered)"
        return VideoState(
            video_id=video_id,
            published_at=life.published_at,
            channel_id=life.channel_id,
            channel_title=life.seed.channel or "",
            title=title,
            view_count=life.views0 + gained,
            like_count=None if life.likes_hidden else life.likes0 + int(gained * life.like_ratio),
            comment_count=None if life.comments_disabled else life.comments0 + int(gained * life.comment_ratio),
        )
