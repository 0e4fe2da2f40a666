"""Datasets and protocols: filters, the count rule, leaky features, split properties."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.datasets import (
    TASKS,
    DataVersion,
    DatasetError,
    LeakyFeatureError,
    Protocol,
    TaskData,
    _derived,
    load_track_features,
    make_split,
    prepare,
)


def test_load_filters_official_videos_and_records_the_load(built_warehouse):
    import duckdb

    con = duckdb.connect(str(built_warehouse), read_only=True)
    official, children, total = con.execute(
        "SELECT count(*) FILTER (is_official_video), count(*) FILTER (is_official_video AND is_children), "
        "count(*) FROM marts.track_features").fetchall()[0]
    load = con.execute("SELECT load_id, source_file, file_sha256 FROM raw.kaggle_loads").fetchall()[0]
    con.close()
    data = load_track_features(built_warehouse)
    assert data.frame.height == official < total
    assert (data.version.kaggle_load_id, data.version.kaggle_file, data.version.kaggle_sha256) == load
    assert data.version.crawl_id is None and data.version.crawl_finished_at is None
    assert data.version.rows == official
    excluded = load_track_features(built_warehouse, children="exclude")
    assert excluded.frame.height == official - children
    assert load_track_features(built_warehouse, official_only=False).frame.height == total
    # No crawl: the Kaggle counts stand in, and say so (the rule is dbt's, in the mart).
    assert data.frame["count_source"].unique().to_list() == ["kaggle"]
    assert data.frame["view_count"].to_list() == data.frame["views"].to_list()
    assert data.frame["stream_gap"].to_list() == (data.frame["stream"] - data.frame["views"]).to_list()
    with pytest.raises(DatasetError, match="children must be 'flag' or 'exclude'"):
        load_track_features(built_warehouse, children="maybe")


def test_ml_reads_the_marts_only(built_warehouse):
    """Without raw.* (dropped after the build) the same rows and data version load."""
    import duckdb

    before = load_track_features(built_warehouse, official_only=False)
    con = duckdb.connect(str(built_warehouse))
    con.execute("DROP SCHEMA raw CASCADE")
    con.close()
    after = load_track_features(built_warehouse, official_only=False)
    assert after.frame.equals(before.frame)
    assert after.version == before.version


def test_counts_come_from_the_mart_and_stream_likes_sq_is_built_in_floats(built_warehouse):
    """ML takes the mart's counts as they are (no rule of its own); the study's kernel-trick
    feature stream² + like_count² is computed in floating point (it overflows BIGINT)."""
    import duckdb

    con = duckdb.connect(str(built_warehouse))
    (track_id,) = con.execute(
        "SELECT min(track_id) FROM marts.track_features WHERE is_official_video AND like_count IS NOT NULL"
    ).fetchone()
    con.execute("UPDATE marts.track_features SET view_count = 7, like_count = 3, count_source = 'crawl', "
                "stream = 4000000000, stream_gap = 3999999993 WHERE track_id = ?", [track_id])
    con.close()
    data = load_track_features(built_warehouse)
    row = data.frame.filter(pl.col("track_id") == track_id).row(0, named=True)
    assert (row["view_count"], row["like_count"], row["count_source"], row["stream_gap"]) == (7, 3, "crawl", 3999999993)
    derived = _derived(data.frame).filter(pl.col("track_id") == track_id)
    assert derived["stream_likes_sq"].to_list() == [4e9 ** 2 + 3.0 ** 2]


def test_data_version_is_the_latest_published_crawl(built_warehouse):
    import duckdb

    from orchestration.dbt import run_dbt

    con = duckdb.connect(str(built_warehouse))
    for crawl_id, finished, publish_seq in (("crawl-a", "2023-02-08 10:00:00+00", 5),
                                            ("crawl-b", "2023-02-09 10:00:00+00", 9),
                                            ("crawl-c", None, None)):
        con.execute(
            "INSERT INTO raw.crawl_runs (crawl_id, load_id, base_url, started_at, finished_at, updated_at, status, "
            "invocations, ids_requested, batches_total, ids_ok, ids_not_found, api_calls, quota_units, "
            "published_at, publish_seq) "
            "VALUES (?, 1, 'http://x', TIMESTAMPTZ '2023-02-08 00:00:00+00', ?::TIMESTAMPTZ, now(), "
            "'completed', 1, 0, 0, 0, 0, 0, 0, ?::TIMESTAMPTZ, ?)", [crawl_id, finished, finished, publish_seq])
    con.close()
    assert load_track_features(built_warehouse).version.crawl_id is None  # not built yet
    run_dbt(["run", "--select", "stg_data_version"], built_warehouse)
    version = load_track_features(built_warehouse).version
    assert (version.crawl_id, version.crawl_finished_at) == ("crawl-b", "2023-02-09T10:00:00")


def test_an_unbuilt_data_version_is_a_one_line_error(built_warehouse):
    import duckdb

    con = duckdb.connect(str(built_warehouse))
    con.execute("DROP TABLE staging.stg_data_version")
    con.close()
    with pytest.raises(DatasetError, match="staging.stg_data_version does not exist in the warehouse; build"):
        load_track_features(built_warehouse)


def test_honest_protocol_rejects_a_leaky_feature(built_warehouse):
    data = load_track_features(built_warehouse)
    features = (*TASKS["stream_gap_label"].honest_features, "stream")
    with pytest.raises(LeakyFeatureError, match="'stream' leaks the target"):
        prepare("stream_gap_label", Protocol.HONEST, data, features)
    # The replication protocol reproduces the study, leak included.
    td = prepare("stream_gap_label", Protocol.REPLICATION, data, features)
    assert "stream" in td.features
    for task in TASKS.values():  # the default honest feature sets are clean
        assert not set(task.honest_features) & set(task.leaky) or task.name == "views_above_mean_svm"


def test_all_null_feature_is_dropped_and_reported(built_warehouse):
    td = prepare("views_knn", Protocol.REPLICATION, load_track_features(built_warehouse))
    assert td.dropped_features == {"published_year": "null in every row"}
    assert "published_year" not in td.features
    assert not np.isnan(td.X).any()


def test_unknown_task_and_missing_mart_are_one_line_errors(warehouse_path):
    with pytest.raises(DatasetError, match="unknown task 'nope'"):
        prepare("nope", "honest", None)
    import duckdb
    duckdb.connect(str(warehouse_path)).close()
    with pytest.raises(DatasetError, match="marts.track_features does not exist"):
        load_track_features(warehouse_path)


def _task_data(groups: list[int], labels: list[int], protocol: Protocol) -> TaskData:
    n = len(groups)
    task = TASKS["stream_gap_label"]
    return TaskData(
        task=task, protocol=protocol, features=("x",), dropped_features={},
        frame=pl.DataFrame({"x": np.arange(n)}), X=np.arange(n, dtype=float).reshape(-1, 1),
        score=np.array(labels, dtype=float), groups=np.array([f"a{g}" for g in groups], dtype=object),
        track_ids=np.arange(1, n + 1), video_ids=np.array([None] * n, dtype=object),
        version=DataVersion(1, "f.csv", "sha", None, None, n),
    )


@settings(max_examples=60, deadline=None)
@given(
    groups=st.lists(st.integers(0, 30), min_size=25, max_size=120),
    seed=st.integers(0, 10_000),
    data=st.data(),
)
def test_honest_split_partitions_rows_and_never_splits_an_artist(groups, seed, data):
    if len(set(groups)) < 2:
        groups = groups + [max(groups) + 1]
    labels = data.draw(st.lists(st.integers(0, 1), min_size=len(groups), max_size=len(groups)))
    td = _task_data(groups, labels, Protocol.HONEST)
    split = make_split(td, seed=seed, n_folds=5)
    tested = np.concatenate([f.test for f in split.folds])
    assert sorted(tested.tolist()) == list(range(len(groups)))  # each row tested exactly once
    for fold in split.folds:
        assert not set(td.groups[fold.train]) & set(td.groups[fold.test])
        assert len(np.intersect1d(fold.train, fold.test)) == 0
    again = make_split(td, seed=seed, n_folds=5)
    assert again.key == split.key
    assert all(np.array_equal(a.test, b.test) for a, b in zip(split.folds, again.folds, strict=True))


def test_label_threshold_comes_from_training_rows_under_honest():
    td = _task_data([0, 0, 1, 1, 2, 2], [0, 10, 20, 30, 40, 50], Protocol.HONEST)
    train = np.array([0, 1, 2, 3])
    assert td.threshold(train) == pytest.approx(15.0)
    assert td.y(train).tolist() == [0, 0, 1, 1, 1, 1]
    assert td.y().tolist() == [0, 0, 0, 1, 1, 1]  # the study's all-row mean (25)


def test_track_groups_are_the_components_of_artist_uri_and_video(built_warehouse):
    """marts.track_features.track_group_id (dbt: int_track_groups) against scipy's connected components
    of the graph whose edges join rows with the same artist, Spotify URI or video."""
    import duckdb
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    con = duckdb.connect(str(built_warehouse), read_only=True)
    rows = con.execute("""SELECT t.track_id, t.artist, t.spotify_uri, t.video_id, f.track_group_id
                          FROM staging.stg_tracks t JOIN marts.track_features f USING (track_id)
                          ORDER BY t.track_id""").fetchall()
    con.close()
    n = len(rows)
    edges = []
    for column in (1, 2, 3):
        first: dict = {}
        for i, row in enumerate(rows):
            if row[column] is not None:
                edges.append((first.setdefault(row[column], i), i))
    a, b = zip(*edges, strict=True)
    _, label = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    smallest = {}
    for i, row in enumerate(rows):
        smallest[label[i]] = min(smallest.get(label[i], row[0]), row[0])
    assert [row[4] for row in rows] == [smallest[label[i]] for i in range(n)]
    # The sample has collaborations: some group spans several artists (else the test proves little).
    artists_per_group: dict = {}
    for row in rows:
        artists_per_group.setdefault(row[4], set()).add(row[1])
    assert max(len(v) for v in artists_per_group.values()) > 1


def test_honest_rows_carry_their_track_groups_and_artists(built_warehouse):
    data = load_track_features(built_warehouse)
    td = prepare("stream_gap_label", Protocol.HONEST, data)
    frame = td.frame
    assert (td.groups == frame["track_group_id"].to_numpy()).all()
    assert (td.artists == frame["artist"].to_numpy()).all()
    assert make_split(td, seed=1, n_folds=3).description.startswith("honest: 3-fold CV grouped by track group")


def test_a_mart_without_track_groups_is_a_one_line_error(built_warehouse):
    import duckdb

    con = duckdb.connect(str(built_warehouse))
    con.execute("ALTER TABLE marts.track_features DROP COLUMN track_group_id")
    con.close()
    with pytest.raises(DatasetError, match=r"no column track_group_id .*rebuild the dbt models \(`tunehouse build`\)"):
        load_track_features(built_warehouse)
