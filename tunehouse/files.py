"""Writing a file so that readers only ever see the old version or the complete new one.

A report, a figure or a text artifact is first written to a temporary name in the same
folder (``.<name>.<random>.tmp``), flushed to disk, then moved over the target with
``os.replace`` — atomic on one file system, which is why the temporary file lives beside
the target and not in the temp directory. If anything fails before the move (a rendering
error, a full disk, Ctrl-C), the temporary file is removed and the previous file is left
byte-for-byte as it was.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

#: Temporary files are hidden (leading dot) and end in this suffix, so a crash that kills the
#: process between creation and clean-up leaves something recognizable.
TEMP_SUFFIX = ".tmp"


def _create_temp(folder: Path, name: str) -> tuple[Path, int]:
    """A new, empty temporary file beside the target, created with the usual permissions.

    ``os.open(..., 0o666)`` lets the umask decide the mode, as a plain ``open(path, "w")``
    would; ``tempfile.mkstemp`` would make the final file owner-only (0600).
    """
    while True:
        temp = folder / f".{name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:  # another writer drew the same name: draw again
            continue


def _fsync_folder(folder: Path) -> None:
    """Persist the rename itself (POSIX); folders cannot be opened this way on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_open(path: Path | str, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it replaces ``path``.

    ``mode`` is ``"w"`` (text, ``encoding``) or ``"wb"`` (bytes). The folder is created if
    needed. On an exception inside the block the temporary file is removed, ``path`` is left
    untouched, and the exception propagates.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole file: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp, fd = _create_temp(path.parent, path.name)
    try:
        with os.fdopen(fd, mode, encoding=encoding if mode == "w" else None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def write_text(path: Path | str, text: str, encoding: str = "utf-8") -> Path:
    """Replace ``path`` with ``text``, atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w", encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def write_bytes(path: Path | str, data: bytes) -> Path:
    """Replace ``path`` with ``data``, atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)
