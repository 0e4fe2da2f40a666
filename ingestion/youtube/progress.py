"""Crawl progress: a rich progress bar (rate, ETA) on a terminal, log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

log = logging.getLogger("ingestion.youtube.crawl")


class CrawlProgress(Protocol):
    # Called once per phase of a crawl: unit "videos", then "channels".
    def start(self, crawl_id: str, total_videos: int, done_videos: int, unit: str = "videos") -> None: ...
    def advance(self, videos: int) -> None: ...
    def finish(self, summary: str) -> None: ...


class NoProgress:
    def start(self, crawl_id: str, total_videos: int, done_videos: int, unit: str = "videos") -> None:
        pass

    def advance(self, videos: int) -> None:
        pass

    def finish(self, summary: str) -> None:
        pass


class LogProgress:
    """One INFO line per `every` share of the crawl, with rate and ETA."""

    def __init__(self, every: float = 0.1):
        self.every = every

    def start(self, crawl_id: str, total_videos: int, done_videos: int, unit: str = "videos") -> None:
        self.crawl_id, self.total, self.done, self.unit = crawl_id, total_videos, done_videos, unit
        self.started_done, self.t0 = done_videos, time.monotonic()
        self.next_mark = done_videos + max(1, int(total_videos * self.every))
        log.info("crawl %s: %d of %d %s to go", crawl_id, total_videos - done_videos, total_videos, unit)

    def advance(self, videos: int) -> None:
        self.done += videos
        if self.done >= self.next_mark or self.done >= self.total:
            elapsed = max(time.monotonic() - self.t0, 1e-9)
            rate = (self.done - self.started_done) / elapsed
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            log.info(
                "crawl %s: %d/%d %s (%.0f%%), %.1f %s/s, ETA %s",
                self.crawl_id, self.done, self.total, self.unit, 100 * self.done / max(self.total, 1), rate, self.unit,
                f"{eta:.0f}s" if eta != float("inf") else "?",
            )
            self.next_mark = self.done + max(1, int(self.total * self.every))

    def finish(self, summary: str) -> None:
        log.info("crawl %s: %s", self.crawl_id, summary)


class RichProgress:
    """A progress bar on stderr while the crawl runs."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None

    def start(self, crawl_id: str, total_videos: int, done_videos: int, unit: str = "videos") -> None:
        if self._progress is not None:  # the previous phase's bar
            self._progress.stop()
        self._unit = unit
        self._progress = Progress(
            TextColumn(f"crawl {crawl_id} {unit}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, transient=False,
        )
        self._progress.start()
        self._t0, self._first = time.monotonic(), done_videos
        self._task = self._progress.add_task("crawl", total=total_videos, completed=done_videos, rate="")

    def advance(self, videos: int) -> None:
        assert self._progress is not None
        task = self._progress.tasks[0]
        done = task.completed + videos
        rate = (done - self._first) / max(time.monotonic() - self._t0, 1e-9)
        self._progress.update(self._task, advance=videos, rate=f"{rate:,.0f} {self._unit}/s")

    def finish(self, summary: str) -> None:
        if self._progress is not None:
            self._progress.stop()
        self.console.print(summary)


def default_progress() -> CrawlProgress:
    """A bar when stderr is a terminal, log lines when it is not (cron, Dagster, CI)."""
    return RichProgress() if sys.stderr.isatty() else LogProgress()
