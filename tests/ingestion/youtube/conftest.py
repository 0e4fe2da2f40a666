"""Fixtures for the YouTube tests (helpers live in _support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion.youtube.emulator import EmulatorServer, Faults, VideoUniverse, load_seed_videos

from ._support import EMULATOR_KEY, ReplayServer


@pytest.fixture(scope="session")
def api_fixtures(real_data_dir) -> Path:
    path = real_data_dir / "api_fixtures"
    if not path.is_dir():
        pytest.skip(f"real API fixtures not present at {path}")
    return path


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        yield server


@pytest.fixture
def emulator_for(built_warehouse):
    """Start emulators over the built sample warehouse; all are stopped after the test."""
    started: list[EmulatorServer] = []

    def start(faults: Faults | None = None, daily_quota: int = 10_000, api_keys: set[str] | None = None,
              seed: int = 7) -> EmulatorServer:
        universe = VideoUniverse(load_seed_videos(built_warehouse), seed=seed)
        server = EmulatorServer(universe, faults=faults, daily_quota=daily_quota,
                                api_keys=api_keys or {EMULATOR_KEY}, seed=seed).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
