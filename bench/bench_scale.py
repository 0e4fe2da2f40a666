"""Scale-out: the incremental build after one new daily crawl, on DuckDB and on Spark local[2].

Synthetic data at scale, written straight into the raw tables (the crawler is not what is
measured) and exported to the Parquet landing zone: one published Kaggle load of VIDEOS
tracks (one video each) and daily published crawls of all VIDEOS videos. For each history
N (10, 30, 90 crawls by default) the models are brought up to date, crawl N+1 arrives, and
the incremental build of everything downstream of the snapshots is timed, side by side on
both engines: dbt's own time for the models (`dbt run`), then for their tests (`dbt test`,
which check whole tables), rows/s = new snapshots / model seconds. The state is reused from
one N to the next (crawls up to the next N are added and built untimed).

Targets (issue #13, 2 cores): DuckDB models ≤ 30 s after crawl 31 of 1 M videos, and at
N = 90 at most 1.3× the time at N = 30 (the cost follows the new rows, not the history).
Spark has no time target: it must finish the same build.

Run (the lead runs it at full size, alone on the machine):
    .venv/bin/python -m bench.bench_scale                       # 1 M videos, N = 10, 30, 90, both engines
    .venv/bin/python -m bench.bench_scale --spark-history 30    # the same, Spark timed at N = 30 only
    .venv/bin/python -m bench.bench_scale --videos 10000 --history 2,3 --engines duckdb,spark   # a quick check
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import machine

#: Everything downstream of the snapshots (what a daily build after a crawl rebuilds).
SELECT = ["--select", "int_kaggle_videos stg_youtube_snapshots+ stg_crawl_runs+ stg_quota_ledger+"]
#: The synthetic tracks share no artist, Spotify URI or video: one round of int_track_groups'
#: label propagation is exact (and the timed builds do not select it anyway).
DBT_VARS = {"track_group_iterations": 1}
#: Unit tests check logic on fixed fixtures (and int_track_groups' would fail with the one
#: round above): they are not part of a build at scale.
NO_UNIT_TESTS = ["--exclude-resource-type", "unit_test"]
DAY0 = "2023-02-08"


def _video_id(expr: str) -> str:
    """An 11-character YouTube-like id from an integer expression."""
    return f"'v' || lpad(CAST({expr} AS VARCHAR), 10, '0')"


def create_load(warehouse: Path, videos: int) -> None:
    """One published Kaggle load: `videos` tracks, one video each."""
    from warehouse import ensure_schema, write_connection

    with write_connection(warehouse) as con:
        ensure_schema(con)
        con.execute(
            """INSERT INTO raw.kaggle_loads (load_id, source_file, source_path, file_sha256, file_bytes, has_description,
                   row_count, quarantined_count, loaded_at, last_ingested_at, status, published_at)
               VALUES (1, 'bench.csv', '/bench/bench.csv', 'bench', 0, false, ?, 0,
                       TIMESTAMPTZ '2023-02-07 00:00:00+00', TIMESTAMPTZ '2023-02-07 00:00:00+00',
                       'published', TIMESTAMPTZ '2023-02-07 00:00:00+00')""",
            [videos],
        )
        con.execute(
            f"""INSERT INTO raw.kaggle_tracks (load_id, source_row_number, source_index, artist, url_spotify, track, album,
                   album_type, uri, danceability, energy, key, loudness, speechiness, acousticness, instrumentalness,
                   liveness, valence, tempo, duration_ms, url_youtube, title, channel, views, likes, comments, licensed,
                   official_video, stream, source_file, file_sha256, loaded_at)
               SELECT 1, i + 1, i, 'Artist ' || i, 'https://open.spotify.com/artist/a' || i, 'Track ' || i, 'Album ' || i,
                   'single', 'spotify:track:t' || i, 0.5, 0.5, i % 12, -5.0, 0.05, 0.2, 0.0, 0.1, 0.5, 120.0, 200000,
                   'https://www.youtube.com/watch?v=' || {_video_id('i')}, 'Title ' || i, 'Channel ' || (i % 50000),
                   1000 + i % 1000000, 10 + i % 1000, i % 100, true, i % 3 = 0, 5000 + i % 10000000,
                   'bench.csv', 'bench', TIMESTAMPTZ '2023-02-07 00:00:00+00'
               FROM range({int(videos)}) AS t(i)"""
        )


def add_crawl(warehouse: Path, day: int, videos: int) -> None:
    """Crawl `day` (1-based): one snapshot per video, published, its quota in the ledger."""
    from warehouse import write_connection

    crawl_id = f"{day:04d}T000000Z-bench"
    with write_connection(warehouse) as con:
        start = f"TIMESTAMPTZ '{DAY0} 00:00:00+00' + INTERVAL ({day - 1}) DAY"
        con.execute(
            f"""INSERT INTO raw.crawl_runs (crawl_id, load_id, base_url, started_at, finished_at, updated_at, status,
                   invocations, ids_requested, batches_total, ids_ok, ids_not_found, api_calls, quota_units,
                   published_at, publish_seq)
               SELECT ?, 1, 'http://bench', {start}, {start} + INTERVAL 1 HOUR, now(), 'completed', 1, ?, ?, ?, 0, ?, ?,
                   {start} + INTERVAL 1 HOUR, ?""",
            [crawl_id, videos, -(-videos // 50), videos, -(-videos // 50), -(-videos // 50), day * 100_000 + 99_999],
        )
        # Views grow by a per-video rate every day; 0.1 % of the videos are gone on a given day.
        con.execute(
            f"""INSERT INTO raw.youtube_snapshots (video_id, crawl_id, batch_no, commit_seq, observed_at, status,
                   published_at, channel_id, channel_title, video_title, view_count, like_count, comment_count,
                   committed_at)
               SELECT {_video_id('i')}, ?, i // 50, ? + i // 50000, {start} + to_seconds(i // 50 % 3600),
                   CASE WHEN (i * 7 + ?) % 1000 = 0 THEN 'not_found' ELSE 'ok' END,
                   TIMESTAMPTZ '2020-01-01 00:00:00+00', 'UC' || (i % 50000), 'Channel ' || (i % 50000),
                   'Title ' || i || CASE WHEN (i + ?) % 5000 = 0 THEN ' (new title)' ELSE '' END,
                   1000 + i % 1000000 + ? * (1 + i % 977), 10 + i % 1000 + ?, i % 100 + ? % 7, now()
               FROM range({int(videos)}) AS t(i)""",
            [crawl_id, day * 100_000, day, day // 7, day, day, day],
        )
        con.execute("INSERT INTO raw.quota_ledger (api_day, crawl_id, api_calls, quota_units, recorded_at, entry) "
                    f"VALUES (CAST({start} AS DATE), ?, ?, ?, now(), 'spent')",
                    [crawl_id, -(-videos // 50), -(-videos // 50)])


def timed_dbt(args: list[str], warehouse: Path, engine: str, lake: Path) -> tuple[float, float, dict[str, float]]:
    """(wall s, dbt's elapsed s, seconds per node) of one dbt invocation on `engine`.

    dbt itself, as a user runs it, with one kept target folder per engine (dbt parses the
    project once); its output goes to `<data>/dbt-<engine>.log`. Raises on failure."""
    import subprocess

    from orchestration.dbt import DBT_EXECUTABLE, dbt_env, dbt_project, warehouse_vars
    from orchestration.engine import target_args, target_vars

    target = warehouse.parent / f"dbt-target-{engine}"
    command = [DBT_EXECUTABLE, "--no-use-colors", *args, *target_args(engine),
               *warehouse_vars(warehouse, {**DBT_VARS, **target_vars(engine, warehouse, lake)}),
               "--target-path", str(target), "--log-path", str(target)]
    started = time.perf_counter()
    with open(warehouse.parent / f"dbt-{engine}.log", "a", encoding="utf-8") as log:
        done = subprocess.run(command, cwd=dbt_project.project_dir, env=dbt_env(warehouse), stdout=log,
                              stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args[:1])} on {engine} failed: see {warehouse.parent / f'dbt-{engine}.log'}")
    results = json.loads((target / "run_results.json").read_text())
    nodes = {r["unique_id"].split(".")[-1]: float(r["execution_time"]) for r in results["results"]}
    return wall, float(results["elapsed_time"]), nodes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1_000_000, help="videos per crawl (and tracks)")
    parser.add_argument("--history", default="10,30,90", help="crawls of history before the timed one")
    parser.add_argument("--engines", default="duckdb,spark", help="duckdb, spark or both")
    parser.add_argument("--spark-history", default=None,
                        help="histories at which Spark is timed too (default: all of --history); Spark's models "
                        "are brought up to date before its first timed build")
    parser.add_argument("--keep", type=Path, default=None, help="keep the data in this folder (default: a temp folder)")
    args = parser.parse_args(argv)
    histories = sorted(int(h) for h in args.history.split(","))
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    spark_histories = (set(histories) if args.spark_history is None
                       else {int(h) for h in args.spark_history.split(",")})
    logging.disable(logging.INFO)

    from orchestration.engine import prepare

    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    base.mkdir(parents=True, exist_ok=True)
    warehouse, lake = base / "bench.duckdb", base / "lake"
    print(f"{args.videos:,} videos per crawl, history {histories}, engines {engines}; {machine()}; data in {base}")
    started = time.perf_counter()
    create_load(warehouse, args.videos)
    print(f"load written ({time.perf_counter() - started:.1f}s)", flush=True)
    crawls, rows, built = 0, {}, set()
    print("history | rows before | engine | models s (dbt) | new rows/s | tests s | slowest models")
    try:
        for history in histories:
            t0 = time.perf_counter()
            while crawls < history:
                crawls += 1
                add_crawl(warehouse, crawls, args.videos)
            print(f"  crawls 1..{crawls} written ({time.perf_counter() - t0:.1f}s)", flush=True)
            timed = [e for e in engines if e != "spark" or history in spark_histories]
            for engine in timed:  # bring the models up to date with `history` crawls (untimed)
                prepare(engine, warehouse, lake)
                timed_dbt(["build", *(SELECT if engine in built else []), *NO_UNIT_TESTS],
                          warehouse, engine, lake)
                built.add(engine)
            crawls += 1
            add_crawl(warehouse, crawls, args.videos)  # crawl N+1
            for engine in timed:
                sync_started = time.perf_counter()
                prepare(engine, warehouse, lake)
                sync_s = time.perf_counter() - sync_started
                wall, dbt_s, nodes = timed_dbt(["run", *SELECT], warehouse, engine, lake)
                _, test_s, _ = timed_dbt(["test", *SELECT, *NO_UNIT_TESTS], warehouse, engine, lake)
                rows[(history, engine)] = dbt_s
                slowest = ", ".join(f"{n} {s:.1f}" for n, s in sorted(nodes.items(), key=lambda kv: -kv[1])[:4])
                print(f"{history:7d} | {history * args.videos:11,d} | {engine:6s} | {dbt_s:6.1f} ({wall:6.1f} wall) | "
                      f"{args.videos / dbt_s:10,.0f} | {test_s:7.1f} | {slowest} (lake sync {sync_s:.1f}s)",
                      flush=True)
    except BaseException:
        print(f"stopped; the data and dbt's logs stay in {base}")
        raise
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)
    for engine in engines:
        if (30, engine) in rows and (90, engine) in rows:
            print(f"{engine}: N=90 / N=30 = {rows[(90, engine)] / rows[(30, engine)]:.2f}")


if __name__ == "__main__":
    main()
