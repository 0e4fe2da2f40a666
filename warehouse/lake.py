"""The Parquet landing zone ("the lake"): the published raw data, as files any engine reads.

DuckDB stays the source of truth. The lake holds exactly the *published* part of the raw
tables (the loads and crawls that write-audit-publish let through) as Parquet files that
Spark, Trino or another DuckDB read without the warehouse file. `sync` exports it:

    <lake>/raw/kaggle_loads/kaggle_loads.parquet                    published loads
    <lake>/raw/kaggle_tracks/load_id=<id>/load-<id>.parquet         one file per published load
    <lake>/raw/kaggle_quarantine/load_id=<id>/load-<id>.parquet
    <lake>/raw/crawl_runs/crawl_runs.parquet                        published crawls
    <lake>/raw/youtube_snapshots/crawl_date=<YYYY-MM-DD>/<crawl_id>.parquet   one file per published crawl
    <lake>/raw/crawl_targets/crawl_date=<YYYY-MM-DD>/<crawl_id>.parquet
    <lake>/raw/crawl_batches/crawl_date=<YYYY-MM-DD>/<crawl_id>.parquet
    <lake>/raw/channel_snapshots/crawl_date=<YYYY-MM-DD>/<crawl_id>.parquet   the crawl's channels
    <lake>/raw/crawl_channel_targets/crawl_date=<YYYY-MM-DD>/<crawl_id>.parquet
    <lake>/raw/crawl_channel_batches/crawl_date=<YYYY-MM-DD>/<crawl_id>.parquet
    <lake>/raw/quota_ledger/quota_ledger.parquet                    the whole ledger

(`crawl_date` is the UTC date the crawl started; a partition column lives in the path,
not in the file, as Hive partitioning has it.)

How nothing is lost or duplicated between the two:

* A file is keyed by its load or crawl id and is written once: a published load or crawl
  never changes, so `sync` writes only the files that are missing (re-running it writes
  nothing; a deleted file is exported again) and removes files whose load or crawl is not
  published (the lake holds exactly the published data).
* The small tables whose rows change (loads, crawl runs, the ledger) are one file each,
  rewritten only when their content changed (a content hash in the file's metadata).
* Every file is written under a hidden temporary name in its final folder, flushed, then
  renamed: a reader (or a SIGKILL) sees the old state or the whole new file, never half a
  file. Engines skip hidden names; the next `sync` removes leftovers of a killed one.
* An unpublished crawl (running, paused, killed, rejected) is never exported, so a killed
  crawl leaves nothing in the lake; the crawl is exported whole once it is published.

Until the write-audit-publish columns exist (`raw.kaggle_loads.status`,
`raw.crawl_runs.published_at`), every load and every completed crawl counts as published.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from filelock import FileLock

from warehouse.connection import read_connection

log = logging.getLogger(__name__)

#: Temporary files: hidden (engines skip names starting with "." or "_") and not *.parquet.
_TEMP_MARK = ".tmp-"
#: Parquet key-value metadata key holding a whole-table file's content hash.
CONTENT_KEY = "tunehouse_content_sha256"
#: Characters a crawl id may have to become a file name (crawler ids: 20230208T000012Z-3f9a1c).
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class LakeError(RuntimeError):
    """The lake cannot be written (one line: which file or setting, and why)."""


@dataclass(frozen=True)
class LakeTable:
    """One raw table in the lake."""

    name: str
    #: "load": a file per published load; "crawl": a file per published crawl, partitioned by
    #: crawl date; "whole": one file for the table, rewritten when its content changes.
    keyed_by: str
    order_by: str

    def folder(self, lake: Path) -> Path:
        return lake / "raw" / self.name


TABLES: tuple[LakeTable, ...] = (
    LakeTable("kaggle_loads", "whole", "load_id"),
    LakeTable("kaggle_tracks", "load", "source_row_number"),
    LakeTable("kaggle_quarantine", "load", "line, field"),
    LakeTable("crawl_runs", "whole", "crawl_id"),
    LakeTable("youtube_snapshots", "crawl", "batch_no, video_id"),
    LakeTable("crawl_targets", "crawl", "batch_no, video_id"),
    LakeTable("crawl_batches", "crawl", "batch_no"),
    LakeTable("channel_snapshots", "crawl", "batch_no, channel_id"),
    LakeTable("crawl_channel_targets", "crawl", "batch_no, channel_id"),
    LakeTable("crawl_channel_batches", "crawl", "batch_no"),
    LakeTable("quota_ledger", "whole", "recorded_at, api_day, crawl_id, api_calls, quota_units"),
)


@dataclass
class SyncResult:
    """What one `sync` did, as lake-relative paths."""

    lake: Path
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    loads: int = 0
    crawls: int = 0

    def summary(self) -> str:
        return (f"lake {self.lake}: {len(self.written)} files written, {len(self.removed)} removed, "
                f"{self.unchanged} unchanged ({self.loads} published loads, {self.crawls} published crawls)")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' AND table_name = ? "
        "ORDER BY ordinal_position", [table]).fetchall()]


def published_load_filter(con: duckdb.DuckDBPyConnection) -> str:
    """SQL predicate on raw.kaggle_loads: the published loads (all loads before write-audit-publish)."""
    return "status = 'published'" if "status" in _columns(con, "kaggle_loads") else "true"


def published_crawl_filter(con: duckdb.DuckDBPyConnection) -> str:
    """SQL predicate on raw.crawl_runs: the published crawls (completed ones before write-audit-publish)."""
    return "published_at IS NOT NULL" if "published_at" in _columns(con, "crawl_runs") else "status = 'completed'"


def _published(con: duckdb.DuckDBPyConnection) -> tuple[list[int], list[tuple[str, str]]]:
    """(published load ids, [(crawl_id, crawl_date)] of published crawls)."""
    loads: list[int] = []
    crawls: list[tuple[str, str]] = []
    if _columns(con, "kaggle_loads"):
        loads = [r[0] for r in con.execute(
            f"SELECT load_id FROM raw.kaggle_loads WHERE {published_load_filter(con)} ORDER BY load_id").fetchall()]
    if _columns(con, "crawl_runs"):
        crawls = con.execute(
            f"""SELECT crawl_id, strftime(started_at AT TIME ZONE 'UTC', '%Y-%m-%d')
                FROM raw.crawl_runs WHERE {published_crawl_filter(con)} ORDER BY crawl_id"""
        ).fetchall()
    for crawl_id, _ in crawls:
        if not _SAFE_ID.match(crawl_id):
            raise LakeError(f"raw.crawl_runs: crawl_id {crawl_id!r} cannot be a file name in the lake "
                            "(letters, digits, '_', '.', '-' only)")
    return loads, crawls


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _fsync(path: Path, folder: bool = False) -> None:
    if folder and os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(con: duckdb.DuckDBPyConnection, query: str, path: Path, metadata: dict[str, str] | None = None) -> None:
    """COPY `query` to `path` atomically: hidden temporary name in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}{_TEMP_MARK}{secrets.token_hex(6)}")
    options = "FORMAT parquet, COMPRESSION zstd"
    if metadata:
        options += ", KV_METADATA {" + ", ".join(f"{k}: {_literal(v)}" for k, v in metadata.items()) + "}"
    try:
        con.execute(f"COPY ({query}) TO {_literal(str(temp))} ({options})")
        _fsync(temp)
        os.replace(temp, path)
        _fsync(path.parent, folder=True)
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if isinstance(exc, (duckdb.Error, OSError)):
            raise LakeError(f"cannot write {path}: {str(exc).splitlines()[0]}") from None
        raise


