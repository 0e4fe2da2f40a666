"""Malformed variants of a Kaggle CSV, generated from a seed: the campaign's inputs.

`variants(base, count_per_kind)` lists descriptors; `make(variant, base_bytes, folder)`
writes the variant (a file, a folder, a symbolic link…) and returns the path to ingest.
Each kind draws from `random.Random(variant.id)`, so a variant is the same on every run.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import os
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

COUNTS = ("Views", "Likes", "Comments", "Stream", "Duration_ms")
RATIOS = ("Danceability", "Energy", "Speechiness", "Acousticness", "Instrumentalness", "Liveness", "Valence")
NUMERIC = (*COUNTS, *RATIOS, "Key", "Loudness", "Tempo")


@dataclass(frozen=True)
class Variant:
    base: str  # "sample" or "real"
    kind: str
    index: int
    #: through the `tunehouse ingest` subprocess, else `ingest_csv` in process
    via_cli: bool

    @property
    def id(self) -> str:
        return f"{self.base}-{self.kind}-{self.index:02d}"


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def _csv(rows: list[list[str]], terminator: str = "\n") -> bytes:
    """Records ending in `terminator`; a field with any line break is quoted."""
    out = io.StringIO()
    for row in rows:
        one = io.StringIO()
        csv.writer(one, lineterminator="\n").writerow(row)
        out.write(one.getvalue()[:-1] + terminator)
    return out.getvalue().encode("utf-8")


def _set_cells(rng: random.Random, rows: list[list[str]], columns: tuple[str, ...], values: list[str],
               count: int) -> list[list[str]]:
    header = rows[0]
    usable = [c for c in columns if c in header]
    for _ in range(count):
        r, c = rng.randrange(1, len(rows)), header.index(rng.choice(usable))
        if c < len(rows[r]):  # (a short record of an earlier step of `combo` stays short)
            rows[r][c] = rng.choice(values)
    return rows


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


# --- the kinds -------------------------------------------------------------------------------

def byte_flip(rng, data, folder):
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        i = rng.randrange(len(buf))
        buf[i] = (buf[i] + rng.randrange(1, 256)) % 256
    return _write(folder, "flipped.csv", bytes(buf))


def ascii_flip(rng, data, folder):
    buf = bytearray(data)
    for _ in range(rng.choice((1, 2, 4))):
        i = rng.randrange(len(buf))
        if buf[i] < 0x80:  # keep the file UTF-8: touch ASCII bytes only
            buf[i] = ord(rng.choice(',"\n\r x9.-e'))
    return _write(folder, "ascii_flipped.csv", bytes(buf))


def truncate(rng, data, folder):
    return _write(folder, "truncated.csv", data[: rng.randrange(1, len(data))])


def truncate_tail(rng, data, folder):
    cut = len(data) - rng.randrange(1, max(2, len(data) // 50))
    return _write(folder, "truncated_tail.csv", data[:cut])


def encoding(rng, data, folder):
    rows = _rows(data)
    header = rows[0]
    for _ in range(5):
        r = rng.randrange(1, len(rows))
        rows[r][header.index("Artist")] = rng.choice(["Beyoncé", "Sigur Rós", "Mötley Crüe", "Ñengo Flow"])
    codec = rng.choice(["latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "mac_roman",
                        "utf-8-sig", "utf-8"])
    text = _csv(rows).decode("utf-8")
    return _write(folder, f"encoded-{codec}.csv", text.encode(codec, errors="replace"))


def header(rng, data, folder):
    rows = _rows(data)
    head = rows[0]
    how = rng.choice(["duplicate", "rename", "missing", "no_header", "reorder", "extra", "lowercase",
                      "spaces", "index_alias", "two_index", "repeated_header_row"])
    if how == "duplicate":
        i, j = rng.sample(range(1, len(head)), 2)
        head[j] = head[i]
    elif how == "rename":
        i = rng.randrange(1, len(head))
        head[i] = head[i][:-1] + "x"
    elif how == "missing":
        i = rng.randrange(1, len(head))
        rows = [[v for k, v in enumerate(r) if k != i] for r in rows]
    elif how == "no_header":
        rows = rows[1:]
    elif how == "reorder":
        order = list(range(len(head)))
        rng.shuffle(order)
        rows = [[r[k] for k in order] for r in rows]
    elif how == "extra":
        rows = [[*r, "extra" if n == 0 else str(n)] for n, r in enumerate(rows)]
    elif how == "lowercase":
        rows[0] = [h.lower() for h in head]
    elif how == "spaces":
        rows[0] = [f" {h} " if h else h for h in head]
    elif how == "index_alias":
        head[0] = rng.choice(["Unnamed: 0", "index"])
    elif how == "two_index":
        rows = [["index" if n == 0 else r[0], *r] for n, r in enumerate(rows)]
    else:
        rows.insert(rng.randrange(1, len(rows)), list(head))
    return _write(folder, f"header-{how}.csv", _csv(rows))


def non_finite(rng, data, folder):
    rows = _set_cells(rng, _rows(data), NUMERIC, ["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity", "+nan",
                                                   "INF"], rng.randrange(1, 6))
    return _write(folder, "non_finite.csv", _csv(rows))


def out_of_range(rng, data, folder):
    rows = _rows(data)
    for _ in range(rng.randrange(1, 6)):
        group = rng.choice(["count", "ratio", "key", "other"])
        if group == "count":
            rows = _set_cells(rng, rows, COUNTS, ["1e40", "1e19", "9.3e18", "9223372036854775808", "1e400",
                                                  "12.5", "3.000001"], 1)
        elif group == "ratio":
            rows = _set_cells(rng, rows, RATIOS, ["1.5", "-0.1", "2", "1e3"], 1)
        elif group == "key":
            rows = _set_cells(rng, rows, ("Key",), ["12", "-1", "6.5", "11.0000001"], 1)
        else:
            rows = _set_cells(rng, rows, ("Loudness", "Tempo", ""), ["1e400", "-1e400", "-3", "1e20"], 1)
    return _write(folder, "out_of_range.csv", _csv(rows))


def negative(rng, data, folder):
    rows = _set_cells(rng, _rows(data), (*COUNTS, "Tempo"), ["-1", "-5.0", "-1e3", "-120.5", "-0", "-0.0"],
                      rng.randrange(1, 6))
    return _write(folder, "negative.csv", _csv(rows))


def line_endings(rng, data, folder):
    rows = _rows(data)
    how = rng.choice(["mixed", "crlf", "cr", "lone_cr", "crlf_header"])
    if how == "crlf":
        out = _csv(rows, "\r\n")
    elif how == "cr":
        out = _csv(rows, "\r")
    elif how == "crlf_header":
        out = _csv(rows[:1], "\r\n") + _csv(rows[1:])
    elif how == "mixed":
        out = b"".join(_csv([r], rng.choice(["\n", "\r\n", "\r"]) if n % 3 else "\n") for n, r in enumerate(rows))
    else:
        buf = bytearray(_csv(rows))
        for _ in range(rng.randrange(1, 4)):
            buf.insert(rng.randrange(1, len(buf)), 0x0D)
        out = bytes(buf)
    return _write(folder, f"endings-{how}.csv", out)


def nul(rng, data, folder):
    buf = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        buf.insert(rng.randrange(len(buf)), 0)
    return _write(folder, "nul.csv", bytes(buf))


def binary(rng, data, folder):
    how = rng.choice(["random", "png", "gzip", "zip", "bz2", "json"])
    if how == "random":
        out = rng.randbytes(rng.randrange(10, 5000))
    elif how == "png":
        out = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(500)
    elif how == "gzip":
        out = gzip.compress(data, mtime=0)
    elif how == "bz2":
        out = bz2.compress(data)
    elif how == "json":
        out = b'[{"Artist": "x", "Track": "y", "Views": 1}]\n'
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr(zipfile.ZipInfo("spotify_youtube.csv", (2023, 2, 7, 0, 0, 0)), data)
        out = buf.getvalue()
    return _write(folder, f"binary-{how}.csv", out)


def directory(rng, data, folder):
    path = folder / "a_folder.csv"
    path.mkdir()
    if rng.random() < 0.5:
        (path / "spotify_youtube.csv").write_bytes(data)
    return path


def symlink(rng, data, folder):
    how = rng.choice(["loop", "self", "dangling", "to_base", "to_variant", "chain"])
    link = folder / f"link-{how}.csv"
    if how == "loop":
        other = folder / "other.csv"
        os.symlink(other, link)
        os.symlink(link, other)
    elif how == "self":
        os.symlink(link, link)
    elif how == "dangling":
        os.symlink(folder / "nowhere.csv", link)
    elif how == "to_base":
        os.symlink(_write(folder, "base.csv", data), link)
    else:
        target = non_finite(rng, data, folder)
        if how == "chain":
            middle = folder / "middle.csv"
            os.symlink(target, middle)
            target = middle
        os.symlink(target, link)
    return link


def open_quote(rng, data, folder):
    rows = _rows(data)
    how = rng.choice(["append", "last_field", "middle_record", "cut_inside_quotes"])
    body = _csv(rows)
    if how == "append":
        out = body + b'0,"Unclosed artist,more text\n'
    elif how in ("last_field", "middle_record"):
        r = len(rows) - 1 if how == "last_field" else rng.randrange(1, len(rows))
        c = rng.randrange(1, len(rows[r]))
        lines = [_csv([row]).decode("utf-8") for row in rows]
        fields = [_csv([[v]]).decode("utf-8").rstrip("\n") if v else "" for v in rows[r]]
        fields[c] = '"' + rows[r][c].replace('"', "")  # a quote that opens a field and is never closed
        lines[r] = ",".join(fields) + "\n"
        out = "".join(lines).encode("utf-8")
    else:
        quoted = [m for m in range(len(body)) if body[m : m + 2] == b',"']
        cut = rng.choice(quoted) + 2 + rng.randrange(1, 5) if quoted else len(body) - 3
        while cut < len(body) and body[cut] & 0xC0 == 0x80:  # not inside a UTF-8 character
            cut += 1
        out = body[:cut]
    return _write(folder, f"open_quote-{how}.csv", out)


def short_last(rng, data, folder):
    rows = _rows(data)
    rows[-1] = rows[-1][: rng.randrange(1, len(rows[-1]))]
    out = _csv(rows)
    if rng.random() < 0.5:
        out = out.rstrip(b"\n")
    return _write(folder, "short_last.csv", out)


def row_shape(rng, data, folder):
    rows = _rows(data)
    parts = [_csv([r]) for r in rows]
    for _ in range(rng.randrange(1, 6)):
        how = rng.choice(["duplicate", "blank", "extra", "missing", "spaces", "bad_quote"])
        i = rng.randrange(1, len(parts))
        row = rows[min(i, len(rows) - 1)]
        if how == "duplicate":
            parts.insert(i, parts[i])
        elif how == "blank":
            parts.insert(i, b"\n" * rng.randrange(1, 3))
        elif how == "extra":
            parts[i] = parts[i].rstrip(b"\n") + b",surplus\n"
        elif how == "missing":
            parts[i] = _csv([row[:-1]])
        elif how == "spaces":
            parts.insert(i, b"   \n")
        else:
            parts[i] = b'"' + row[1].encode("utf-8").replace(b'"', b"") + b'"x,' + _csv([row[1:]])
    return _write(folder, "row_shape.csv", b"".join(parts))


def empty(rng, data, folder):
    header_line = _csv(_rows(data)[:1])
    out = rng.choice([b"", b"\n", b"\r\n\r\n", header_line, header_line + b"\n\n", b"\xef\xbb\xbf", b"   ",
                      header_line.rstrip(b"\n")])
    return _write(folder, "empty.csv", out)


def dbt_rule(rng, data, folder):
    rows = _rows(data)
    head = rows[0]
    how = rng.choice(["album_type", "artist", "uppercase_album_type"])
    r = rng.randrange(1, len(rows))
    if how == "album_type":
        rows[r][head.index("Album_type")] = "podcast"
    elif how == "artist":
        rows[r][head.index("Artist")] = ""
    else:
        rows[r][head.index("Album_type")] = rows[r][head.index("Album_type")].upper()
    return _write(folder, f"dbt_rule-{how}.csv", _csv(rows))


def combo(rng, data, folder):
    steps = rng.sample([ascii_flip, non_finite, line_endings, row_shape, truncate_tail, negative], 3)
    steps.sort(key=lambda step: step is truncate_tail)  # a cut may split a character: last
    path = None
    for step in steps:
        path = step(rng, data, folder)
        data = path.read_bytes()
    return _write(folder, "combo.csv", data)


KINDS: dict[str, Callable[[random.Random, bytes, Path], Path]] = {
    f.__name__: f
    for f in (byte_flip, ascii_flip, truncate, truncate_tail, encoding, header, non_finite, out_of_range,
              negative, line_endings, nul, binary, directory, symlink, open_quote, short_last, row_shape,
              empty, dbt_rule, combo)
}


def variants(base: str, per_kind: int, cli_every: int = 4) -> list[Variant]:
    """`per_kind` variants of every kind for `base`; every `cli_every`-th goes through the CLI."""
    out = []
    for kind in KINDS:
        for index in range(per_kind):
            out.append(Variant(base, kind, index, via_cli=(index % cli_every == 1)))
    return out


def make(variant: Variant, data: bytes, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return KINDS[variant.kind](random.Random(variant.id), data, folder)
