"""Local, queryable experiment tracking in schema ``ml`` (the study used WandB).

A run is one model trained under one protocol. Usage::

    with tracked_run(warehouse, asset="ml/classification", family="classification",
                     model="random_forest", protocol="honest", task="stream_gap_label",
                     params={...}, data_version=td.version, seed=42) as run:
        run.split_key = split.key
        ...train...
        run.log_metric("accuracy", 0.71, split="cv_mean")
        run.log_predictions(track_ids, preds, probability=p, actual=y, split="oof", fold=folds)
        run.log_artifact("confusion_matrix", png_path, title="Confusion matrix")

``tracked_run`` writes the ``running`` row when it starts, keeps everything else in memory
while the model trains (no connection is held), and writes metrics, predictions,
artifacts and the final status in ONE short write transaction when the block ends:
``succeeded``; ``failed`` with the error when it raises; ``skipped`` with a reason when the
block calls :meth:`Run.skip` (e.g. a leaky feature under the honest protocol).

Families do not call this directly: :mod:`ml.pipeline` wraps it with the steps every run
shares. ``lock_timeout_s`` (None: the warehouse default) is how long each short write
waits for another process's DuckDB write lock.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from warehouse import ensure_schema, transaction, write_connection

log = logging.getLogger(__name__)


class RunSkipped(Exception):
    """Raised by Run.skip() to leave the run's block; the run is stored as skipped."""


@dataclass
class Run:
    run_id: str
    warehouse: Path | str | None
    asset: str
    family: str
    model: str
    protocol: str
    task: str | None
    params: dict
    seed: int | None
    started_at: datetime
    metrics: list[tuple] = field(default_factory=list)
    predictions: list[pl.DataFrame] = field(default_factory=list)
    artifacts: list[tuple] = field(default_factory=list)
    clusters: list[pl.DataFrame] = field(default_factory=list)
    status: str = "running"
    status_reason: str | None = None
    split_key: str | None = None  # set when the split is known after the run started
    lock_timeout_s: float | None = None

    # ----------------------------------------------------------------- logging
    def log_metric(
        self, metric: str, value: float | None, split: str = "test",
        step: int | None = None, note: str | None = None,
    ) -> None:
        """One metric value. ``step`` is the x of a curve (k, K, epoch, fold)."""
        v = None if value is None else float(value)
        if v is not None and not math.isfinite(v):
            v = None
        self.metrics.append((metric, split, v, step, note))

    def log_metrics(self, values: Mapping[str, float], split: str = "test", step: int | None = None) -> None:
        for name, value in values.items():
            self.log_metric(name, value, split=split, step=step)

    def log_curve(self, metric: str, steps: Sequence[int], values: Sequence[float], split: str = "curve") -> None:
        """A curve (elbow sweep, K sweep, learning curve): one metric row per step."""
        for s, v in zip(steps, values, strict=True):
            self.log_metric(metric, v, split=split, step=int(s))

    def log_published(self, metric: str, value: float, source: str, step: int | None = None) -> None:
        """The study's own figure for this model, stored as split ``published``."""
        self.log_metric(metric, value, split="published", step=step, note=source)

    def log_predictions(
        self,
        track_ids: Sequence[int] | np.ndarray,
        prediction: Sequence[float] | np.ndarray,
        *,
        probability: Sequence[float] | np.ndarray | None = None,
        actual: Sequence[float] | np.ndarray | None = None,
        video_ids: Sequence[str | None] | np.ndarray | None = None,
        split: str = "test",
        fold: int | Sequence[int] | np.ndarray | None = None,
    ) -> None:
        """Per-track predictions (call once per fold or once with per-row ``fold``)."""
        n = len(track_ids)
        if isinstance(fold, (int, np.integer)) or fold is None:
            fold_col = [None if fold is None else int(fold)] * n
        else:
            fold_col = [int(f) for f in fold]
        frame = pl.DataFrame(
            {
                "run_id": [self.run_id] * n,
                "track_id": np.asarray(track_ids, dtype=np.int64),
                "video_id": pl.Series(list(video_ids) if video_ids is not None else [None] * n, dtype=pl.String),
                "split": [split] * n,
                "fold": pl.Series(fold_col, dtype=pl.Int32),
                "actual": pl.Series(np.asarray(actual, dtype=np.float64) if actual is not None else [None] * n,
                                    dtype=pl.Float64),
                "prediction": np.asarray(prediction, dtype=np.float64),
                "probability": pl.Series(
                    np.asarray(probability, dtype=np.float64) if probability is not None else [None] * n,
                    dtype=pl.Float64),
            }
        )
        self.predictions.append(frame)

    def log_clusters(self, model: str, track_ids: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray) -> None:
        """Cluster label per track (ml.track_clusters)."""
        self.clusters.append(pl.DataFrame({
            "run_id": self.run_id, "model": model,
            "track_id": np.asarray(track_ids, dtype=np.int64),
            "cluster": np.asarray(labels, dtype=np.int32),
        }))

    def log_artifact(self, name: str, path: Path | str, *, title: str | None = None,
                     published: str | None = None, kind: str | None = None) -> None:
        """A file the run produced; ``published`` = what the study showed for it."""
        path = Path(path)
        self.artifacts.append((name, kind or path.suffix.lstrip(".") or "file", str(path), title, published))

    def skip(self, reason: str) -> None:
        """Stop the run's block here and store it as ``skipped`` with this reason."""
        raise RunSkipped(reason)

    # ----------------------------------------------------------------- reading back
    def summary(self) -> dict[str, float]:
        """``{"split/metric": value}`` of every step-less metric (``RunSummary.metrics``)."""
        out: dict[str, float] = {}
        for m, s, v, step, _ in self.metrics:
            if step is None and v is not None and s not in ("published", "cv_fold"):
                out[f"{s}/{m}"] = v
        return out


