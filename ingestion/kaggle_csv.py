"""Load a Kaggle "Spotify and Youtube" CSV into raw.kaggle_tracks: write, audit, publish.

`ingest_csv` is the whole load:

1. **File checks** (`check_file`), before the warehouse is touched: the path is a readable
   regular file (not a folder, a symbolic-link loop, a FIFO), not empty, not compressed or
   binary, UTF-8 without NUL bytes, with a Kaggle header (known columns, none twice, the
   required ones present). Any problem raises `CsvFileError`: one line naming the file.
2. **Write** (`write_pending`), one transaction: DuckDB's CSV reader splits the records
   (every field as text); a record scan of our own (`scan_records`) knows where each
   record starts, so every record is accounted for: loaded, or quarantined in
   raw.kaggle_quarantine with its line, field and reason. That includes a record cut by
   the end of the file (an open quote), which the reader drops without a word, and values
   that break their column's rule (`kaggle_schema`: not a number, not finite, out of
   range, negative counts). Mixed line endings are read as they are meant. The load is
   written with status `pending`, which no model downstream reads.
3. **Audit and publish** (`ingestion.publish`): the shrink check and dbt's tests on the new
   load; then the load is published (it becomes the current load) or kept as `rejected`
   with its reason, and `LoadRejected` names the problem.

Same content twice = one load (ingesting a published file again makes it current again);
a changed file is a new load.
"""

from __future__ import annotations

import bisect
import csv
import errno
import hashlib
import io
import logging
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from ingestion import publish
from ingestion.kaggle_schema import (
    BIGINT_LIMIT,
    KAGGLE_COLUMNS,
    REQUIRED_SOURCES,
    SourceColumn,
    ValueRule,
    column_for_header,
)
from warehouse import ensure_schema, transaction, write_connection

log = logging.getLogger(__name__)

#: Longest raw record kept in the quarantine (a quote left open can swallow the rest of a file).
RAW_RECORD_LIMIT = 65_536


class CsvFileError(ValueError):
    """The file cannot be loaded; the message names the file and the problem, in one line."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class LoadRejected(CsvFileError):
    """The load was written but failed its audit: it is kept as `rejected`, not published."""

    def __init__(self, path: Path, load_id: int, reason: str, current: int | None):
        stays = f"load {current} stays current" if current is not None else "no load is current"
        super().__init__(
            path, f"rejected (kept as load {load_id}, status 'rejected'): {reason}; {stays}"
        )
        self.load_id = load_id
        self.reason = reason


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
    #: pending (written, not yet audited), published or rejected
    status: str = "published"


@dataclass(frozen=True)
class RecordScan:
    """Where the records of a CSV file are, read as Python's csv module reads them (strict).

    Records are byte ranges [start, stop) (stop includes the line terminator); `lines` are
    the physical lines they start on (1 = the header; every LF, CRLF or lone CR counts).
    Blank lines are not records (DuckDB's reader and Python's csv skip them too). `broken`
    names the records whose quoting is broken: "quote" (a closing quote followed by other
    text; the record ends at the end of that line) or "cut" (a quoted field the file never
    closes; the record runs to the end of the file).
    """

    starts: list[int]
    stops: list[int]
    lines: list[int]
    broken: dict[int, str]
    #: Line terminators seen outside quoted fields: any of "\n", "\r\n", "\r".
    terminators: frozenset[str]
    #: Offsets of those terminators and their lengths (for rewriting mixed endings).
    terminator_spans: list[tuple[int, int]]

    @property
    def cut_at_eof(self) -> bool:
        return self.broken.get(len(self.starts) - 1) == "cut"


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed the file-level checks, with its bytes and record scan."""

    path: Path
    data: bytes
    sha256: str
    scan: RecordScan
    layout: CsvLayout


# --- file-level checks -------------------------------------------------------------------

_MAGIC = (
    (b"\x1f\x8b", "is gzip-compressed, not a CSV text file; decompress it first (gunzip)"),
    (b"PK\x03\x04", "is a ZIP archive, not a CSV text file; extract the CSV first"),
    (b"BZh", "is bzip2-compressed, not a CSV text file; decompress it first"),
    (b"\xfd7zXZ\x00", "is xz-compressed, not a CSV text file; decompress it first"),
    (b"\x28\xb5\x2f\xfd", "is zstd-compressed, not a CSV text file; decompress it first"),
    (b"\x00\x00\xfe\xff", "is UTF-32 text; re-save the file as UTF-8"),
    (b"\xff\xfe\x00\x00", "is UTF-32 text; re-save the file as UTF-8"),
    (b"\xfe\xff", "is UTF-16 text; re-save the file as UTF-8"),
    (b"\xff\xfe", "is UTF-16 text; re-save the file as UTF-8"),
)
_BOM = b"\xef\xbb\xbf"


