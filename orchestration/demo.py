"""`make demo`: the whole pipeline on the built-in sample, stage by stage.

Each stage prints a short summary (counts, timings, where the results are); the run's log
(dbt's per-model lines, Dagster's events) goes to one file beside the warehouse, shown on
the terminal too with `--verbose`. The ML stages are one per suite of `ml.families`.

A demo always starts from a fresh warehouse: the emulated calendar starts on the same day
every time, so crawling it again into the same warehouse would append the same days twice
(interleaved growth series, doubled "fastest-growing" figures). A warehouse an earlier
demo left (holding nothing the demo cannot make again) is deleted, saying so; any other
warehouse is refused, never touched. Together with the emulator's deterministic clock and
faults, every demo run therefore prints the same answers, those in the README.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from rich.console import Console

from ml.families import FAMILIES, SUITES
from orchestration.runner import JobOutcome, run_job
from tunehouse.settings import Settings


@dataclass(frozen=True)
class DemoRun:
    """What every stage gets: the settings, where to print, and where the run log goes."""

    settings: Settings
    console: Console
    log_file: Path
    verbose: bool = False

    @property
    def warehouse(self) -> Path:
        return self.settings.warehouse

    def run(self, job: str, run_config: dict | None = None, **kwargs) -> JobOutcome:
        return run_job(job, self.settings, run_config, log_file=self.log_file, verbose=self.verbose, **kwargs)


Stage = Callable[[DemoRun], None]


def _not_succeeded(records: list[dict]) -> str:
    """'  (2 skipped: feature 'x' leaks the target)': runs that did not succeed, by reason."""
    from collections import Counter

    reasons: Counter[str] = Counter()
    for r in records:
        if r["status"] != "succeeded":
            why = (r["reason"] or "").removeprefix(f"{r['status']}: ").split(" (")[0]
            reasons[f"{r['status']}: {why}" if why else r["status"]] += 1
    return "".join(f"  ({n} {text})" for text, n in reasons.items())


# Hosts of the emulator the demo crawls: a crawl of any other API cannot be made again.
_EMULATOR_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Schemas tunehouse writes (raw/ml by its Python code, the others by dbt).
_TUNEHOUSE_SCHEMAS = frozenset({"raw", "staging", "intermediate", "marts", "ml"})


def _not_demo_data(demo: DemoRun) -> list[str]:
    """What in the existing warehouse a demo run could not make again (empty: only demo data).

    Read from the raw tables, not the dbt models: provenance is recorded only there, and a
    demo interrupted before its first build leaves no models to read.
    """
    from urllib.parse import urlsplit

    from warehouse import read_connection, resolve_path

    sample_dir = resolve_path(demo.warehouse).parent / "sample"  # where ingest_kaggle writes the built-in sample
    own_csv = demo.settings.csv.expanduser().resolve() if demo.settings.csv else None
    found: list[str] = []
    with read_connection(demo.warehouse, timeout_s=demo.settings.lock_timeout_s) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = current_database()"
        ).fetchall()
        found += [f"table {schema}.{name}" for schema, name in tables if schema not in _TUNEHOUSE_SCHEMAS]
        present = {(schema, name) for schema, name in tables}
        if ("raw", "kaggle_loads") in present:
            for (source_path,) in con.execute("SELECT source_path FROM raw.kaggle_loads ORDER BY load_id").fetchall():
                path = Path(source_path).resolve()
                if not ((path.parent == sample_dir and path.name.startswith("spotify_youtube_sample_"))
                        or path == own_csv):
                    found.append(f"a Kaggle load of {source_path}")
        if ("raw", "crawl_runs") in present:
            for (base_url,) in con.execute("SELECT DISTINCT base_url FROM raw.crawl_runs ORDER BY 1").fetchall():
                if urlsplit(base_url).hostname not in _EMULATOR_HOSTS:
                    found.append(f"crawls of {base_url}")
    return found


def fresh_warehouse(demo: DemoRun) -> None:
    """Delete the warehouse an earlier demo left, or refuse one holding anything else."""
    from warehouse.connection import WarehouseError

    path = demo.warehouse
    if not path.exists():
        demo.console.print(f"  {path} is new", soft_wrap=True)
        return
    foreign = _not_demo_data(demo)
    if foreign:
        raise WarehouseError(
            f"{path} holds data the demo cannot make again ({'; '.join(foreign[:3])}"
            f"{'; ...' if len(foreign) > 3 else ''}). The demo starts from a fresh warehouse and "
            "never deletes this one: run it on another file (tunehouse demo --warehouse PATH, "
            "or TUNEHOUSE_WAREHOUSE=PATH make demo)."
        )
    wal = path.with_name(path.name + ".wal")
    path.unlink()
    wal.unlink(missing_ok=True)
    demo.console.print(
        f"  {path} held only an earlier demo's data (the sample, crawls of the emulator): deleted, "
        "so the emulated days are crawled once, not appended a second time",
        soft_wrap=True,
    )


def ingest_sample(demo: DemoRun) -> None:
    meta = demo.run("ingest_kaggle").metadata["raw/kaggle_tracks"]
    demo.console.print(
        f"  {meta['source_file']}: load {meta['load_id']}, {meta['dagster/row_count']} rows, "
        f"{meta['rows_quarantined']} quarantined"
    )


def build_models(demo: DemoRun) -> None:
    from orchestration.assets.dbt import DBT_OP

    outcome = demo.run("dbt_build")
    demo.console.print(f"  {len(outcome.assets_of(DBT_OP))} dbt assets built, all dbt tests passed")


# The three questions docs/youtube.md answers over the snapshot models (dbt analyses).
YOUTUBE_ANALYSES = ("video_view_history", "fastest_growing_videos", "quota_per_api_day")
EMULATED_DAYS = 8


def crawl_emulated_days(demo: DemoRun) -> None:
    """Emulated YouTube API on loopback, one crawl per emulated day, then the growth models."""
    from rich.table import Table

    from ingestion.youtube.apiclock import api_day
    from ingestion.youtube.emulator import DEFAULT_API_KEY, EmulatorServer, Faults, VideoUniverse, load_seed_videos
    from orchestration.analyses import analysis_sql, analysis_title
    from orchestration.assets.dbt import DBT_OP
    from orchestration.dbt import dbt_project
    from warehouse import read_connection

    seeds = load_seed_videos(demo.warehouse)
    # A few injected faults show the retries at work; the clock moves one day per crawl.
    # Both are deterministic (docs/youtube.md, "The emulator"), so every run, whatever its
    # speed or the order of its concurrent calls, crawls the same counts at the same times.
    emulator = EmulatorServer(VideoUniverse(seeds), faults=Faults(server_error_rate=0.02, rate_limit_rate=0.01))
    try:
        emulator.start()
        first = emulator.now()
        demo.console.print(
            f"  emulator on {emulator.base_url} serving {len(seeds)} videos, emulated days "
            f"{first:%Y-%m-%d} to {first + timedelta(days=EMULATED_DAYS - 1):%Y-%m-%d}",
            soft_wrap=True,
        )
        config = {"ops": {"crawl_youtube": {"config": {"base_url": emulator.base_url}}}}
        for day in range(1, EMULATED_DAYS + 1):
            job = "youtube_daily" if day == EMULATED_DAYS else "youtube_crawl"
            # The emulator's key is not a secret: the YouTube resource is built with it literally.
            # Each crawl materializes the partition of its API day (the emulated day, Pacific).
            outcome = demo.run(job, config, youtube_api_key=DEFAULT_API_KEY,
                               partition_key=api_day(emulator.now()).isoformat())
            meta = outcome.metadata["raw/youtube_snapshots"]
            channels = outcome.metadata["raw/channel_snapshots"]
            demo.console.print(
                f"  day {day} ({emulator.now():%Y-%m-%d}): crawl {meta['status']}, {meta['ids_ok']} videos ok, "
                f"{meta['ids_not_found']} not found, {channels['channels_ok']} channels ok, "
                f"{meta['quota_units']} quota units"
                + (f", then {len(outcome.assets_of(DBT_OP))} dbt assets built" if job == "youtube_daily" else "")
            )
            emulator.advance_days(1)
    finally:
        emulator.stop()
    with read_connection(demo.warehouse, timeout_s=demo.settings.lock_timeout_s) as con:
        answers = {}
        for name in YOUTUBE_ANALYSES:
            cursor = con.execute(analysis_sql(name, dbt_project.manifest_path))
            title = analysis_title(name, dbt_project.manifest_path)
            answers[title] = ([d[0] for d in cursor.description], cursor.fetchall())
    history, fastest, quota = answers.values()
    demo.console.print(f"  view history of the most viewed video: {len(history[1])} snapshots (marts.video_growth)")
    if fastest[1]:
        top = dict(zip(fastest[0], fastest[1][0]))
        demo.console.print(f"  fastest-growing video this week: {top['video_title']} "
                           f"(+{top['views_gained']:,} views, {top['views_per_day']:,.0f}/day)")
    units = sum(row[quota[0].index("quota_units")] or 0 for row in quota[1])
    demo.console.print(f"  quota used: {units:,} units over {len(quota[1])} API days (marts.quota_usage_daily)")
    if demo.verbose:  # the three answers in full (the queries: dbt_project/analyses/)
        for title, (columns, rows) in answers.items():
            table = Table(*columns, title=title, title_justify="left")
            for row in rows[:10]:
                table.add_row(*("NULL" if v is None else str(v) for v in row))
            demo.console.print(table)


def hypothesis_tests(demo: DemoRun) -> None:
    """The pre-declared hypothesis tests (job ml_hypotheses); the report stages show them."""
    meta = demo.run("ml_hypotheses").metadata["ml/hypotheses"]
    demo.console.print(
        f"  {meta['tested']} hypotheses tested on {meta['rows']} rows ({meta['supported']} supported), "
        f"{meta['not_testable']} not testable; ml.hypothesis_tests run {meta['run_id']}",
        soft_wrap=True,
    )


def train_suite(suite: str) -> Stage:
    """A stage that trains every family of `suite` (one Dagster run: job ml_<suite>) and rebuilds the report."""

    def stage(demo: DemoRun) -> None:
        outcome = demo.run(f"ml_{suite}")
        for name, family in FAMILIES.items():
            if family.suite != suite:
                continue
            meta = outcome.metadata.get(f"ml/{name}", {})
            records = meta.get("runs", [])
            demo.console.print(
                f"  ml/{name:22s} {len(records):3d} runs in {meta.get('seconds', 0):6.1f}s{_not_succeeded(records)}"
            )
        report = outcome.metadata["ml/report"]
        demo.console.print(
            f"  honest protocol: {report['honest_models_beating_baseline']} of {report['honest_models']} models "
            f"beat their trivial baseline\n  report: {report['report']}",
            soft_wrap=True,
        )

    return stage


def forecast_growth(demo: DemoRun) -> None:
    """ml/forecasts on the crawled days: the model against both baselines (docs/forecasting.md)."""
    meta = demo.run("ml_forecasts").metadata["ml/forecasts"]
    demo.console.print(f"  {meta['forecasts']} forecasts in ml.forecasts, horizons {meta['horizons']} days "
                       f"({meta['status']}, {meta.get('folds', 0)} rolling-origin folds)", soft_wrap=True)
    for h in meta["horizons"]:
        errors = ", ".join(f"{m} {meta[f'h{h}/{m}/mdae']:.4f}" for m in ("gradient_boosting", "last_rate", "rate_decay")
                           if f"h{h}/{m}/mdae" in meta)
        demo.console.print(f"  {h} d ahead, median abs log error: {errors}")


def _suite_title(suite: str) -> str:
    names = ", ".join(n for n, f in FAMILIES.items() if f.suite == suite)
    return f"Train the {suite} models ({names}) and rebuild the ML report"


# The stages before ML: everything the YouTube answers (README, "Three questions") depend on.
DATA_STAGES: list[tuple[str, Stage]] = [
    ("Start from a fresh warehouse", fresh_warehouse),
    ("Ingest the Kaggle sample", ingest_sample),
    ("Build the dbt models", build_models),
    (f"Crawl {EMULATED_DAYS} emulated days of YouTube snapshots, build the growth models", crawl_emulated_days),
]
STAGES: list[tuple[str, Stage]] = [
    *DATA_STAGES,
    ("Test the pre-declared hypotheses (ml/hypotheses)", hypothesis_tests),
    ("Forecast views from the crawled history (ml/forecasts)", forecast_growth),
    *((_suite_title(suite), train_suite(suite)) for suite in SUITES),
]


def run_demo(settings: Settings, console: Console, verbose: bool = False) -> None:
    from orchestration.runlog import new_log_path

    demo = DemoRun(settings, console, new_log_path(settings.warehouse, "demo"), verbose)
    started = time.perf_counter()
    console.print(f"[bold]tunehouse demo[/bold] → {demo.warehouse}")
    console.print(f"  log: {demo.log_file}" + ("" if verbose else " (--verbose shows it here too)"), soft_wrap=True)
    for title, stage in STAGES:
        t0 = time.perf_counter()
        console.print(f"[bold cyan]▶ {title}[/bold cyan]")
        stage(demo)
        console.print(f"  done in {time.perf_counter() - t0:.1f}s")
    console.print(
        f"\n[bold green]Demo finished in {time.perf_counter() - started:.0f}s.[/bold green]\n"
        f"  Warehouse: {demo.warehouse}\n"
        f"  Run log:   {demo.log_file}\n"
        '  Query it:  .venv/bin/tunehouse sql "select count(*) from marts.dim_tracks"\n'
        "  Open the UI (asset graph, runs, metadata): make ui   → http://127.0.0.1:3000",
        soft_wrap=True,
    )
