"""Load a Kaggle "Spotify and Youtube" CSV into raw.kaggle_tracks.

DuckDB's own CSV reader parses and types the file; rows it cannot parse or type are
kept in raw.kaggle_quarantine with their line and reason, the good rows load. Problems
with the file as a whole (not UTF-8, not a CSV, required columns missing, no usable
rows) raise CsvFileError before anything is written. A load is one transaction.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingestion.kaggle_schema import KAGGLE_COLUMNS, REQUIRED_SOURCES, SourceColumn, column_for_header
from warehouse import ensure_schema, transaction, write_connection

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class CsvFileError(ValueError):
    """The file as a whole cannot be loaded; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class CsvLayout:
    """What the header says: which raw column each field maps to, in file order."""

    columns: tuple[SourceColumn, ...]
    has_description: bool


@dataclass(frozen=True)
class LoadResult:
    load_id: int
    source_file: str
    file_sha256: str
    rows_loaded: int
    rows_quarantined: int
    already_loaded: bool


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_utf8(path: Path) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            if b"\x00" in chunk:
                at = offset + chunk.index(b"\x00")
                raise CsvFileError(path, f"not a CSV text file (NUL byte at offset {at})")
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = offset + exc.start
                line += chunk[: exc.start].count(b"\n")
                raise CsvFileError(
                    path,
                    f"not UTF-8 text (invalid byte 0x{chunk[exc.start]:02x} at offset {at}, line {line}); "
                    "re-save the file as UTF-8",
                ) from None
            line += chunk.count(b"\n")
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise CsvFileError(path, "not UTF-8 text (file ends inside a multi-byte character)") from None


