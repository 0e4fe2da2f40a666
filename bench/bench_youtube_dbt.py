"""Incremental dbt build of the snapshot models after one new crawl (issue #3).

Target: < 10 s with 30 crawls of history. Reports how it grows from 10 to 30 to 90
crawls of history, side by side with a full refresh of the same models on the same
data. History = full crawls of the real dataset's distinct videos (≈18k snapshots each)
from the emulator, one emulated day apart.
Run: .venv/bin/python -m bench.bench_youtube_dbt
"""

from __future__ import annotations

import logging

from bench.common import machine
from bench.youtube_setup import dataset_warehouse, dbt_build_timed
from ingestion.youtube import CrawlOptions, crawl
from ingestion.youtube.emulator import DEFAULT_API_KEY, EmulatorServer, VideoUniverse, load_seed_videos

SELECT = ["--select", "int_kaggle_videos stg_youtube_snapshots+ stg_crawl_runs+ stg_quota_ledger+"]


def main() -> None:
    logging.disable(logging.INFO)
    warehouse, label = dataset_warehouse("bench-dbt-")
    seeds = load_seed_videos(warehouse)
    print(f"{label}: {len(seeds)} videos per crawl; {machine()}")
    print("history | rows in fct | incremental build wall (dbt elapsed) | full refresh wall (dbt elapsed) | ratio")
    crawls = 0
    with EmulatorServer(VideoUniverse(seeds), daily_quota=10**7) as emulator:

        def crawl_once() -> None:
            nonlocal crawls
            result = crawl(warehouse, DEFAULT_API_KEY, CrawlOptions(base_url=emulator.base_url, concurrency=8))
            assert result.complete, result.message
            emulator.advance_days(1)
            crawls += 1

        for history in (10, 30, 90):
            while crawls < history:
                crawl_once()
            dbt_build_timed(["build", *SELECT], warehouse)  # models up to date with `history` crawls
            crawl_once()  # one new crawl
            inc_wall, inc_dbt = dbt_build_timed(["build", *SELECT], warehouse)
            full_wall, full_dbt = dbt_build_timed(["build", "--full-refresh", *SELECT], warehouse)
            rows = history * len(seeds)
            print(f"{history:7d} | {rows + len(seeds):11,d} | {inc_wall:6.2f} s ({inc_dbt:5.2f} s) | "
                  f"{full_wall:6.2f} s ({full_dbt:5.2f} s) | {full_dbt / inc_dbt:4.1f}x", flush=True)


if __name__ == "__main__":
    main()
