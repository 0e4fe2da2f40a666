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
                                 "https://www.youtube.com/channel/UCabcdefghijklmnopqrstuv", "not a url"])
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
    assert {("staging.stg_tracks",), ("marts.dim_tracks",), ("marts.track_features",)} <= tables
    assert not [t for (t,) in tables if t.startswith("main")]


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