def _absolute(path: Path | str) -> Path:
    # Not Path.resolve(): on a symbolic-link loop it raises RuntimeError (Python 3.11).
    return Path(os.path.abspath(Path(path).expanduser()))


def _stat(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise CsvFileError(path, f"is a broken symbolic link (to {os.readlink(path)})") from None
        raise CsvFileError(path, "file does not exist") from None
    except PermissionError:
        raise CsvFileError(path, "cannot be read (permission denied)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CsvFileError(path, "is a symbolic link loop (too many levels of symbolic links)") from None
        if exc.errno == errno.ENOTDIR:
            raise CsvFileError(path, "file does not exist (a folder on its path is a file)") from None
        raise CsvFileError(path, f"cannot be read ({exc.strerror or exc})") from None


def _read_bytes(path: Path) -> bytes:
    info = _stat(path)
    if stat.S_ISDIR(info.st_mode):
        raise CsvFileError(path, "is a directory, not a CSV file")
    if not stat.S_ISREG(info.st_mode):
        raise CsvFileError(path, "is not a regular file (a FIFO, socket or device)")
    if info.st_size == 0:
        raise CsvFileError(path, "file is empty")
    try:
        return path.read_bytes()
    except PermissionError:
        raise CsvFileError(path, "cannot be read (permission denied)") from None
    except OSError as exc:
        raise CsvFileError(path, f"cannot be read ({exc.strerror or exc})") from None


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _check_text(path: Path, data: bytes) -> None:
    for magic, problem in _MAGIC:
        if data.startswith(magic):
            raise CsvFileError(path, problem)
    nul = data.find(b"\x00")
    if nul >= 0:
        head = data[:4096]
        if head.count(b"\x00") * 3 >= len(head):  # every other byte: UTF-16 without a BOM
            raise CsvFileError(path, "looks like UTF-16 text (NUL bytes between characters); re-save it as UTF-8")
        raise CsvFileError(
            path, f"not a CSV text file (NUL byte at offset {nul}, line {_line_at(data, nul)})"
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end >= len(data) and exc.reason == "unexpected end of data":
            raise CsvFileError(path, "not UTF-8 text (file ends inside a multi-byte character)") from None
        raise CsvFileError(
            path,
            f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start}, "
            f"line {_line_at(data, exc.start)}); re-save the file as UTF-8",
        ) from None


_SPECIAL = re.compile(rb'["\r\n]')
_LINE_END = re.compile(rb"[\r\n]")


def _terminators(data: bytes, start: int, stop: int) -> int:
    """Physical line breaks in data[start:stop] (LF, CRLF and lone CR count once each)."""
    return data.count(b"\n", start, stop) + data.count(b"\r", start, stop) - data.count(b"\r\n", start, stop)


def scan_records(data: bytes, start: int = 0) -> RecordScan:
    """Find every record of `data` (from offset `start`, after a BOM).

    RFC 4180 with `"` as quote and escape, as Python's csv module reads it in strict mode:
    a quote opens a quoted field only at the start of a field; inside it `""` is a quote and
    line breaks are data; a quote elsewhere is an ordinary character. A closing quote
    followed by anything but a comma or a line break breaks the record, which then ends at
    the end of that physical line. A quoted field still open at the end of the file cuts
    the last record there. (tests: the record scan against Python's csv, by hypothesis.)
    """
    n = len(data)
    starts: list[int] = []
    stops: list[int] = []
    lines: list[int] = []
    broken: dict[int, str] = {}
    kinds: set[str] = set()
    spans: list[tuple[int, int]] = []
    pos = rec_start = start
    line = rec_line = 1

    def end_record(at: int, flag: str | None = None) -> int:
        """Close the record at line break `at` (or the end of the file); returns where the next starts."""
        nonlocal line, rec_start, rec_line
        if at >= n:
            nxt = n
        else:
            kind = "\r\n" if data[at] == 0x0D and data[at + 1 : at + 2] == b"\n" else chr(data[at])
            kinds.add(kind)
            spans.append((at, len(kind)))
            nxt = at + len(kind)
        if at > rec_start or flag is not None:
            if flag is not None:
                broken[len(starts)] = flag
            starts.append(rec_start), stops.append(nxt), lines.append(rec_line)
        line += 1
        rec_start, rec_line = nxt, line
        return nxt

    while True:
        m = _SPECIAL.search(data, pos)
        if m is None:
            if rec_start < n:
                starts.append(rec_start), stops.append(n), lines.append(rec_line)
            break
        i = m.start()
        if data[i] != 0x22:  # a line break outside quotes ends the record (an empty one is a blank line)
            pos = end_record(i)
            continue
        if i != rec_start and data[i - 1] != 0x2C:
            pos = i + 1  # a quote inside an unquoted field: an ordinary character
            continue
        j = i + 1
        while True:
            q = data.find(b'"', j)
            if q < 0 or data[q + 1 : q + 2] != b'"':
                break
            j = q + 2
        if q < 0:  # the quoted field never closes: the record is cut by the end of the file
            broken[len(starts)] = "cut"
            starts.append(rec_start), stops.append(n), lines.append(rec_line)
            break
        line += _terminators(data, i, q)
        after = data[q + 1 : q + 2]
        if after and after not in b",\r\n":  # broken quoting: the record ends with this line
            eol = _LINE_END.search(data, q + 1)
            pos = end_record(eol.start() if eol else n, "quote")
            if eol is None:
                break
            continue
        pos = q + 1
    return RecordScan(starts, stops, lines, broken, frozenset(kinds), spans)


def _header_fields(path: Path, data: bytes, scan: RecordScan, start: int) -> list[str]:
    if not scan.starts:
        raise CsvFileError(path, "has no text (only line breaks)")
    if scan.starts[0] != start:
        raise CsvFileError(path, "the first line is empty (expected the Kaggle header there)")
    if scan.cut_at_eof and len(scan.starts) == 1:
        raise CsvFileError(path, "header is not valid CSV (a quote in it is never closed)")
    text = data[scan.starts[0] : scan.stops[0]].decode("utf-8")
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise CsvFileError(path, f"header is not valid CSV ({exc})") from None
    return rows[0] if rows else []


def _field_words(field: str) -> str:
    """A header name as a quarantine reason says it (the row index column has an empty name)."""
    return f"field {field!r}" if field else "the row index (the header's unnamed column)"


def _layout(path: Path, header: list[str]) -> CsvLayout:
    if len(header) < 2:
        raise CsvFileError(path, "not a CSV file (the first line has no comma-separated header)")
    mapped: list[SourceColumn] = []
    seen: dict[str, str] = {}
    unknown: list[str] = []
    for position, name in enumerate(header, start=1):
        column = column_for_header(name)
        if column is None:
            # Unknown extra columns are read as text and then ignored.
            unknown.append(name)
            column = SourceColumn(name, f"_extra_{position}", "VARCHAR", required=False)
        if column.raw in seen:
            twice = f"column {name!r} appears twice in the header"
            if name != seen[column.raw]:
                twice = f"columns {seen[column.raw]!r} and {name!r} are the same column (the row index)"
            raise CsvFileError(path, twice)
        seen[column.raw] = name
        mapped.append(column)
    present = {c.source for c in mapped if not c.raw.startswith("_extra_")}
    missing = [name for name in REQUIRED_SOURCES if name not in present]
    if missing:
        if len(missing) == len(REQUIRED_SOURCES):
            raise CsvFileError(
                path, "the first line is not the Kaggle 'Spotify and Youtube' header (no known column name)"
            )
        hint = f"; the header has unknown column{'s' if len(unknown) > 1 else ''} " + ", ".join(
            repr(u) for u in unknown[:5]
        ) if unknown else ""
        raise CsvFileError(
            path,
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(expected the Kaggle 'Spotify and Youtube' header){hint}",
        )
    return CsvLayout(columns=tuple(mapped), has_description="Description" in present)


def check_file(path: Path | str) -> CheckedFile:
    """Every file-level check; raises CsvFileError (one line naming the file) on the first problem."""
    path = _absolute(path)
    data = _read_bytes(path)
    _check_text(path, data)
    start = len(_BOM) if data.startswith(_BOM) else 0
    scan = scan_records(data, start)
    layout = _layout(path, _header_fields(path, data, scan, start))
    if len(scan.starts) == 1:
        raise CsvFileError(path, "has a header but no data rows")
    return CheckedFile(path, data, hashlib.sha256(data).hexdigest(), scan, layout)


def read_layout(path: Path | str) -> CsvLayout:
    """Validate the file as a whole and map its header to raw columns."""
    return check_file(path).layout


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- value rules, as SQL over the text of each field ---------------------------------------

_NUMBER_RE = r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"
_NON_FINITE_RE = r"[+-]?(nan|inf|infinity)"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _fmt(bound: float) -> str:
    return f"{bound:g}"


def _problem_sql(column: SourceColumn) -> str | None:
    """SQL giving 'ERROR TYPE|what is wrong' for a bad value of `column`, else NULL."""
    rule: ValueRule = column.rule
    t = f's."{column.raw}"'
    if rule.kind == "boolean":
        return f"CASE WHEN {t} IS NOT NULL AND lower({t}) NOT IN ('true', 'false') THEN 'CAST|is not True or False' END"
    if rule.kind != "number":
        return None
    d = f"CAST({t} AS DOUBLE)"
    about = f" ({rule.meaning})" if rule.meaning else ""
    whens = [
        f"WHEN regexp_full_match(lower({t}), '{_NON_FINITE_RE}') THEN 'NOT FINITE|is not a finite number'",
        f"WHEN NOT regexp_full_match({t}, '{_NUMBER_RE}') THEN 'CAST|is not a number'",
        f"WHEN NOT isfinite({d}) THEN 'OUT OF RANGE|is too large for a number (overflows a double)'",
    ]
    if rule.whole:
        whens.append(f"WHEN {d} <> trunc({d}) THEN {_sql_text('NOT WHOLE|is not a whole number' + about)}")
    if rule.low is not None:
        if rule.low == 0 and rule.whole:
            whens.append(f"WHEN {d} < 0 THEN {_sql_text('NEGATIVE|is negative, and ' + rule.meaning + ' cannot be')}")
        else:
            whens.append(
                f"WHEN {d} < {rule.low!r} THEN {_sql_text(f'OUT OF RANGE|is below {_fmt(rule.low)}' + about)}"
            )
    if rule.high is not None:
        whens.append(f"WHEN {d} > {rule.high!r} THEN {_sql_text(f'OUT OF RANGE|is above {_fmt(rule.high)}' + about)}")
    if rule.whole:
        whens.append(
            f"WHEN abs({d}) >= {float(BIGINT_LIMIT)!r} "
            f"THEN {_sql_text('OUT OF RANGE|does not fit a 64-bit integer' + about)}"
        )
    return f"CASE WHEN {t} IS NULL THEN NULL " + " ".join(whens) + " END"


def _typed_sql(column: SourceColumn) -> str:
    t = f's."{column.raw}"'
    if column.rule.kind == "boolean":
        return f"lower({t}) = 'true'"
    if column.rule.kind == "number":
        return f"CAST(CAST({t} AS DOUBLE) AS BIGINT)" if column.duckdb_type == "BIGINT" else f"CAST({t} AS DOUBLE)"
    return t


# --- the write stage ----------------------------------------------------------------------


def _reader_copy(checked: CheckedFile, folder: Path) -> tuple[Path, bytes]:
    """The file as DuckDB's reader gets it when the record scan found something it reads otherwise.

    Every line break outside quoted fields is written as LF (the reader stops with "invalid
    state" when one file mixes LF, CRLF or lone CR), and every broken record (bad quoting, or
    cut by the end of the file) becomes blank lines: the reader would split it differently
    (it reads on with quote rules where Python's csv ends the record, or drops a cut record
    without a word); they go to the quarantine from the scan. Line numbers do not change.
    """
    data, scan = checked.data, checked.scan
    out, last = [], 0
    for record in sorted(scan.broken):
        start, stop = scan.starts[record], scan.stops[record]
        out += [data[last:start], b"\n" * _terminators(data, start, stop)]
        last = stop
    out.append(data[last:])
    blanked = b"".join(out)
    parts, last = [], 0
    for offset, length in scan_records(blanked, len(_BOM) if blanked.startswith(_BOM) else 0).terminator_spans:
        parts += [blanked[last:offset], b"\n"]
        last = offset + length
    parts.append(blanked[last:])
    copy, result = folder / checked.path.name, b"".join(parts)
    copy.write_bytes(result)
    return copy, result


def _read_csv(con: duckdb.DuckDBPyConnection, source: Path, columns: tuple[SourceColumn, ...]) -> None:
    struct = "{" + ", ".join(f"'{c.raw}': 'VARCHAR'" for c in columns) + "}"
    # Every field as text: the value rules decide what a bad value is (kaggle_schema).
    con.execute("DROP TABLE IF EXISTS kaggle_rejects; DROP TABLE IF EXISTS kaggle_reject_scans")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE kaggle_scan AS
        SELECT row_number() OVER () AS accepted_ordinal, *
        FROM read_csv(
            ?, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
            nullstr = '', encoding = 'utf-8', parallel = false,
            max_line_size = 16777216,
            columns = {struct},
            store_rejects = true, rejects_table = 'kaggle_rejects',
            rejects_scan = 'kaggle_reject_scans', rejects_limit = 0
        )
        """,
        [str(source)],
    )


def _record_of(scan: RecordScan, position: int) -> int:
    """Index (0 = header) of the record holding byte `position`, or the next one after a gap."""
    k = bisect.bisect_right(scan.starts, position) - 1
    if k < 0:
        return 0
    if position >= scan.stops[k]:  # in blank lines between two records
        return k + 1
    return k


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: list[tuple],
            constants: dict[str, str] | None = None) -> None:
    """Insert many rows at once (one list parameter per column; `constants`: column → SQL)."""
    if not rows:
        return
    constants = constants or {}
    lists = [list(col) for col in zip(*rows, strict=True)]
    select = [f"unnest(${i + 1}) AS {name}" for i, name in enumerate(columns)]
    select += [f"{sql} AS {name}" for name, sql in constants.items()]
    con.execute(f"INSERT INTO {table} ({', '.join([*columns, *constants])}) SELECT {', '.join(select)}", lists)


def _raw_record(data: bytes, scan: RecordScan, record: int) -> str:
    text = data[scan.starts[record] : scan.stops[record]].decode("utf-8")
    text = text.rstrip("\r\n")
    return text if len(text) <= RAW_RECORD_LIMIT else text[:RAW_RECORD_LIMIT] + "…"


def _write_rows(
    con: duckdb.DuckDBPyConnection, checked: CheckedFile, source: Path, data: bytes, load_id: int
) -> tuple[int, int]:
    """Scan, check and insert the load's rows and quarantine; returns (loaded, quarantined).

    `source` is the file DuckDB reads and `data` its bytes: the checked file itself, or its
    copy (`_reader_copy`: one kind of line break, broken records blanked; same lines, other
    byte offsets). Every record of the scan ends up loaded or quarantined, or the file is
    refused: the counts of the reader and of the scan must agree.
    """
    path, layout, scan = checked.path, checked.layout, checked.scan
    # The reader's records, in `data`: the scan's records without the broken ones.
    reader_scan = scan if data is checked.data else scan_records(data, len(_BOM) if data.startswith(_BOM) else 0)
    record_at_line = {line: r for r, line in enumerate(scan.lines)}
    try:
        _read_csv(con, source, layout.columns)
    except duckdb.Error as exc:
        raise CsvFileError(path, f"cannot be read as CSV ({str(exc).splitlines()[0]})") from None
    rejects = con.execute(
        "SELECT line, line_byte_position, byte_position, column_name, error_type, csv_line, error_message "
        "FROM kaggle_rejects ORDER BY line, column_idx"
    ).fetchall()
    accepted = con.execute("SELECT count(*) FROM kaggle_scan").fetchone()[0]

    # Which record each rejection is about (DuckDB's own line numbers skip quoted breaks).
    by_reader_line: dict[int, int] = {}
    for reader_line, line_pos, byte_pos, *_ in rejects:
        k = _record_of(reader_scan, line_pos if line_pos is not None else byte_pos)
        record = record_at_line.get(reader_scan.lines[k], 0) if 0 < k < len(reader_scan.lines) else 0
        by_reader_line.setdefault(reader_line, record)
    records = len(scan.starts) - 1  # data records
    bad: set[int] = set(by_reader_line.values())
    if len(bad) != len(by_reader_line) or 0 in bad or bad & set(scan.broken):
        raise CsvFileError(path, "cannot be read as CSV unambiguously (the reader and the record scan disagree "
                                 "on where its records are); fix the quotes")
    bad |= set(scan.broken)
    good_records = [r for r in range(1, records + 1) if r not in bad]
    if len(good_records) != accepted:
        raise CsvFileError(
            path,
            f"cannot be read as CSV unambiguously (the reader returned {accepted} rows, the file has "
            f"{len(good_records)} records that are not rejected); fix the quotes",
        )

    con.execute("CREATE OR REPLACE TEMP TABLE kaggle_records (accepted_ordinal BIGINT, record_number BIGINT)")
    _insert(con, "kaggle_records", ["accepted_ordinal", "record_number"],
            list(enumerate(good_records, start=1)))
    checks = [(c, _problem_sql(c)) for c in layout.columns if not c.raw.startswith("_extra_")]
    unions = " UNION ALL ".join(
        f"SELECT s.accepted_ordinal, {_sql_text(c.source)} AS field, {sql} AS problem, "
        f's."{c.raw}" AS value FROM kaggle_scan s'
        for c, sql in checks if sql is not None
    )
    value_errors = con.execute(
        f"""
        SELECT r.record_number, e.field, split_part(e.problem, '|', 1), split_part(e.problem, '|', 2), e.value
        FROM ({unions}) AS e JOIN kaggle_records r USING (accepted_ordinal)
        WHERE e.problem IS NOT NULL
        ORDER BY r.record_number, e.field
        """
    ).fetchall() if unions else []

    quarantine: list[tuple] = []
    for reader_line, _line_pos, _byte_pos, column_name, error_type, csv_line, message in rejects:
        record = by_reader_line[reader_line]
        # DuckDB names no column (an empty name) for a record-level error such as too many columns.
        field = next((c.source for c in layout.columns if c.raw == column_name), column_name or None)
        where = f" in {_field_words(field)}" if field is not None else ""
        quarantine.append((record, field, error_type, f"{error_type.lower()}{where}: {message}", csv_line))
    for record, how in scan.broken.items():
        if how == "cut":
            quarantine.append((record, None, "CUT BY END OF FILE",
                               "cut by end of file: a quoted field opened in this record is never closed",
                               _raw_record(checked.data, scan, record)))
        else:
            quarantine.append((record, None, "BAD QUOTE",
                               "bad quote: a quoted field is followed by other text before the next comma "
                               "(the record ends with its line)", _raw_record(checked.data, scan, record)))
    for record, field, error_type, what, value in value_errors:
        shown = value if len(value) <= 60 else value[:60] + "…"
        quarantine.append((record, field, error_type, f"{error_type.lower()} in {_field_words(field)}: {shown!r} {what}",
                           _raw_record(checked.data, scan, record)))

    value_bad = {row[0] for row in value_errors}
    loaded = accepted - len(value_bad)
    quarantined = len(bad) + len(value_bad)
    if loaded == 0:
        first = min(quarantine, key=lambda q: q[0])
        raise CsvFileError(
            path, f"no row could be loaded ({quarantined} bad rows; first, line {scan.lines[first[0]]}: {first[3]})"
        )

    kaggle_raw = [c.raw for c in KAGGLE_COLUMNS]
    present = {c.raw: c for c in layout.columns}
    select_cols = ", ".join(_typed_sql(present[name]) if name in present else "NULL" for name in kaggle_raw)
    con.execute(
        f"""
        INSERT INTO raw.kaggle_tracks (load_id, source_row_number, {', '.join(kaggle_raw)},
                                       source_file, file_sha256, loaded_at)
        SELECT ?, r.record_number, {select_cols}, ?, ?, now()
        FROM kaggle_scan s JOIN kaggle_records r USING (accepted_ordinal)
        WHERE r.record_number NOT IN (SELECT unnest(?::BIGINT[]))
        """,
        [load_id, path.name, checked.sha256, sorted(value_bad)],
    )
    _insert(
        con, "raw.kaggle_quarantine",
        ["load_id", "source_file", "file_sha256", "line", "field", "error_type", "reason", "raw_record"],
        [(load_id, path.name, checked.sha256, scan.lines[record], field, error_type, reason, raw)
         for record, field, error_type, reason, raw in sorted(quarantine, key=lambda q: q[0])],
        constants={"quarantined_at": "now()"},
    )
    con.execute("DROP TABLE kaggle_scan; DROP TABLE kaggle_records")
    return loaded, quarantined


def write_pending(checked: CheckedFile, warehouse: Path | str, lock_timeout_s: float | None = None) -> LoadResult:
    """Write the load as `pending` in one transaction (the caller holds the ingest lock).

    A file already published is not written again: it is marked as ingested now (which
    makes it the current load) and returned with `already_loaded`. An earlier attempt of
    the same file that was rejected or interrupted is replaced under its load_id.
    """
    path = checked.path
    copy = len(checked.scan.terminators) > 1 or checked.scan.broken
    folder = Path(tempfile.mkdtemp(prefix="tunehouse-csv-")) if copy else None
    try:
        source, data = _reader_copy(checked, folder) if folder else (path, checked.data)
        with write_connection(warehouse, timeout_s=lock_timeout_s) as con, transaction(con):
            ensure_schema(con)
            publish.recover_interrupted(con)
            existing = con.execute(
                "SELECT load_id, row_count, quarantined_count, status FROM raw.kaggle_loads WHERE file_sha256 = ?",
                [checked.sha256],
            ).fetchone()
            if existing is not None and existing[3] == "published":
                con.execute("UPDATE raw.kaggle_loads SET last_ingested_at = now() WHERE load_id = ?", [existing[0]])
                log.info("%s already loaded as load %s; it is the current load again", path.name, existing[0])
                return LoadResult(existing[0], path.name, checked.sha256, existing[1], existing[2], True)
            if existing is not None:  # an earlier attempt that did not publish: try again
                load_id = existing[0]
                for table in ("raw.kaggle_tracks", "raw.kaggle_quarantine", "raw.kaggle_loads"):
                    con.execute(f"DELETE FROM {table} WHERE load_id = ?", [load_id])
            else:
                load_id = con.execute("SELECT nextval('raw.kaggle_load_id_seq')").fetchone()[0]
            loaded, quarantined = _write_rows(con, checked, source, data, load_id)
            con.execute(
                """
                INSERT INTO raw.kaggle_loads (load_id, source_file, source_path, file_sha256, file_bytes,
                    has_description, row_count, quarantined_count, loaded_at, last_ingested_at, status)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, now(), now(), 'pending')
                """,
                [load_id, path.name, str(path), checked.sha256, len(checked.data),
                 checked.layout.has_description, loaded, quarantined],
            )
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    log.info("wrote %s as pending load %s: %s rows, %s quarantined", path.name, load_id, loaded, quarantined)
    return LoadResult(load_id, path.name, checked.sha256, loaded, quarantined, False, "pending")


def ingest_csv(
    path: Path | str,
    warehouse: Path | str,
    *,
    max_shrink: float = publish.DEFAULT_MAX_SHRINK,
    allow_shrink: bool = False,
    lock_timeout_s: float | None = None,
) -> LoadResult:
    """Load one Kaggle CSV: check, write as pending, audit, publish (see the module's doc).

    Raises CsvFileError (nothing written) or LoadRejected (kept as rejected; the current
    load does not change). `max_shrink`: the largest share of the current load's rows a
    new load may lose before it is rejected as probably truncated, unless `allow_shrink`.
    """
    checked = check_file(path)
    with publish.ingest_lock(warehouse, lock_timeout_s):
        written = write_pending(checked, warehouse, lock_timeout_s)
        if written.already_loaded:
            return written
        try:
            problem = publish.audit(warehouse, written.load_id, max_shrink=max_shrink,
                                    allow_shrink=allow_shrink, lock_timeout_s=lock_timeout_s)
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM) or an unexpected failure: do not leave it pending
            # (if even that fails, the next ingest marks it rejected: recover_interrupted).
            try:
                publish.finish(warehouse, written.load_id, publish.INTERRUPTED, lock_timeout_s=lock_timeout_s)
            except Exception:  # noqa: BLE001 - the original error is the one to report
                log.warning("could not mark load %s rejected", written.load_id, exc_info=True)
            raise
        current = publish.finish(warehouse, written.load_id, problem, lock_timeout_s=lock_timeout_s)
    if problem is not None:
        raise LoadRejected(checked.path, written.load_id, problem, current)
    log.info("published %s as load %s", checked.path.name, written.load_id)
    return replace(written, status="published")
