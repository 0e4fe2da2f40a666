"""`make demo`: the whole pipeline on the built-in sample, stage by stage.

Each stage is a function (warehouse path, console) -> None; later issues append theirs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from orchestration.runner import run_job

Stage = Callable[[Path, Console], None]


def ingest_sample(warehouse: Path, console: Console) -> None:
    outcome = run_job("ingest_kaggle")
    meta = outcome.metadata["raw/kaggle_tracks"]
    console.print(
        f"  {meta['source_file']}: load {meta['load_id']}, {meta['dagster/row_count']} rows, "
        f"{meta['rows_quarantined']} quarantined"
    )


def build_models(warehouse: Path, console: Console) -> None:
    outcome = run_job("dbt_build")
    console.print(f"  {len(outcome.materialized)} dbt assets built, all dbt tests passed")


# The three questions docs/youtube.md answers over the snapshot models.
YOUTUBE_QUERIES = {
    "A video's view history (the most viewed video)": """
        select observed_at, view_count, delta_views, round(views_per_day) as views_per_day
        from marts.video_growth
        where video_id = (select video_id from marts.dim_videos order by view_count desc nulls last limit 1)
        order by observed_at
    """,
    "The fastest-growing videos over the last week": """
        select g.video_id, v.video_title, v.channel_title,
               sum(g.delta_views) as views_gained,
               round(sum(g.delta_views) / sum(g.days_since_previous)) as views_per_day,
               round(100 * sum(g.delta_views) / min(g.view_count - g.delta_views), 2) as growth_pct
        from marts.video_growth as g
        join marts.dim_videos as v using (video_id)
        where g.observed_at > (select max(observed_at) from marts.video_growth) - interval 7 day
          and g.delta_views is not null
        group by all
        order by views_gained desc
        limit 5
    """,
    "Quota used per API day (Pacific)": """
        select api_day, crawls, api_calls, quota_units, share_of_default_quota
        from marts.quota_usage_daily
        order by api_day
    """,
}
EMULATED_DAYS = 8


def crawl_emulated_days(warehouse: Path, console: Console) -> None:
    """Emulated YouTube API on loopback, one crawl per emulated day, then the growth models."""
    import os

    from rich.table import Table

    from ingestion.youtube.emulator import DEFAULT_API_KEY, EmulatorServer, Faults, VideoUniverse, load_seed_videos
    from warehouse import read_connection
    from tunehouse.settings import get_settings

    seeds = load_seed_videos(warehouse)
    key_before = os.environ.get("YOUTUBE_API_KEY")
    os.environ["YOUTUBE_API_KEY"] = DEFAULT_API_KEY  # the emulator's key, for this stage only
    get_settings.cache_clear()
    # A few injected faults show the retries at work; the clock moves one day per crawl.
    emulator = EmulatorServer(VideoUniverse(seeds), faults=Faults(server_error_rate=0.02, rate_limit_rate=0.01))
    try:
        emulator.start()
        console.print(f"  emulator on {emulator.base_url} serving {len(seeds)} videos")
        config = {"ops": {"crawl_youtube": {"config": {"base_url": emulator.base_url}}}}
        for day in range(1, EMULATED_DAYS + 1):
            job = "youtube_daily" if day == EMULATED_DAYS else "youtube_crawl"
            meta = run_job(job, config).metadata["raw/youtube_snapshots"]
            console.print(
                f"  day {day} ({emulator.now():%Y-%m-%d}): crawl {meta['status']}, {meta['ids_ok']} ok, "
                f"{meta['ids_not_found']} not found, {meta['quota_units']} quota units"
                + (", then the growth models built" if job == "youtube_daily" else "")
            )
            emulator.advance_days(1)
    finally:
        emulator.stop()
        if key_before is None:
            os.environ.pop("YOUTUBE_API_KEY", None)
        else:
            os.environ["YOUTUBE_API_KEY"] = key_before
        get_settings.cache_clear()
    with read_connection(warehouse) as con:
        for title, sql in YOUTUBE_QUERIES.items():
            cursor = con.execute(sql)
            table = Table(*[d[0] for d in cursor.description], title=title, title_justify="left")
            for row in cursor.fetchall()[:10]:
                table.add_row(*("NULL" if v is None else str(v) for v in row))
            console.print(table)


def train_deep_models(warehouse: Path, console: Console) -> None:
    """ML suite II: autoencoder/VAE clustering, TabNet, TabTransformer, TabPFN (both protocols)."""
    outcome = run_job("train_deep")
    for asset in ("ml/autoencoder_clusters", "ml/vae_clusters", "ml/tabnet", "ml/tab_transformer", "ml/tabpfn"):
        meta = outcome.metadata.get(asset, {})
        for key, status in sorted(meta.items()):
            if not key.endswith("/status"):
                continue
            prefix = key[: -len("/status")]
            headline = next(
                (f"{name.split('/')[-1]} {meta[name]:.3f}" for name in sorted(meta)
                 if name.startswith(prefix + "/") and name.endswith(("/r2", "/accuracy", "/silhouette"))
                 and name.split("/")[2] in ("test", "cv_mean", "full")),
                "",
            )
            console.print(f"  {prefix:40s} {headline:18s} {status if status != 'succeeded' else ''}")


def train_classical_models(warehouse: Path, console: Console) -> None:
    """ML suite I: clustering, regression, classification, tuning (both protocols), then the HTML report."""
    outcome = run_job("ml_classical")
    for family in ("clustering", "regression", "classification", "tuning"):
        meta = outcome.metadata.get(f"ml/{family}", {})
        console.print(f"  ml/{family:15s} {len(meta.get('run_ids', []))} runs in {meta.get('seconds', 0):.0f}s")
    report = outcome.metadata["ml/report"]
    console.print(
        f"  honest protocol: {report['honest_models_beating_baseline']} of {report['honest_models']} models "
        f"beat their trivial baseline\n  report: {report['report']}"
    )


STAGES: list[tuple[str, Stage]] = [
    ("Ingest the Kaggle sample", ingest_sample),
    ("Build the dbt models", build_models),
    (f"Crawl {EMULATED_DAYS} emulated days of YouTube snapshots, build the growth models", crawl_emulated_days),
    ("Train the deep models (autoencoder/VAE, TabNet, TabTransformer, TabPFN)", train_deep_models),
    ("Train the classical models and build the ML report", train_classical_models),
]


def run_demo(warehouse: Path, console: Console) -> None:
    started = time.perf_counter()
    console.print(f"[bold]tunehouse demo[/bold] → {warehouse}")
    for title, stage in STAGES:
        t0 = time.perf_counter()
        console.print(f"[bold cyan]▶ {title}[/bold cyan]")
        stage(warehouse, console)
        console.print(f"  done in {time.perf_counter() - t0:.1f}s")
    console.print(
        f"\n[bold green]Demo finished in {time.perf_counter() - started:.0f}s.[/bold green]\n"
        f"  Warehouse: {warehouse}\n"
        '  Query it:  .venv/bin/tunehouse sql "select count(*) from marts.dim_tracks"\n'
        "  Open the UI (asset graph, runs, metadata): make ui   → http://127.0.0.1:3000"
    )
