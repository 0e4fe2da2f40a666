"""The one place that says what each ML task learns from: rows, target, features, scaling, split.

Everything a model in ``ml/`` (and ``ml/deep/``) trains on comes from here:

* :func:`load_track_features` reads ``marts.track_features`` and
  ``staging.stg_data_version`` (dbt models only, never ``raw.*``) into an Arrow-backed
  Polars frame with DuckDB's ``.pl()`` on a read-only connection that is closed before
  any computing starts, and applies the dataset filters (official videos only, children's
  music flagged or excluded). The data rules are dbt's: the latest counts
  (``view_count``/``like_count``/``comment_count``, crawled else Kaggle's, with
  ``count_source``), ``log_view_count`` and the study's ``stream_gap`` come from the mart;
  the :class:`DataVersion` recorded in ``ml.runs`` is ``staging.stg_data_version``.
* :data:`TASKS` defines every task once: its target, the study's feature set, the
  honest feature set, the features that leak its target (and why), its scaler and the
  study's split ratio.
* :func:`prepare` turns a task + protocol into arrays (dropping rows with nulls, as the
  study did, and all-null features such as ``published_year`` before a crawl), and
  :func:`make_split` gives the split of a protocol:

  - ``replication``: the study's random hold-out (its ratio, ``random_state`` = seed), or
    the full data for the descriptive OLS fits;
  - ``honest``: grouped K-fold CV by track group (``track_group_id`` of the mart: the
    connected components of artist, Spotify URI and YouTube video, dbt model
    ``int_track_groups``), so no artist, no Spotify track and no video is in both train
    and test of a fold — not even as a collaboration listed under another artist;
    stratified for classification, with a spread over folds; a feature that leaks the
    target raises :class:`LeakyFeatureError`.

Seeds are explicit arguments (``TrainOptions.seed``), so every figure is reproducible.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from warehouse import read_connection


# Protocol lives in the light ml.protocol (ml.options imports it); re-exported here.
from ml.protocol import Protocol  # noqa: E402


class DatasetError(ValueError):
    """The warehouse has no usable rows for a task (one line, names the table/setting)."""


class LeakyFeatureError(ValueError):
    """The honest protocol was asked to use a feature that leaks the task's target."""

    def __init__(self, task: str, feature: str, why: str):
        super().__init__(f"task {task!r}: feature {feature!r} leaks the target ({why}); "
                         "the honest protocol does not allow it")
        self.task = task
        self.feature = feature
        self.why = why


# --------------------------------------------------------------------------- columns

#: The Spotify audio features the study calls "music features" (clustering, ch. 3).
AUDIO_FEATURES: tuple[str, ...] = (
    "danceability", "energy", "key", "loudness", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo", "duration_ms",
)

#: Everything measured on the YouTube video or Spotify track at crawl time: the counts the
#: study's labels are built from. Used to declare leaks (a task whose target is built from
#: views cannot use likes: both are engagement of the same video at the same moment).
_ENGAGEMENT = (
    "views", "likes", "comments", "stream", "log_views", "log_likes", "log_comments",
    "log_stream", "view_count", "like_count", "comment_count", "log_view_count",
    "delta_views", "delta_likes", "delta_comments", "stream_gap",
)


# --------------------------------------------------------------------------- data version


