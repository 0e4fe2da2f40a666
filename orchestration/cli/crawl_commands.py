"""tunehouse crawl | emulator."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestration.cli.app import UserError, VerboseOption, WarehouseOption, app, command_settings


@app.command()
def crawl(
    daily_budget: Annotated[
        int | None,
        typer.Option("--budget", min=1, help="Quota units per API day (default: TUNEHOUSE_CRAWL_DAILY_BUDGET).",
                     show_default=False),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=32, help="Calls in flight (default: TUNEHOUSE_CRAWL_CONCURRENCY).",
                     show_default=False),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="API base URL, e.g. the emulator's (default: TUNEHOUSE_YOUTUBE_BASE_URL).",
                     show_default=False),
    ] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Abandon an unfinished crawl instead of resuming it.")] = False,
    build: Annotated[
        bool, typer.Option("--build", help="Then build the dbt models downstream of the snapshots.")
    ] = False,
    warehouse: WarehouseOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Snapshot every video of the latest Kaggle load, then their channels (key from YOUTUBE_API_KEY); resumes a paused crawl."""
    import os

    from orchestration.assets.dbt import DBT_OP
    from orchestration.definitions import YOUTUBE_API_KEY_VAR
    from orchestration.runlog import new_log_path
    from orchestration.runner import run_job

    settings = command_settings(warehouse)
    # The Dagster resource reads the key from the environment itself; check it first for a clear message.
    if not os.environ.get(YOUTUBE_API_KEY_VAR):
        raise UserError(
            f"{YOUTUBE_API_KEY_VAR} is not set: export a YouTube Data API v3 key, or run `tunehouse emulator` "
            "and crawl it with YOUTUBE_API_KEY=emulator-key --base-url http://127.0.0.1:8765/youtube/v3"
        )
    config = {
        k: v
        for k, v in {"daily_budget": daily_budget, "concurrency": concurrency, "base_url": base_url,
                     "fresh": fresh or None}.items()
        if v is not None
    }
    log = new_log_path(settings.warehouse, "crawl")
    outcome = run_job("youtube_daily" if build else "youtube_crawl", settings,
                      {"ops": {"crawl_youtube": {"config": config}}}, log_file=log, verbose=verbose)
    meta = outcome.metadata["raw/youtube_snapshots"]
    channels = outcome.metadata.get("raw/channel_snapshots", {})
    typer.echo(
        f"crawl {meta['crawl_id']} {meta['status']}"
        + (f" ({meta['stop_reason']})" if meta["stop_reason"] else "")
        + f": videos {meta['ids_ok']} ok, {meta['ids_not_found']} not found; "
        f"channels {channels.get('channels_ok', 0)} ok, {channels.get('channels_not_found', 0)} not found; "
        f"{meta['api_calls']} API calls, {meta['quota_units']} quota units, {meta['duration_s']}s; "
        f"video batches {meta['batches_done']}/{meta['batches_total']}, channel batches "
        f"{channels.get('channel_batches_done', 0)}/{channels.get('channel_batches_total', 0)} done → {settings.warehouse}"
    )
    if meta["status"] == "paused":
        typer.echo("  run `tunehouse crawl` again (e.g. after midnight Pacific) to resume it")
    if build:
        typer.echo(f"  built {len(outcome.assets_of(DBT_OP))} dbt assets downstream of the snapshots")
    typer.echo(f"  log: {log}")


@app.command()
def emulator(
    host: Annotated[str, typer.Option(help="Address to bind (keep it on loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 = any free port).")] = 8765,
    api_key: Annotated[str, typer.Option(help="The key the emulator accepts.")] = "emulator-key",
    daily_quota: Annotated[int, typer.Option(min=1, help="Quota units per emulated API day.")] = 10_000,
    latency_ms: Annotated[float, typer.Option(min=0, help="Delay added to every API request.")] = 0.0,
    server_error_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of requests answered 5xx.")] = 0.0,
    rate_limit_rate: Annotated[float, typer.Option(min=0, max=1, help="Share answered 403/429 rate limit.")] = 0.0,
    drop_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of connections dropped unanswered.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the video histories and faults.")] = 7,
    warehouse: WarehouseOption = None,
) -> None:
    """Serve a local YouTube Data API (videos.list and channels.list) seeded from the warehouse's latest Kaggle load."""
    from ingestion.youtube import TargetsUnavailable
    from ingestion.youtube.emulator import EmulatorServer, Faults, VideoUniverse, load_seed_videos

    path = command_settings(warehouse).warehouse
    try:
        seeds = load_seed_videos(path)
    except TargetsUnavailable as exc:
        raise UserError(str(exc)) from None
    if not seeds:
        raise UserError(f"{path}: the latest Kaggle load has no YouTube video ids to emulate")
    try:
        server = EmulatorServer(
            VideoUniverse(seeds, seed=seed), host=host, port=port, api_keys={api_key}, daily_quota=daily_quota,
            faults=Faults(server_error_rate, rate_limit_rate, drop_rate, latency_ms / 1000), seed=seed,
        )
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    root = server.root_url
    typer.echo(
        f"YouTube API emulator: {len(seeds)} videos from {path}\n"
        f"  base URL   {server.base_url}\n"
        f"  crawl it   YOUTUBE_API_KEY={api_key} tunehouse crawl --base-url {server.base_url}\n"
        f"  next day   curl -X POST {root}/_emulator/clock -d '{{\"advance_days\": 1}}'\n"
        f"  stats      curl {root}/_emulator/stats\n"
        "Ctrl-C stops it."
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop_serving()
