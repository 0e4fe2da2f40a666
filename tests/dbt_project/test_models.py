"""dbt models on real dbt runs: video ids, flags, features, latest load, schemas."""

from __future__ import annotations

import csv
import math
import re
import shutil

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.kaggle_csv import ingest_csv
from ingestion.sample import HEADER, generate_rows
from orchestration.dbt import run_dbt
from tunehouse.settings import DBT_PROJECT_DIR

CHILDREN_ACTS = {"CoComelon", "Super Simple Songs", "The Wiggles", "The Kiboomers", "Raffi", "Kidz Bop Kids"}


def _query(path, sql, params=None):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module")
def video_id_sql(tmp_path_factory) -> str:
    """The youtube_video_id macro compiled by dbt itself, as a DuckDB expression over `url`."""
    import os

    from dbt.cli.main import dbtRunner

    target = tmp_path_factory.mktemp("compile")
    os.environ["TUNEHOUSE_WAREHOUSE"] = str(target / "compile.duckdb")  # compile opens a connection
    result = dbtRunner().invoke([
        "compile", "--inline", "select {{ youtube_video_id('url') }} as video_id",
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target), "--quiet",
    ])
    assert result.success, result.exception
    return result.result.results[0].node.compiled_code


VIDEO_ID = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=11, max_size=11)
PARAM = st.tuples(st.sampled_from(["list", "t", "feature", "index", "ab_channel"]),
                  st.text(alphabet="abcXYZ0123456789", min_size=1, max_size=12))


@settings(max_examples=200, deadline=None)
@given(
    video_id=VIDEO_ID,
    form=st.sampled_from(["watch", "watch_later_v", "short", "shorts", "embed", "mobile", "nocookie"]),
    before=st.lists(PARAM, max_size=2),
    after=st.lists(PARAM, max_size=2),
    scheme=st.sampled_from(["https://", "http://", ""]),
)
def test_video_id_is_parsed_from_every_common_url_form(video_id_sql, video_id, form, before, after, scheme):
    query = "&".join(f"{k}={v}" for k, v in after)
    url = {
        "watch": f"{scheme}www.youtube.com/watch?v={video_id}" + (f"&{query}" if query else ""),
        "watch_later_v": f"{scheme}www.youtube.com/watch?"
        + "&".join([*(f"{k}={v}" for k, v in before), f"v={video_id}", *(f"{k}={v}" for k, v in after)]),
        "short": f"{scheme}youtu.be/{video_id}" + (f"?{query}" if query else ""),
        "shorts": f"{scheme}www.youtube.com/shorts/{video_id}" + (f"?{query}" if query else ""),
        "embed": f"{scheme}www.youtube.com/embed/{video_id}" + (f"?{query}" if query else ""),
        "mobile": f"{scheme}m.youtube.com/watch?v={video_id}" + (f"&{query}" if query else ""),
        "nocookie": f"{scheme}www.youtube-nocookie.com/embed/{video_id}",
    }[form]
    (got,) = duckdb.execute(f"{video_id_sql} from (select ?::varchar as url)", [url]).fetchone()
    assert got == video_id


@pytest.mark.parametrize("url", [None, "", "https://www.youtube.com/", "https://www.youtube.com/watch?v=short",
                                 "https://www.youtube.com/channel/UCabcdefghijklmnopqrstuv", "not a url",
                                 "https://youtuXbe/abcdefghijk"])
def test_urls_without_a_video_give_null(video_id_sql, url):
    assert duckdb.execute(f"{video_id_sql} from (select ?::varchar as url)", [url]).fetchone() == (None,)


def test_marts_match_the_csv(built_warehouse, sample_csv):
    with sample_csv.open(encoding="utf-8", newline="") as fh:
        source = list(csv.DictReader(fh))
    rows = _query(
        built_warehouse,
        "SELECT d.track_id, d.artist, d.is_children, d.is_official_video, d.has_youtube_video, "
        "f.views, f.log_views, f.log_stream, f.published_year, d.video_id "
        "FROM marts.dim_tracks d JOIN marts.track_features f USING (track_id) ORDER BY track_id",
    )
    assert len(rows) == len(source)
    for row, src in zip(rows, source, strict=True):
        assert row[1] == src["Artist"]
        assert row[2] == (src["Artist"] in CHILDREN_ACTS)
        assert row[3] == (src["official_video"] == "True")
        assert row[4] == bool(src["Url_youtube"])
        views = int(float(src["Views"])) if src["Views"] else None
        assert row[5] == views
        assert (row[6] is None) if views is None else math.isclose(row[6], math.log1p(views))
        if src["Stream"]:
            assert math.isclose(row[7], math.log1p(int(src["Stream"])))
        assert row[8] is None  # no crawl yet: never faked
        expected_id = re.search(r"v=([A-Za-z0-9_-]{11})", src["Url_youtube"])
        assert row[9] == (expected_id.group(1) if expected_id else None)


