"""Where a command's run output goes: a log file beside the warehouse, the terminal only with --verbose.

During a Dagster run, everything the steps print (dbt's per-model lines, which dagster-dbt
writes to stdout), Python warnings, and Dagster's own event log (`file_logger`) go to
`<warehouse dir>/logs/<command>-<time>.log`; `--verbose` also shows them on the terminal.
The CLI prints its own short summary and the log file's path.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TextIO

import dagster as dg

_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"


def new_log_path(warehouse: Path, command: str) -> Path:
    """A fresh log file path for one command: `<warehouse dir>/logs/<command>-<YYYYmmdd-HHMMSS>.log`."""
    folder = Path(warehouse).expanduser().resolve().parent / "logs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"{command}-{stamp}.log"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{command}-{stamp}-{n}.log"
    return path


class _Tee:
    """A text stream that writes to several streams (the log file, and the terminal when verbose)."""

    def __init__(self, *streams: IO[str], tty: bool = False):
        self._streams = streams
        self._tty = tty

    def write(self, text: str) -> int:
        for s in self._streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self._streams:
            s.flush()

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self) -> str:
        return "utf-8"


@contextlib.contextmanager
def capture_run_output(log_file: Path, verbose: bool) -> Iterator[TextIO]:
    """Send stdout and Python warnings to `log_file` (and to the terminal too when `verbose`)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a", encoding="utf-8", buffering=1) as f:
        terminal = sys.stdout
        out = _Tee(f, terminal, tty=terminal.isatty()) if verbose else _Tee(f)
        err = _Tee(f, sys.stderr) if verbose else _Tee(f)

        def show(message, category, filename, lineno, file=None, line=None):
            err.write(warnings.formatwarning(message, category, filename, lineno, line))

        with warnings.catch_warnings(), contextlib.redirect_stdout(out):
            warnings.showwarning = show
            yield f


class _FileHandler(logging.Handler):
    def __init__(self, path: str, level: int):
        super().__init__(level)
        self._path = path
        self.setFormatter(logging.Formatter(_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            with open(self._path, "a", encoding="utf-8") as f:
                f.write(self.format(record) + "\n")
        except OSError:
            self.handleError(record)


@dg.logger(
    config_schema={"path": dg.Field(str), "log_level": dg.Field(str, default_value="INFO", is_required=False)},
    description="Appends the run's event log to a file (the CLI's <warehouse dir>/logs/<command>-<time>.log).",
)
def file_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    config = init_context.logger_config
    logger = logging.Logger("tunehouse_run_file", level=logging.getLevelName(config["log_level"].upper()))
    logger.addHandler(_FileHandler(config["path"], logger.level))
    return logger


#: The loggers every job carries (Dagster's console logger, and `file_logger` when configured).
LOGGERS = {"console": dg.colored_console_logger, "file": file_logger}