def read_layout(path: Path) -> CsvLayout:
    """Validate the file as a whole and map its header to raw columns."""
    if not path.exists():
        raise CsvFileError(path, "file does not exist")
    if not path.is_file():
        raise CsvFileError(path, "not a file")
    if path.stat().st_size == 0:
        raise CsvFileError(path, "file is empty")
    _check_utf8(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        try:
            header = next(csv.reader(io.StringIO(fh.readline())), None)
        except csv.Error as exc:
            raise CsvFileError(path, f"header is not valid CSV ({exc})") from None
    if not header or len(header) < 2:
        raise CsvFileError(path, "not a CSV file (the first line has no comma-separated header)")
    mapped: list[SourceColumn] = []
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        column = column_for_header(name)
        if column is None:
            # Unknown extra columns are read as text and then ignored.
            column = SourceColumn(name, f"_extra_{position}", "VARCHAR", required=False)
        if column.raw in seen:
            raise CsvFileError(path, f"column {name!r} appears twice in the header")
        seen.add(column.raw)
        mapped.append(column)
    present = {c.source for c in mapped}
    missing = [name for name in REQUIRED_SOURCES if name not in present]
    if missing:
        raise CsvFileError(
            path,
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            "(expected the Kaggle 'Spotify and Youtube' header)",
        )
    return CsvLayout(columns=tuple(mapped), has_description="Description" in present)


def _duckdb_struct(columns: tuple[SourceColumn, ...]) -> str:
    return "{" + ", ".join(f"'{c.raw}': '{c.duckdb_type}'" for c in columns) + "}"


def _physical_lines(path: Path, byte_positions: list[int]) -> dict[int, int]:
    """Map byte offsets to 1-based physical line numbers (a record may span lines)."""
    wanted = sorted(set(byte_positions))
    result: dict[int, int] = {}
    if not wanted:
        return result
    data = path.read_bytes()
    line, last = 1, 0
    for pos in wanted:
        line += data.count(b"\n", last, pos)
        result[pos] = line
        last = pos
    return result


def ingest_csv(path: Path | str, warehouse: Path | str | None = None) -> LoadResult:
    """Load one Kaggle CSV. Same content twice = one load; a new version = a new load."""
    path = Path(path).expanduser().resolve()
    layout = read_layout(path)
    sha = file_sha256(path)
    by_raw = {c.raw: c.source for c in layout.columns}
    kaggle_raw = [c.raw for c in KAGGLE_COLUMNS if c.raw != "source_index"]

    with write_connection(warehouse) as con, transaction(con):
        ensure_schema(con)
        existing = con.execute(
            "SELECT load_id, row_count, quarantined_count FROM raw.kaggle_loads WHERE file_sha256 = ?",
            [sha],
        ).fetchone()
        if existing is not None:
            con.execute(
                "UPDATE raw.kaggle_loads SET last_ingested_at = now() WHERE load_id = ?", [existing[0]]
            )
            log.info("%s already loaded as load %s; marked as the latest load", path.name, existing[0])
            return LoadResult(existing[0], path.name, sha, existing[1], existing[2], True)

        _scan(con, path, layout)
        rejects = con.execute(
            """
            SELECT line, line_byte_position, column_name, error_type, csv_line, error_message
            FROM kaggle_rejects ORDER BY line, column_idx
            """
        ).fetchall()
        accepted = con.execute("SELECT count(*) FROM kaggle_scan").fetchone()[0]
        if accepted == 0:
            if rejects:
                first = rejects[0]
                raise CsvFileError(
                    path, f"no row could be loaded ({len({r[0] for r in rejects})} bad rows; first: {first[5]})"
                )
            raise CsvFileError(path, "has a header but no data rows")

        load_id = con.execute("SELECT nextval('raw.kaggle_load_id_seq')").fetchone()[0]
        select_cols = ", ".join(
            (f"s.{name}" if name in by_raw else f"NULL AS {name}") for name in kaggle_raw
        )
        index_expr = "s.source_index" if "source_index" in by_raw else "NULL"
        # A record's number = its position among accepted rows plus the rejected records
        # before it (DuckDB reports rejects by record number, header = 1).
        con.execute(
            f"""
            INSERT INTO raw.kaggle_tracks
            WITH rejected AS (
                SELECT r - row_number() OVER (ORDER BY r) AS accepted_before
                FROM (SELECT DISTINCT line - 1 AS r FROM kaggle_rejects)
            )
            SELECT ?, s.accepted_ordinal
                      + (SELECT count(*) FROM rejected WHERE accepted_before < s.accepted_ordinal),
                   {index_expr}, {select_cols}, ?, ?, now()
            FROM kaggle_scan s
            """,
            [load_id, path.name, sha],
        )
        lines = _physical_lines(path, [r[1] for r in rejects if r[1] is not None])
        if rejects:
            _quarantine(con, load_id, path.name, sha, rejects, lines, by_raw)
        quarantined = len({r[0] for r in rejects})
        con.execute(
            """
            INSERT INTO raw.kaggle_loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, now(), now())
            """,
            [load_id, path.name, str(path), sha, path.stat().st_size, layout.has_description, accepted, quarantined],
        )
        con.execute("DROP TABLE kaggle_scan")
    log.info("loaded %s as load %s: %s rows, %s quarantined", path.name, load_id, accepted, quarantined)
    return LoadResult(load_id, path.name, sha, accepted, quarantined, False)


def _quarantine(con, load_id, source_file, sha, rejects, lines, by_raw) -> None:
    rows = []
    for _record, byte_pos, raw_field, error_type, csv_line, message in rejects:
        field = by_raw.get(raw_field, raw_field) if raw_field else None
        where = f" in field {field!r}" if field is not None else ""
        rows.append(
            (load_id, source_file, sha, lines.get(byte_pos), field, error_type,
             f"{error_type.lower()}{where}: {message}", csv_line)
        )
    con.executemany(
        "INSERT INTO raw.kaggle_quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())", rows
    )


def _scan(con: duckdb.DuckDBPyConnection, path: Path, layout: CsvLayout) -> None:
    # Strings are bound as parameters; the column struct is built from our own names.
    con.execute("DROP TABLE IF EXISTS kaggle_rejects; DROP TABLE IF EXISTS kaggle_reject_scans")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE kaggle_scan AS
        SELECT row_number() OVER () AS accepted_ordinal, *
        FROM read_csv(
            ?, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
            nullstr = '', encoding = 'utf-8', parallel = false,
            max_line_size = 16777216,
            columns = {_duckdb_struct(layout.columns)},
            store_rejects = true, rejects_table = 'kaggle_rejects',
            rejects_scan = 'kaggle_reject_scans', rejects_limit = 0
        )
        """,
        [str(path)],
    )
