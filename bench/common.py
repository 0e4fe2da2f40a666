"""Helpers shared by the benchmarks: where the real data is, timing, machine facts."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from tunehouse.settings import PROJECT_ROOT

REAL_DATA_DIR = (PROJECT_ROOT / ".." / "shared" / "data").resolve()


def real_csv() -> Path | None:
    path = REAL_DATA_DIR / "spotify_youtube.csv"
    return path if path.exists() else None


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