@dataclass(frozen=True)
class DataVersion:
    """Which Kaggle load and which YouTube crawl the features came from (for ml.runs).

    Read from ``staging.stg_data_version`` (the latest Kaggle load and the latest finished
    crawl); ``rows`` is how many rows the filters kept.
    """

    kaggle_load_id: int | None
    kaggle_file: str | None
    kaggle_sha256: str | None
    crawl_id: str | None
    crawl_finished_at: str | None
    rows: int

    def as_dict(self) -> dict:
        return {
            "kaggle_load_id": self.kaggle_load_id,
            "kaggle_file": self.kaggle_file,
            "kaggle_sha256": self.kaggle_sha256,
            "crawl_id": self.crawl_id,
            "crawl_finished_at": self.crawl_finished_at,
            "rows": self.rows,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @property
    def fingerprint(self) -> str:
        """Short stable id of this data version (part of every split key)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]


def _relation_exists(con, schema: str, name: str) -> bool:
    """A table or view (information_schema.tables lists both)."""
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()[0][0]
    )


# --------------------------------------------------------------------------- loading

#: The dbt models ML reads, and nothing else.
FEATURES_RELATION = ("marts", "track_features")
DATA_VERSION_RELATION = ("staging", "stg_data_version")
#: The mart's column honest splits group by (dbt model int_track_groups).
GROUP_COLUMN = "track_group_id"


@dataclass(frozen=True)
class TrackData:
    """The filtered feature rows (one per track) and the data version they came from."""

    frame: pl.DataFrame
    version: DataVersion
    official_only: bool
    children: str


def load_track_features(
    warehouse: Path | str,
    *,
    official_only: bool = True,
    children: Literal["flag", "exclude"] = "flag",
) -> TrackData:
    """Read ``marts.track_features`` and ``staging.stg_data_version`` and filter the rows.

    Read-only; the connection is closed on return. ``official_only`` keeps official
    videos only (as the study did); ``children`` = ``"exclude"`` leaves children's music
    out, ``"flag"`` keeps it with ``is_children`` as a feature. Rows come sorted by
    ``track_id`` so every split is stable. Besides the mart's columns the frame has
    ``artist_code`` (a dense integer index of the artist, the study's KNN encoding) and
    the boolean flags as floats.
    """
    if children not in ("flag", "exclude"):
        raise DatasetError(f"children must be 'flag' or 'exclude', not {children!r}")
    with read_connection(warehouse) as con:
        for schema, name in (FEATURES_RELATION, DATA_VERSION_RELATION):
            if not _relation_exists(con, schema, name):
                raise DatasetError(
                    f"{schema}.{name} does not exist in the warehouse; build the dbt models "
                    "(`tunehouse build`) first"
                )
        # DuckDB 2.0: a relation (con.sql) hands Arrow batches to Polars without copying.
        frame = con.sql("SELECT * FROM marts.track_features ORDER BY track_id").pl()
        if GROUP_COLUMN not in frame.columns:
            raise DatasetError(
                f"marts.track_features has no column {GROUP_COLUMN} (built before track groups existed); "
                "rebuild the dbt models (`tunehouse build`)"
            )
        # fetchall: DuckDB 2.0 refuses new work while a result is unfinished.
        versions = con.execute(
            "SELECT kaggle_load_id, kaggle_file, kaggle_sha256, crawl_id, crawl_finished_at "
            "FROM staging.stg_data_version"
        ).fetchall()
    if len(versions) != 1:
        raise DatasetError(f"staging.stg_data_version has {len(versions)} rows, not 1; rebuild the dbt models")
    load_id, kaggle_file, kaggle_sha256, crawl_id, crawl_finished_at = versions[0]
    if official_only:
        frame = frame.filter(pl.col("is_official_video"))
    if children == "exclude":
        frame = frame.filter(~pl.col("is_children"))
    if frame.height == 0:
        raise DatasetError(
            "marts.track_features has no rows after the ML filters "
            f"(official_only={official_only}, children={children!r})"
        )
    frame = frame.with_columns(
        # The study turned Artist into an integer index for KNN; rank keeps it stable.
        pl.col("artist").rank("dense").cast(pl.Int64).alias("artist_code"),
        pl.col("licensed").cast(pl.Float64),
        pl.col("is_official_video").cast(pl.Float64),
        pl.col("is_children").cast(pl.Float64),
    )
    version = DataVersion(
        kaggle_load_id=None if load_id is None else int(load_id),
        kaggle_file=kaggle_file,
        kaggle_sha256=kaggle_sha256,
        crawl_id=crawl_id,
        crawl_finished_at=None if crawl_finished_at is None else crawl_finished_at.isoformat(),
        rows=frame.height,
    )
    return TrackData(frame=frame, version=version, official_only=official_only, children=children)


# --------------------------------------------------------------------------- tasks

TaskKind = Literal["classification", "regression", "clustering", "descriptive"]


@dataclass(frozen=True)
class Task:
    """One learning problem, defined once.

    ``target`` is a column of the loaded frame. For a label task (``threshold='mean'``)
    the label is ``target > mean(target over the reference rows)``: the study took the
    mean over all rows; the honest protocol takes it over each fold's training rows so
    the test rows never set their own threshold.

    ``replication_features`` / ``replication_test_size`` are the study's feature set and
    hold-out ratio (None = the study fitted on all rows); ``source`` is where the study
    describes the task.
    """

    name: str
    kind: TaskKind
    description: str
    replication_features: tuple[str, ...]
    honest_features: tuple[str, ...]
    target: str | None = None
    threshold: Literal["mean"] | None = None
    leaky: Mapping[str, str] = field(default_factory=dict)
    scaler: Literal["standard", "minmax"] | None = "standard"
    replication_test_size: float | None = 0.2
    source: str = ""

    def features(self, protocol: Protocol | str) -> tuple[str, ...]:
        return self.replication_features if Protocol(protocol) is Protocol.REPLICATION else self.honest_features

    def check_features(self, protocol: Protocol | str, features: Sequence[str]) -> None:
        """Raise LeakyFeatureError for the first leaky feature under the honest protocol."""
        if Protocol(protocol) is not Protocol.HONEST:
            return
        for name in features:
            if name in self.leaky:
                raise LeakyFeatureError(self.name, name, self.leaky[name])

    def make_scaler(self):
        """A fresh scaler of the kind the study used for this task (fit on train rows only)."""
        if self.scaler == "standard":
            return StandardScaler()
        if self.scaler == "minmax":
            return MinMaxScaler()
        return None


def _leaks(columns: Sequence[str], why: str) -> dict[str, str]:
    return {c: why for c in columns}


_GAP_WHY = "the label is (stream - view_count) > mean; stream and every YouTube count of the same video are part of it or move with it"
_VIEWS_WHY = "it is measured on the same video at the same time as the target view count"
_KNN_FEATURES = (
    "artist_code", *AUDIO_FEATURES, "licensed", "is_official_video", "stream", "is_children", "published_year",
)
_CORRELATED = (*(c for c in _KNN_FEATURES if c != "artist_code"), "view_count", "like_count", "comment_count")

TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task(
            name="music_clusters",
            kind="clustering",
            description="Clusters of tracks by their Spotify audio features (study ch. 3).",
            replication_features=AUDIO_FEATURES,
            honest_features=AUDIO_FEATURES,
            scaler="standard",
            replication_test_size=None,
            source="ch. 3-1 (K-Means k=4, DBSCAN minPts=100 eps=6)",
        ),
        Task(
            # Descriptive, no target: the correlation heatmap over every row (a run of its
            # own so it has a split like every other run).
            name="feature_correlations",
            kind="descriptive",
            description="Pairwise correlations of the music features, streams and YouTube counts (study ch. 4-1-1).",
            replication_features=_CORRELATED,
            honest_features=_CORRELATED,
            scaler=None,
            replication_test_size=None,
            source="ch. 4-1-1 (heatmap, |r| >= 0.2 shown)",
        ),
        *[
            Task(
                name=f"ols_{target}",
                kind="regression",
                description=f"OLS of {target} on Spotify streams (study ch. 4-1-1).",
                replication_features=("stream",),
                honest_features=("stream",),
                target=target,
                scaler=None,
                replication_test_size=None,
                leaky=_leaks([c for c in _ENGAGEMENT if c not in ("stream", "log_stream")], _VIEWS_WHY),
                source="ch. 4-1-1",
            )
            for target in ("view_count", "like_count", "comment_count")
        ],
        Task(
            name="stream_from_youtube",
            kind="regression",
            description="Spotify streams from YouTube view/like/comment counts (study ch. 4-1-2).",
            replication_features=("view_count", "like_count", "comment_count"),
            honest_features=("view_count", "like_count", "comment_count"),
            target="stream",
            scaler=None,
            replication_test_size=0.1,
            leaky=_leaks(("log_stream",), "it is the target on a log scale"),
            source="ch. 4-1-2 (9:1 split, random_state=42)",
        ),
        Task(
            name="views_knn",
            kind="regression",
            description="YouTube views from music features and streams, KNN (study ch. 4-1-3).",
            replication_features=_KNN_FEATURES,
            honest_features=(*AUDIO_FEATURES, "licensed", "stream", "is_children", "published_year"),
            target="view_count",
            scaler="minmax",
            replication_test_size=0.2,
            leaky={
                **_leaks([c for c in _ENGAGEMENT if c not in ("stream", "log_stream")], _VIEWS_WHY),
                "artist_code": "an artist identifier: across a random split it lets the model "
                               "look up the same artist's other videos",
            },
            source="ch. 4-1-3 (16 features, NRMSE = RMSE/(max-min))",
        ),
        Task(
            name="stream_gap_label",
            kind="classification",
            description="Label: does a track's Spotify-minus-YouTube gap exceed the mean gap? (study ch. 5)",
            replication_features=(*AUDIO_FEATURES, "stream", "is_children", "published_year"),
            honest_features=(*AUDIO_FEATURES, "licensed", "is_children", "published_year"),
            target="stream_gap",
            threshold="mean",
            scaler="standard",
            replication_test_size=0.2,
            leaky=_leaks(_ENGAGEMENT, _GAP_WHY),
            source="ch. 5-1 (8:2 split), ch. 6-2 (GridSearchCV)",
        ),
        Task(
            name="views_above_mean_svm",
            kind="classification",
            description="The study's SVM kernel-trick variant: log views above their mean from "
                        "Stream, Likes and Stream²+Likes² (study ch. 5-1-4).",
            replication_features=("stream", "like_count", "stream_likes_sq"),
            honest_features=("stream", "like_count", "stream_likes_sq"),
            target="log_view_count",
            threshold="mean",
            scaler="standard",
            replication_test_size=0.3,
            leaky={
                **_leaks([c for c in _ENGAGEMENT if c not in ("stream", "log_stream")], _VIEWS_WHY),
                "stream_likes_sq": "it is built from like_count, which " + _VIEWS_WHY,
            },
            source="ch. 5-1-4 (7:3 split, linear SVC, accuracy ~0.89)",
        ),
    ]
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise DatasetError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}") from None


def _derived(frame: pl.DataFrame) -> pl.DataFrame:
    """Model-specific inputs built from the mart's columns (data rules live in dbt).

    ``stream_likes_sq`` = stream² + like_count² is the study's SVM "kernel trick" (ch.
    5-1-4): a hand-made feature map for one model, a modelling step rather than a fact
    about a track, so it is built here, in floating point (the squares overflow BIGINT).
    """
    if "stream_likes_sq" in frame.columns:
        return frame
    stream = pl.col("stream").cast(pl.Float64)
    likes = pl.col("like_count").cast(pl.Float64)
    return frame.with_columns((stream ** 2 + likes ** 2).alias("stream_likes_sq"))


# --------------------------------------------------------------------------- prepared data


@dataclass(frozen=True)
class TaskData:
    """Rows and arrays of one task under one protocol, ready for a model.

    ``X`` is unscaled (scale inside each fold with ``task.make_scaler()``); ``score`` is the
    raw target column (continuous); use :meth:`y` for the target of a fold. ``groups`` are
    the rows' track groups (what honest splits keep whole), ``artists`` their artists.
    """

    task: Task
    protocol: Protocol
    features: tuple[str, ...]
    dropped_features: dict[str, str]
    frame: pl.DataFrame
    X: np.ndarray
    score: np.ndarray | None
    groups: np.ndarray
    track_ids: np.ndarray
    video_ids: np.ndarray
    version: DataVersion
    artists: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def threshold(self, reference: np.ndarray | None = None) -> float | None:
        """The label threshold (mean of the target over ``reference`` rows, or all rows)."""
        if self.task.threshold is None or self.score is None:
            return None
        values = self.score if reference is None else self.score[reference]
        return float(np.mean(values))

    def y(self, reference: np.ndarray | None = None) -> np.ndarray:
        """Target of every row; for label tasks thresholded on the ``reference`` rows' mean."""
        if self.score is None:
            raise DatasetError(f"task {self.task.name!r} has no target")
        if self.task.threshold is None:
            return self.score
        return (self.score > self.threshold(reference)).astype(np.int64)


def prepare(
    task: Task | str,
    protocol: Protocol | str,
    data: TrackData,
    features: Sequence[str] | None = None,
    *,
    refuse_leaks: bool = True,
) -> TaskData:
    """Select the task's rows and features for a protocol.

    Features default to the protocol's set; under ``honest`` a leaky one raises
    :class:`LeakyFeatureError` (``refuse_leaks=False``: only to record the rows and split
    of a run that is then skipped, never to train on them). Features that are null in every row (e.g.
    ``published_year`` before any crawl) are dropped and listed in ``dropped_features``;
    then rows with a null in a feature or the target are dropped, as the study did.
    """
    task = get_task(task) if isinstance(task, str) else task
    protocol = Protocol(protocol)
    chosen = tuple(features) if features is not None else task.features(protocol)
    if refuse_leaks:
        task.check_features(protocol, chosen)
    frame = _derived(data.frame)
    missing = [c for c in chosen if c not in frame.columns]
    if missing:
        raise DatasetError(f"task {task.name!r}: feature column(s) {', '.join(missing)} not in marts.track_features")
    dropped = {c: "null in every row" for c in chosen if frame[c].null_count() == frame.height}
    used = tuple(c for c in chosen if c not in dropped)
    needed = list(used) + ([task.target] if task.target else [])
    frame = frame.drop_nulls(subset=needed)
    frame = frame.filter(pl.all_horizontal([pl.col(c).cast(pl.Float64).is_finite() for c in needed]))
    if frame.height < 20:
        raise DatasetError(
            f"task {task.name!r}: only {frame.height} rows have every feature and the target "
            f"({', '.join(needed)}); need at least 20"
        )
    X = frame.select([pl.col(c).cast(pl.Float64) for c in used]).to_numpy()
    score = frame[task.target].cast(pl.Float64).to_numpy() if task.target else None
    return TaskData(
        task=task,
        protocol=protocol,
        features=used,
        dropped_features=dropped,
        frame=frame,
        X=np.ascontiguousarray(X),
        score=score,
        groups=frame[GROUP_COLUMN].to_numpy(),
        track_ids=frame["track_id"].to_numpy(),
        video_ids=frame["video_id"].to_numpy(),
        version=data.version,
        artists=frame["artist"].to_numpy(),
    )


# --------------------------------------------------------------------------- splits


@dataclass(frozen=True)
class Fold:
    index: int
    train: np.ndarray  # row positions into TaskData
    test: np.ndarray


@dataclass(frozen=True)
class Split:
    """The evaluation split of a task under a protocol (stored in ml.splits by split_key)."""

    key: str
    task: str
    protocol: Protocol
    seed: int
    folds: tuple[Fold, ...]
    description: str

    @property
    def is_cv(self) -> bool:
        return len(self.folds) > 1


def _split_key(td: TaskData, shape: str, seed: int, n_folds: int) -> str:
    """Stable id of a split: same task, protocol, kind of split, seed and rows → same key."""
    return hashlib.sha256(
        json.dumps([td.task.name, td.protocol.value, shape, seed, n_folds, td.version.fingerprint,
                    int(td.track_ids.sum()), td.n]).encode()
    ).hexdigest()[:16]


def all_rows_split(td: TaskData, seed: int, why: str) -> Split:
    """One "fold" with every row in train and none in test: a fit on all rows (``why`` says why)."""
    rows = np.arange(td.n)
    return Split(key=_split_key(td, "all_rows", seed, 1), task=td.task.name, protocol=td.protocol, seed=seed,
                 folds=(Fold(0, rows, rows[:0]),), description=f"{td.protocol.value}: fitted on all rows ({why})")


def make_split(td: TaskData, seed: int, n_folds: int) -> Split:
    """The protocol's split for prepared task data.

    * replication: one random hold-out with the study's ratio (``random_state=seed``), or
      one "fold" with every row in train and none in test where the study fitted on all rows;
    * honest: ``n_folds`` grouped folds by track group (StratifiedGroupKFold for labels),
      so no track group — hence no artist, Spotify URI or video — is in both train and
      test of any fold. One large group (collaborations chain many artists together) makes
      its fold's test set larger than the others'.
    """
    task = td.task
    if td.protocol is Protocol.REPLICATION:
        if task.replication_test_size is None:
            return all_rows_split(td, seed, "no hold-out, as the study did")
        rows = np.arange(td.n)
        train, test = train_test_split(rows, test_size=task.replication_test_size, random_state=seed)
        ratio = round((1 - task.replication_test_size) * 10)
        return Split(key=_split_key(td, "holdout", seed, 1), task=task.name, protocol=td.protocol, seed=seed,
                     folds=(Fold(0, np.sort(train), np.sort(test)),),
                     description=f"replication: random {ratio}:{10 - ratio} hold-out, random_state={seed}")
    n_groups = len(np.unique(td.groups))
    if n_groups < 2:
        raise DatasetError(f"task {task.name!r}: the honest protocol needs at least 2 track groups, got {n_groups}")
    k = min(n_folds, n_groups)
    if task.kind == "classification":
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        it = splitter.split(td.X, td.y(), td.groups)
    else:
        splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
        it = splitter.split(td.X, groups=td.groups)
    folds = tuple(Fold(i, np.sort(tr), np.sort(te)) for i, (tr, te) in enumerate(it))
    # "by_track_group" in the key: a split grouped by artist alone (before issue #11) has other
    # rows per fold and must not be taken for this one in ml.splits.
    return Split(key=_split_key(td, "grouped_cv_by_track_group", seed, len(folds)), task=task.name,
                 protocol=td.protocol, seed=seed, folds=folds,
                 description=f"honest: {k}-fold CV grouped by track group (artist, Spotify URI, video), "
                             f"seed={seed}")


def split_frame(td: TaskData, split: Split) -> pl.DataFrame:
    """ml.splits rows of a split: one row per (fold, track) with its role."""
    parts = []
    for fold in split.folds:
        for role, idx in (("train", fold.train), ("test", fold.test)):
            if len(idx) == 0:
                continue
            parts.append(pl.DataFrame({
                "split_key": split.key,
                "task": split.task,
                "protocol": split.protocol.value,
                "seed": split.seed,
                "fold": fold.index,
                "track_id": td.track_ids[idx].astype(np.int64),
                "artist": (td.artists if td.artists is not None else td.groups)[idx],
                "role": role,
            }))
    return pl.concat(parts)