def _content_sha(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """A hash of the rows (as a multiset) and the column names and types of `query`."""
    described = con.execute(f"DESCRIBE {query}").fetchall()
    [(rows,)] = con.execute(
        f"SELECT coalesce(string_agg(h, ',' ORDER BY h), '') FROM (SELECT md5(CAST(t AS VARCHAR)) AS h FROM ({query}) t)"
    ).fetchall()
    schema = ";".join(f"{name}:{kind}" for name, kind, *_ in described)
    return hashlib.sha256(f"{schema}\n{rows}".encode()).hexdigest()


def _stored_sha(con: duckdb.DuckDBPyConnection, path: Path) -> str | None:
    try:
        rows = con.execute(
            "SELECT value FROM parquet_kv_metadata(?) WHERE key = ?", [str(path), CONTENT_KEY.encode()]
        ).fetchall()
    except duckdb.Error:  # unreadable: write it again
        return None
    return rows[0][0].decode() if rows else None


def _remove_leftovers(lake: Path, removed: list[str]) -> None:
    """Temporary files of a killed sync, and partition folders left empty."""
    raw = lake / "raw"
    if not raw.exists():
        return
    for temp in raw.rglob(f".*{_TEMP_MARK}*"):
        temp.unlink(missing_ok=True)
        removed.append(str(temp.relative_to(lake)))
    for folder in sorted((p for p in raw.glob("*/*=*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def _sync_keyed(con, lake: Path, table: LakeTable, expected: dict[Path, str], result: SyncResult) -> None:
    """Write the missing files of `expected` ({path: query}); remove the table's other files."""
    folder = table.folder(lake)
    existing = set(folder.glob("*=*/*.parquet")) if folder.exists() else set()
    for path, query in sorted(expected.items()):
        if path in existing:
            result.unchanged += 1
            continue
        _write(con, query, path)
        result.written.append(str(path.relative_to(lake)))
    for path in sorted(existing - set(expected)):
        path.unlink()
        result.removed.append(str(path.relative_to(lake)))
        if not any(path.parent.iterdir()):
            path.parent.rmdir()


def _sync_whole(con, lake: Path, table: LakeTable, query: str, result: SyncResult) -> None:
    path = table.folder(lake) / f"{table.name}.parquet"
    sha = _content_sha(con, query)
    if path.exists() and _stored_sha(con, path) == sha:
        result.unchanged += 1
        return
    _write(con, query, path, {CONTENT_KEY: sha})
    result.written.append(str(path.relative_to(lake)))


def sync(warehouse: Path | str, lake: Path | str, timeout_s: float | None = None) -> SyncResult:
    """Bring the lake up to date with the warehouse's published raw data (see the module docstring).

    Idempotent; one sync per lake at a time (a lock file in the lake). Reads the warehouse
    through a read-only connection. Raises WarehouseError or LakeError (one line).
    """
    lake = Path(lake).expanduser().resolve()
    try:
        lake.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LakeError(f"cannot create the lake folder {lake} (TUNEHOUSE_LAKE): {exc.strerror}") from None
    result = SyncResult(lake)
    with FileLock(str(lake / ".sync.lock")):
        _remove_leftovers(lake, result.removed)
        with read_connection(warehouse, timeout_s=timeout_s) as con:
            present = {r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'").fetchall()}
            loads, crawls = _published(con)
            result.loads, result.crawls = len(loads), len(crawls)
            load_filter = published_load_filter(con) if "kaggle_loads" in present else "true"
            crawl_filter = published_crawl_filter(con) if "crawl_runs" in present else "true"
            for table in TABLES:
                if table.name not in present:
                    continue
                _sync_table(con, lake, table, loads, crawls, load_filter, crawl_filter, result)
    log.info(result.summary())
    return result


def _sync_table(con, lake, table: LakeTable, loads, crawls, load_filter, crawl_filter, result) -> None:
    source = f"raw.{table.name}"
    folder = table.folder(lake)
    folder.mkdir(parents=True, exist_ok=True)  # an engine's table over it exists before its first file
    if table.keyed_by == "load":
        expected = {
            folder / f"load_id={load_id}" / f"load-{load_id}.parquet":
                f"SELECT * EXCLUDE (load_id) FROM {source} WHERE load_id = {int(load_id)} ORDER BY {table.order_by}"
            for load_id in loads
        }
        _sync_keyed(con, lake, table, expected, result)
    elif table.keyed_by == "crawl":
        expected = {
            folder / f"crawl_date={day}" / f"{crawl_id}.parquet":
                f"SELECT * FROM {source} WHERE crawl_id = {_literal(crawl_id)} ORDER BY {table.order_by}"
            for crawl_id, day in crawls
        }
        _sync_keyed(con, lake, table, expected, result)
    else:
        where = {"kaggle_loads": load_filter, "crawl_runs": crawl_filter}.get(table.name, "true")
        _sync_whole(con, lake, table, f"SELECT * FROM {source} WHERE {where} ORDER BY {table.order_by}", result)


def read_table_sql(lake: Path | str, name: str) -> str:
    """A DuckDB query over one lake table (partition columns included), e.g. for tests and ML."""
    table = next((t for t in TABLES if t.name == name), None)
    if table is None:
        raise LakeError(f"no table {name!r} in the lake (known: {', '.join(t.name for t in TABLES)})")
    folder = table.folder(Path(lake))
    if table.keyed_by == "whole":
        return f"SELECT * FROM read_parquet({_literal(str(folder / (name + '.parquet')))})"
    return f"SELECT * FROM read_parquet({_literal(str(folder / '*=*' / '*.parquet'))}, hive_partitioning = true)"


def lake_files(lake: Path | str) -> list[Path]:
    """Every visible Parquet file of the lake (what a reader sees), sorted."""
    raw = Path(lake) / "raw"
    return sorted(p for p in raw.rglob("*.parquet") if not p.name.startswith((".", "_"))) if raw.exists() else []