def _json(obj) -> str:
    def default(o):
        if isinstance(o, (np.integer,)):
            return int(o)
        if isinstance(o, (np.floating,)):
            return float(o)
        if isinstance(o, (np.ndarray, tuple, set)):
            return list(o)
        if isinstance(o, Path):
            return str(o)
        return str(o)
    return json.dumps(obj, default=default, sort_keys=True)


def _insert_arrow(con, table: str, frame: pl.DataFrame, columns: str) -> None:
    """Bulk insert a Polars frame through Arrow (no row-by-row Python)."""
    con.register("_tunehouse_rows", frame.to_arrow())
    try:
        con.execute(f"INSERT INTO {table} SELECT {columns} FROM _tunehouse_rows")
    finally:
        con.unregister("_tunehouse_rows")


def start_run(
    warehouse: Path | str,
    *,
    asset: str,
    family: str,
    model: str,
    protocol: str,
    task: str | None = None,
    params: Mapping | None = None,
    data_version=None,
    split=None,
    seed: int | None = None,
    lock_timeout_s: float | None = None,
) -> Run:
    """Insert the ``running`` row and return the in-memory run."""
    run = Run(
        run_id=uuid.uuid4().hex, warehouse=warehouse, asset=asset, family=family, model=model,
        protocol=str(protocol), task=task, params=dict(params or {}), seed=seed,
        started_at=datetime.now(UTC), split_key=getattr(split, "key", None), lock_timeout_s=lock_timeout_s,
    )
    version = data_version.as_dict() if data_version is not None else {}
    with write_connection(warehouse, lock_timeout_s) as con, transaction(con):
        ensure_schema(con)
        con.execute(
            """INSERT INTO ml.runs (run_id, asset, family, model, task, protocol, params, data_version,
                   kaggle_load_id, crawl_id, split_key, seed, status, started_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)""",
            [run.run_id, asset, family, model, task, run.protocol, _json(run.params), _json(version),
             version.get("kaggle_load_id"), version.get("crawl_id"),
             getattr(split, "key", None), seed, run.started_at],
        )
    return run


def finish_run(run: Run, status: str = "succeeded", reason: str | None = None) -> None:
    """Write everything the run logged and its final status in one transaction."""
    run.status, run.status_reason = status, reason
    finished = datetime.now(UTC)
    duration = (finished - run.started_at).total_seconds()
    now = finished
    with write_connection(run.warehouse, run.lock_timeout_s) as con, transaction(con):
        ensure_schema(con)
        if run.metrics:
            con.executemany(
                "INSERT INTO ml.metrics VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run.run_id, m, s, v, st, note, now) for m, s, v, st, note in run.metrics],
            )
        if run.predictions:
            _insert_arrow(con, "ml.predictions", pl.concat(run.predictions),
                          "run_id, track_id, video_id, split, fold, actual, prediction, probability")
        if run.clusters:
            _insert_arrow(con, "ml.track_clusters", pl.concat(run.clusters), "run_id, model, track_id, cluster")
        if run.artifacts:
            con.executemany(
                "INSERT INTO ml.artifacts VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run.run_id, n, k, p, t, pub, now) for n, k, p, t, pub in run.artifacts],
            )
        con.execute(
            "UPDATE ml.runs SET status = ?, status_reason = ?, params = ?, finished_at = ?, duration_s = ?, "
            "split_key = coalesce(?, split_key) WHERE run_id = ?",
            [status, reason, _json(run.params), finished, duration, run.split_key, run.run_id],
        )


@contextmanager
def tracked_run(warehouse: Path | str, **kwargs) -> Iterator[Run]:
    """``start_run`` + ``finish_run``: succeeded, skipped (Run.skip) or failed (exception re-raised)."""
    run = start_run(warehouse, **kwargs)
    try:
        yield run
    except RunSkipped as exc:
        log.info("run %s (%s, %s) skipped: %s", run.run_id, run.model, run.protocol, exc)
        finish_run(run, "skipped", str(exc))
        return
    except BaseException as exc:
        finish_run(run, "failed", f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finish_run(run, "succeeded")


def save_split(warehouse: Path | str, split_rows: pl.DataFrame, lock_timeout_s: float | None = None) -> None:
    """Store a split's rows in ml.splits once per split_key (same key = same rows)."""
    if split_rows.height == 0:
        return
    key = split_rows["split_key"][0]
    with write_connection(warehouse, lock_timeout_s) as con, transaction(con):
        ensure_schema(con)
        exists = con.execute("SELECT count(*) FROM ml.splits WHERE split_key = ?", [key]).fetchall()[0][0]
        if not exists:
            _insert_arrow(con, "ml.splits", split_rows,
                          "split_key, task, protocol, seed, fold, track_id, artist, role")


def attach_artifact(
    run: Run, name: str, path: Path | str, *, title: str | None = None, published: str | None = None,
) -> None:
    """Attach a file to a run that has already finished (one short ml.artifacts insert).

    For a figure that needs several runs first (e.g. the OLS fit lines of three tasks).
    """
    path = Path(path)
    with write_connection(run.warehouse, run.lock_timeout_s) as con, transaction(con):
        con.execute("INSERT INTO ml.artifacts VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [run.run_id, name, path.suffix.lstrip(".") or "file", str(path), title, published,
                     datetime.now(UTC)])
    run.artifacts.append((name, path.suffix.lstrip(".") or "file", str(path), title, published))
