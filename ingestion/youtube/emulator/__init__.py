"""A local YouTube Data API v3 (videos.list, channels.list) for demos, tests and benchmarks.

`universe` decides what each video and channel looks like at any emulated moment; `server` serves it
over real HTTP with the real response shape, quota and error bodies; `seed` reads the
videos to emulate from the warehouse.
"""

from ingestion.youtube.emulator.seed import load_seed_videos
from ingestion.youtube.emulator.server import DEFAULT_API_KEY, EmulatorServer, Faults
from ingestion.youtube.emulator.universe import (
    KAGGLE_OBSERVED_AT,
    ChannelState,
    SeedVideo,
    VideoUniverse,
    channel_id_for,
    three_significant_figures,
)

__all__ = [
    "DEFAULT_API_KEY",
    "KAGGLE_OBSERVED_AT",
    "ChannelState",
    "EmulatorServer",
    "Faults",
    "SeedVideo",
    "VideoUniverse",
    "channel_id_for",
    "load_seed_videos",
    "three_significant_figures",
]