def test_models_land_in_plain_schemas(built_warehouse):
    tables = set(_query(built_warehouse, "SELECT table_schema || '.' || table_name FROM information_schema.tables"))
    assert {("staging.stg_tracks",), ("staging.stg_data_version",), ("marts.dim_tracks",),
            ("marts.track_features",), ("marts.track_stream_gap",)} <= tables
    # Intermediate models have a schema of their own, and nothing is left in staging.
    assert {("intermediate.int_kaggle_videos",), ("intermediate.int_children_music_acts",)} <= tables
    assert not [t for (t,) in tables if t.startswith("staging.int_")]
    assert not [t for (t,) in tables if t.startswith("main")]


def _csv_records(sample_csv) -> list[dict]:
    with sample_csv.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _count(value: str) -> int | None:
    return int(float(value)) if value else None


def test_latest_counts_and_stream_gap_without_a_crawl_are_the_kaggle_counts(built_warehouse, sample_csv):
    source = _csv_records(sample_csv)
    rows = _query(
        built_warehouse,
        "SELECT view_count, like_count, comment_count, count_source, log_view_count, stream_gap, "
        "delta_views, delta_likes, delta_comments FROM marts.track_features ORDER BY track_id",
    )
    assert len(rows) == len(source)
    for row, src in zip(rows, source, strict=True):
        views, likes, comments, stream = (_count(src[c]) for c in ("Views", "Likes", "Comments", "Stream"))
        assert row[:4] == (views, likes, comments, "kaggle")
        assert (row[4] is None) if views is None else math.isclose(row[4], math.log1p(views))
        assert row[5] == (None if views is None or stream is None else stream - views)
        assert row[6:] == (None, None, None)  # no crawl: no deltas, never faked


def test_stream_gap_mart_has_the_studys_population_mean_and_label(built_warehouse, sample_csv):
    source = _csv_records(sample_csv)
    gaps = {}
    for track_id, src in enumerate(source, start=1):
        views, stream = _count(src["Views"]), _count(src["Stream"])
        gaps[track_id] = (src["official_video"] == "True", None if views is None or stream is None else stream - views)
    population = [gap for official, gap in gaps.values() if official and gap is not None]
    mean = sum(population) / len(population)
    rows = _query(
        built_warehouse,
        "SELECT track_id, stream_gap, is_in_study_population, study_population_size, study_mean_stream_gap, "
        "is_stream_gap_above_study_mean FROM marts.track_stream_gap ORDER BY track_id",
    )
    assert len(rows) == len(source)
    for track_id, gap, in_population, size, row_mean, label in rows:
        official, expected_gap = gaps[track_id]
        assert gap == expected_gap
        assert in_population == (official and expected_gap is not None)
        assert size == len(population)
        assert math.isclose(row_mean, mean, rel_tol=1e-12)
        # The study: y_binary = gap > floor(mean); the same for integer gaps.
        assert label == ((expected_gap > math.floor(mean)) if in_population else None)
    assert 0 < sum(1 for r in rows if r[5]) < len(population)


def test_data_version_is_the_latest_load_and_no_crawl(built_warehouse, sample_csv):
    import hashlib

    sha = hashlib.sha256(sample_csv.read_bytes()).hexdigest()
    assert _query(built_warehouse, "SELECT * FROM staging.stg_data_version") == [
        (1, sample_csv.name, sha, None, None)
    ]


