"""YouTube snapshots: a videos.list / channels.list client, a resumable quota-aware crawler
(videos, then their channels), an emulator.

Modules, one concern each: `responses` (what an API answer means), `client` (HTTP,
retries), `apiclock` (API time, Pacific quota day), `quota` (daily budget), `targets`
(which ids), `store` (the crawl's tables), `crawler` (the run), `progress`, `redaction`
(keeping the key secret), and `emulator` (a local API for demos and tests).
"""

from ingestion.youtube.client import MAX_IDS_PER_CALL, RetryPolicy, YouTubeClient
from ingestion.youtube.crawler import CrawlError, CrawlOptions, CrawlResult, crawl
from ingestion.youtube.quota import BudgetExhausted
from ingestion.youtube.responses import (
    ChannelRecord,
    ChannelsPage,
    ErrorKind,
    VideoRecord,
    VideosPage,
    YouTubeApiError,
)
from ingestion.youtube.targets import TargetsUnavailable

__all__ = [
    "MAX_IDS_PER_CALL",
    "BudgetExhausted",
    "ChannelRecord",
    "ChannelsPage",
    "CrawlError",
    "CrawlOptions",
    "CrawlResult",
    "ErrorKind",
    "RetryPolicy",
    "TargetsUnavailable",
    "VideoRecord",
    "VideosPage",
    "YouTubeApiError",
    "YouTubeClient",
    "crawl",
]
