"""Child processes that die with their parent.

`python -S childguard.py [--parent PID] [--signal NAME] PROGRAM [ARG ...]` asks the Linux
kernel (`prctl(PR_SET_PDEATHSIG)`) to send it SIGNAL (default KILL) when its parent dies,
then replaces itself with PROGRAM; the request survives `exec`. So a `tunehouse` command
killed even with SIGKILL takes its dbt with it, and dbt's DuckDB write lock goes too. On
other systems there is no such request: `guarded` and `launcher` leave the command as it
is (a SIGINT/SIGTERM still reaches dbt through Dagster).

`--parent PID` is the process that started it: if that one is already gone when the
request takes effect (it died between fork and here), the guard exits instead of running
PROGRAM as an orphan.

Caveat (prctl(2)): "parent" is the *thread* that forked the child. Start guarded children
from a thread that outlives them (the main thread, as Dagster's in-process and step
executors do), or they are killed when that thread ends.

Runs as a script with `python -S` and imports only the standard library: it adds a few
milliseconds to a dbt start. `launcher()` writes the one-file executable that dagster-dbt
runs as `dbt` (it accepts an executable path, not a command line).
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1
#: Whether the kernel can send a signal on the parent's death (Linux's prctl).
SUPPORTED = sys.platform.startswith("linux")


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send `sig` to this process when its parent (thread) dies. Linux only."""
    if not SUPPORTED:
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def guarded(command: list[str], *, sig: str = "KILL") -> list[str]:
    """`command` run through this guard, for a child started from this process (the parent)."""
    if not SUPPORTED:
        return list(command)
    return [sys.executable, "-S", os.path.abspath(__file__), "--parent", str(os.getpid()), "--signal", sig,
            *command]


def launcher(program: str | os.PathLike, folder: str | os.PathLike, *, sig: str = "KILL") -> str:
    """An executable `<folder>/guard-<hash>/<program name>` that runs `program` through the guard.

    For tools that take an executable path rather than a command (dagster-dbt's
    `dbt_executable`). The parent is the shell's `$PPID`: whoever ran the launcher. Written
    atomically, and again only if missing or different (its content names this interpreter).
    """
    import hashlib
    import shlex

    program = os.path.abspath(program)
    if not SUPPORTED:
        return program
    script = (
        "#!/bin/sh\n"
        "# Written by tunehouse (orchestration/childguard.py): run PROGRAM so that it dies with its parent.\n"
        f'exec {shlex.quote(sys.executable)} -S {shlex.quote(os.path.abspath(__file__))} --parent "$PPID" '
        f'--signal {shlex.quote(sig)} {shlex.quote(program)} "$@"\n'
    )
    digest = hashlib.sha256(script.encode()).hexdigest()[:10]
    path = os.path.join(os.path.abspath(folder), f"guard-{digest}", os.path.basename(program))
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == script and os.access(path, os.X_OK):
                return path
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(script)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return path


def main(argv: list[str]) -> None:
    parent = None
    sig = signal.SIGKILL
    while argv and argv[0] in ("--parent", "--signal"):
        flag, value, argv = argv[0], argv[1], argv[2:]
        if flag == "--parent":
            parent = int(value)
        else:
            sig = signal.Signals[value if value.startswith("SIG") else f"SIG{value}"]
    if not argv:
        sys.exit("usage: childguard.py [--parent PID] [--signal NAME] PROGRAM [ARG ...]")
    if parent is None:
        parent = os.getppid()
    # An ignored signal is never delivered and SIG_IGN survives exec: PROGRAM started by a parent
    # that ignores the death signal (a background job of a script ignores SIGINT) would outlive
    # it. Python programs route SIGTERM to their SIGINT handler (Dagster does), and Python
    # installs that handler only if SIGINT is not ignored at start: so for TERM, SIGINT too.
    for restored in {sig, signal.SIGINT} if sig == signal.SIGTERM else {sig}:
        if restored != signal.SIGKILL and signal.getsignal(restored) == signal.SIG_IGN:
            signal.signal(restored, signal.SIG_DFL)
    if die_with_parent(sig) and os.getppid() != parent:
        sys.exit(128 + sig)  # the parent died before the request took effect: do not run as an orphan
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.exit(f"cannot run {argv[0]}: {exc.strerror}")


if __name__ == "__main__":
    main(sys.argv[1:])