def test_data_version_follows_the_latest_published_crawl(built_warehouse):
    """The marts read published crawls only: a later abandoned, rejected or paused crawl is not
    the data version, however recently it finished."""
    con = duckdb.connect(str(built_warehouse))
    for crawl_id, finished, status, publish_seq in (
            ("c-old", "2023-02-08 01:00:00+00", "completed", 10),
            ("c-pub", "2023-02-08 03:00:00+00", "completed", 20),
            ("c-new", "2023-02-09 02:30:00+00", "abandoned", None),
            ("c-rej", "2023-02-09 04:00:00+00", "rejected", None),
            ("c-open", None, "paused", None)):
        con.execute(
            "INSERT INTO raw.crawl_runs (crawl_id, load_id, base_url, started_at, finished_at, updated_at, status, "
            "invocations, ids_requested, batches_total, ids_ok, ids_not_found, api_calls, quota_units, "
            "published_at, publish_seq) "
            "VALUES (?, 1, 'http://x', TIMESTAMPTZ '2023-02-08 00:00:00+00', ?::TIMESTAMPTZ, now(), ?, 1, 0, 0, 0, 0, "
            "0, 0, CASE WHEN ? IS NULL THEN NULL ELSE ?::TIMESTAMPTZ END, ?)",
            [crawl_id, finished, status, publish_seq, finished, publish_seq],
        )
    con.close()
    before = _query(built_warehouse, "SELECT crawl_id FROM staging.stg_data_version")
    assert before == [(None,)]  # a table: what the last build saw, not what raw holds now
    run_dbt(["run", "--select", "stg_data_version"], built_warehouse)
    from datetime import datetime

    assert _query(built_warehouse, "SELECT crawl_id, crawl_finished_at FROM staging.stg_data_version") == [
        ("c-pub", datetime(2023, 2, 8, 3, 0))
    ]


def test_an_old_layout_warehouse_builds_and_loses_its_stale_views(built_warehouse):
    """Before issue #8 the intermediate models were views in `staging` and the video baseline
    was called int_kaggle_video_baseline; a plain build drops those and nothing else."""
    con = duckdb.connect(str(built_warehouse))
    con.execute("DROP SCHEMA intermediate CASCADE")
    # The old views, one of them broken the way a stale view breaks (a column gone).
    con.execute("CREATE VIEW staging.int_children_music_acts AS SELECT lower(name) AS name_key, match_on "
                "FROM staging.children_music_acts")
    con.execute("CREATE VIEW staging.int_kaggle_video_baseline AS SELECT video_id, no_such_column FROM "
                "(SELECT video_id, 1 AS no_such_column FROM staging.stg_tracks)")
    con.execute("CREATE VIEW staging.my_own_notes AS SELECT 1 AS kept")  # not the project's: kept
    con.close()
    run_dbt(["build"], built_warehouse)
    names = {r for (r,) in _query(built_warehouse,
                                  "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                                  "WHERE table_schema IN ('staging', 'intermediate')")}
    assert "staging.int_children_music_acts" not in names
    assert "staging.int_kaggle_video_baseline" not in names
    assert {"intermediate.int_children_music_acts", "intermediate.int_kaggle_videos", "staging.my_own_notes"} <= names


def test_downstream_models_follow_the_latest_load(tmp_path, monkeypatch):
    warehouse = tmp_path / "w.duckdb"
    rows = generate_rows(80, seed=13)
    paths = []
    for name, subset in (("v1.csv", rows[:70]), ("v2.csv", rows)):
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(subset)
        paths.append(path)
    ingest_csv(paths[0], warehouse)
    ingest_csv(paths[1], warehouse)
    run_dbt(["build"], warehouse)
    assert _query(warehouse, "SELECT count(*), max(load_id) FROM marts.dim_tracks") == [(80, 2)]
    ingest_csv(paths[0], warehouse)  # the old version again: it becomes the latest
    run_dbt(["build"], warehouse)
    assert _query(warehouse, "SELECT count(*), max(load_id) FROM marts.dim_tracks") == [(70, 1)]


@pytest.mark.real_data
def test_real_data_marts(real_csv, tmp_path):
    warehouse = tmp_path / "real.duckdb"
    ingest_csv(real_csv, warehouse)
    run_dbt(["build"], warehouse)
    (facts,) = _query(
        warehouse,
        "SELECT count(*), count(*) FILTER (is_official_video), count(video_id), count(DISTINCT video_id), "
        "count(*) FILTER (artist = 'CoComelon' AND is_children), count(DISTINCT artist) FILTER (is_children) "
        "FROM marts.dim_tracks",
    )
    assert facts[:5] == (20718, 15723, 20233, 18139, 10)
    assert facts[5] >= 5  # CoComelon and the other children's acts of the seed
    children = {a for (a,) in _query(warehouse, "SELECT DISTINCT artist FROM marts.dim_tracks WHERE is_children")}
    assert {"CoComelon", "Super Simple Songs", "The Kiboomers", "The Wiggles"} <= children
    assert _query(warehouse, "SELECT count(*) FROM marts.track_features") == [(20718,)]
