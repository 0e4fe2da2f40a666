"""The emulated videos: each starts at its Kaggle counts and evolves deterministically.

Every property of a video is drawn from a random generator seeded with (seed, video_id),
so any process computes the same history, and the state at a moment depends only on the
moment (no stored state): views follow a saturating curve
    views(t) = V0 + rate0 * tau * (1 - exp(-t / tau)),   t = days since the Kaggle crawl
(fast early growth that slows down, a few viral videos); likes and comments grow in
proportion to new views. Some videos get deleted on some day, a few are already gone,
some hide their likes or have comments disabled, a few get retitled.
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

    def state(self, video_id: str, at: datetime) -> VideoState | None:
        """The video as the API shows it at `at`; None when deleted (or never existed)."""
        life = self._lives.get(video_id)
        if life is None:
            return None
        t = max(0.0, self.days_since_origin(at))
        if life.deleted_after_days is not None and t >= life.deleted_after_days:
            return None
        gained = int(life.rate0 * life.tau_days * (1.0 - math.exp(-t / life.tau_days)))
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
