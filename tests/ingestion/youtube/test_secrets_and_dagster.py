"""The API key never shows up: logs, exceptions, tables, Dagster events. And the Dagster wiring."""

from __future__ import annotations

import logging

import dagster as dg
import duckdb
import pytest

from ingestion.youtube import CrawlError, crawl
from ingestion.youtube.emulator import Faults
from orchestration.assets.youtube import crawl_youtube, daily_job, daily_schedule
from orchestration.resources import WarehouseResource, YouTubeApiResource

from ._support import options

pytestmark = pytest.mark.xdist_group("youtube_crawl")

SECRET = "tunehouse-test-SECRET-do-not-leak-9f8e7d"  # fake; only its value is redacted


def all_text_in_warehouse(warehouse) -> str:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() UNION ALL "
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
        chunks = []
        for schema, table in tables:
            chunks.append(str(con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()))
        return "\n".join(chunks)
    finally:
        con.close()


def test_key_never_in_logs_exceptions_or_tables(built_warehouse, emulator_for, caplog):
    emulator = emulator_for(Faults(server_error_rate=0.2, rate_limit_rate=0.1, drop_rate=0.05), api_keys={SECRET})
    caplog.set_level(logging.DEBUG)  # urllib3 prints every request URL at DEBUG
    for name in ("urllib3", "urllib3.connectionpool", "requests"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    result = crawl(built_warehouse, SECRET, options(emulator))
    assert result.complete
    assert "GET /youtube/v3/videos?" in caplog.text  # the URLs were logged ...
    assert "GET /youtube/v3/channels?" in caplog.text  # (the channel phase's too, issue #14)
    assert "key=REDACTED" in caplog.text               # ... with the key replaced
    assert result.channels_ok > 0
    # A rejected key (the emulator now wants another one) fails with a clean message.
    emulator.state.api_keys = {"another-key"}
    emulator.advance_days(1)
    with pytest.raises(CrawlError) as info:
        crawl(built_warehouse, SECRET, options(emulator))
    texts = [caplog.text, str(info.value), repr(info.value), all_text_in_warehouse(built_warehouse)]
    assert info.value.__cause__ is None
    assert not any(SECRET in t for t in texts)


def test_crawl_asset_in_dagster_reports_metadata_and_never_the_key(built_warehouse, emulator_for, monkeypatch):
    emulator = emulator_for(Faults(server_error_rate=0.1), api_keys={SECRET})
    monkeypatch.setenv("YOUTUBE_API_KEY", SECRET)
    instance = dg.DagsterInstance.ephemeral()
    # The key reaches the asset through the resource, from the environment (never run config).
    resources = {"warehouse": WarehouseResource(database=str(built_warehouse)),
                 "youtube": YouTubeApiResource(api_key=dg.EnvVar("YOUTUBE_API_KEY"))}
    run_config = {"ops": {"crawl_youtube": {"config": {"base_url": emulator.base_url, "concurrency": 2}}}}
    result = dg.materialize([crawl_youtube], resources=resources, instance=instance, run_config=run_config)
    assert result.success
    # A run without a partition records the crawl under its API day and materializes the
    # assets unpartitioned too (the output the dbt models downstream wait for): same metadata.
    by_partition = {m.partition: {k: v.value for k, v in m.metadata.items()}
                    for m in result.asset_materializations_for_node("crawl_youtube")
                    if m.asset_key == dg.AssetKey(["raw", "youtube_snapshots"])}
    meta = by_partition[None]
    assert set(by_partition) == {None, meta["api_day"]} and by_partition[meta["api_day"]] == meta
    con = duckdb.connect(str(built_warehouse), read_only=True)
    ok, not_found, units = con.execute(
        "SELECT count(*) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE status = 'not_found'), "
        "(SELECT sum(quota_units) FROM raw.quota_ledger) FROM raw.youtube_snapshots").fetchall()[0]
    con.close()
    assert (meta["ids_ok"], meta["ids_not_found"], meta["quota_units"]) == (ok, not_found, units)
    assert meta["api_calls"] == units and meta["status"] == "completed" and meta["duration_s"] >= 0
    # The channel snapshots are materialized by the same run, with their own counts (issue #14).
    channel_meta = {m.partition: {k: v.value for k, v in m.metadata.items()}
                    for m in result.asset_materializations_for_node("crawl_youtube")
                    if m.asset_key == dg.AssetKey(["raw", "channel_snapshots"])}
    assert set(channel_meta) == {None, meta["api_day"]}
    con = duckdb.connect(str(built_warehouse), read_only=True)
    channels_ok, channels_not_found, expected = con.execute(
        "SELECT count(*) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE status = 'not_found'), "
        "(SELECT count(DISTINCT channel_id) FROM raw.youtube_snapshots WHERE status = 'ok') "
        "FROM raw.channel_snapshots").fetchall()[0]
    con.close()
    cmeta = channel_meta[None]
    assert (cmeta["channels_ok"], cmeta["channels_not_found"], cmeta["channels_requested"]) == (
        channels_ok, channels_not_found, expected)
    assert cmeta["dagster/partition_row_count"] == channels_ok + channels_not_found == expected > 0
    assert cmeta["quota_units"] == units and cmeta["status"] == "completed"

    # A failing run (key rejected): the failure event has the reason, not the key.
    emulator.state.api_keys = {"another-key"}
    emulator.advance_days(1)
    failed = dg.materialize([crawl_youtube], resources=resources, instance=instance, run_config=run_config,
                            raise_on_error=False)
    assert not failed.success
    failure = failed.get_step_failure_events()[0].step_failure_data.error
    assert "API_KEY_INVALID" in failure.message
    events = [str(record) for run in (result, failed) for record in instance.all_logs(run.run_id)]
    assert events and not any(SECRET in e for e in events)
    runs = [str(instance.get_run_by_id(run.run_id)) for run in (result, failed)]
    assert not any(SECRET in r for r in runs)


def test_crawl_without_a_key_fails_with_the_reason(built_warehouse, monkeypatch):
    monkeypatch.delenv("YOUTUBE_API_KEY", raising=False)
    resources = {"warehouse": WarehouseResource(database=str(built_warehouse)), "youtube": YouTubeApiResource()}
    failed = dg.materialize([crawl_youtube], resources=resources, raise_on_error=False)
    assert not failed.success
    assert "YOUTUBE_API_KEY is not set" in failed.get_step_failure_events()[0].step_failure_data.error.message


def test_daily_schedule_crawls_then_builds_the_snapshot_models(tmp_path):
    assert daily_schedule.job_name == daily_job.name == "youtube_daily"
    assert daily_schedule.execution_timezone == "America/Los_Angeles"
    from orchestration.definitions import build_definitions
    from tunehouse.settings import load_settings

    defs = build_definitions(load_settings(warehouse=tmp_path / "w.duckdb"))
    job = defs.resolve_job_def("youtube_daily")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert {"raw/youtube_snapshots", "marts/fct_video_snapshots", "marts/video_growth", "marts/dim_videos",
            "marts/track_features"} <= keys
    assert "raw/kaggle_tracks" not in keys
    graph = defs.resolve_asset_graph()
    upstream = graph.get(dg.AssetKey(["raw", "youtube_snapshots"])).parent_keys
    assert dg.AssetKey(["intermediate", "int_kaggle_videos"]) in upstream  # the model the crawl's targets come from
    fct_parents = graph.get(dg.AssetKey(["marts", "fct_video_snapshots"])).parent_keys
    assert dg.AssetKey(["staging", "stg_youtube_snapshots"]) in fct_parents
    stg_parents = graph.get(dg.AssetKey(["staging", "stg_youtube_snapshots"])).parent_keys
    assert dg.AssetKey(["raw", "youtube_snapshots"]) in stg_parents
