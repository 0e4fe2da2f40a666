"""Quota and wall time of a full crawl of the real dataset's distinct videos (issue #3).

Targets: ≤ 0.021 quota units per video snapshot (the report's method: 2.0); wall time
< 5 s against the emulator with 100 ms latency per call. Side by side in the same run,
on the same emulator: a baseline crawler doing what the report did (sequential, one id
per call, part=snippet then part=statistics: two calls per video). The baseline is run
on a random sample of videos and extrapolated linearly (it is strictly sequential:
36,000 calls at 100 ms would take an hour).
Run: .venv/bin/python -m bench.bench_youtube_crawl [BASELINE_VIDEOS]
"""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from bench.common import machine
from bench.youtube_setup import dataset_warehouse
from ingestion.youtube import CrawlOptions, crawl
from ingestion.youtube.emulator import DEFAULT_API_KEY, load_seed_videos

LATENCY_S = 0.1


@contextmanager
def emulator_process(warehouse: Path):
    """`tunehouse emulator` in its own process, as the real API would be: not sharing
    this process's CPU time (GIL) with the crawler being measured."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tunehouse = Path(sys.executable).parent / "tunehouse"
    proc = subprocess.Popen(
        [str(tunehouse), "emulator", "--warehouse", str(warehouse), "--port", str(port),
         "--latency-ms", str(LATENCY_S * 1000), "--daily-quota", str(10**7)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                requests.get(f"{root}/_emulator/clock", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield root
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def next_day(root: str) -> None:
    requests.post(f"{root}/_emulator/clock", json={"advance_days": 1}, timeout=5).raise_for_status()


def report_style_crawl(base_url: str, key: str, video_ids: list[str]) -> tuple[float, int]:
    """The report's loop: for each video, one call per part, one id per call, in sequence."""
    session = requests.Session()
    calls = 0
    started = time.perf_counter()
    for video_id in video_ids:
        for part in ("snippet", "statistics"):
            response = session.get(f"{base_url}/videos", params={"part": part, "id": video_id, "key": key},
                                   timeout=30)
            calls += 1
            try:
                response.json()["items"][0][part]
            except (IndexError, KeyError):
                pass  # the report wrote 'Error' here
    return time.perf_counter() - started, calls


def main() -> None:
    sample = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 100
    warehouse, label = dataset_warehouse("bench-crawl-")
    seeds = load_seed_videos(warehouse)
    print(f"{label}: {len(seeds)} distinct videos; emulator latency {LATENCY_S * 1000:.0f} ms per call; {machine()}")
    with emulator_process(warehouse) as root:
        base_url = f"{root}/youtube/v3"
        for concurrency in (4, 8, 16):
            next_day(root)
            result = crawl(warehouse, DEFAULT_API_KEY,
                           CrawlOptions(base_url=base_url, concurrency=concurrency, fresh=True))
            videos = result.ids_ok + result.ids_not_found
            channels = result.channels_ok + result.channels_not_found
            snapshots = videos + channels  # a crawl snapshots the videos, then their channels
            print(
                f"tunehouse crawl, concurrency {concurrency:2d}: {result.duration_s:6.2f} s, "
                f"{result.api_calls} calls, {result.quota_units} units for {snapshots} snapshots "
                f"({videos} videos, {channels} channels) = "
                f"{result.quota_units / snapshots:.4f} units/snapshot ({result.status})"
            )
            if concurrency == 16:
                ours = result.duration_s
        picked = random.Random(7).sample([s.video_id for s in seeds], min(sample, len(seeds)))
        seconds, calls = report_style_crawl(base_url, DEFAULT_API_KEY, picked)
        per_video = seconds / len(picked)
        full = per_video * len(seeds)
        print(
            f"report-style baseline: {len(picked)} videos, {calls} calls in {seconds:.2f} s "
            f"({per_video * 1000:.0f} ms/video, {calls / len(picked):.1f} units/snapshot); "
            f"extrapolated to {len(seeds)} videos: {full:,.0f} s"
        )
        print(f"ratio baseline / tunehouse (concurrency 16): {full / ours:,.0f}x")


if __name__ == "__main__":
    main()
