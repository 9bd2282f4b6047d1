"""One writer at a time: the build lock of a state folder.

Every dbt command that writes tables (`build`, `run`, `seed`, `snapshot`, `run-operation`)
takes an exclusive lock on `<state folder>/build.lock` before its first statement and keeps it
until the process ends, whether it started from a shell, the Makefile, Dagster or the
benchmark. A second writer waits up to LAKEHOUSE_BUILD_LOCK_TIMEOUT seconds (default 900),
saying who holds the lock, then fails naming the holder. Two builds at once could otherwise
join one run date's features with another's labels, interleave the champion gate's read and
promote, or drop the landing table under a running build.

The lock is an flock: the kernel releases it when the holder exits, however it exits, so a
crashed build never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = "build.lock"
WRITING_COMMANDS = frozenset({"build", "run", "seed", "snapshot", "run-operation"})
DEFAULT_TIMEOUT_S = 900
_held: dict[Path, int] = {}  # lock file -> open descriptor, for the life of the process
_taking = threading.Lock()  # dbt's threads open their connections at once: one takes it


class BuildLockTimeout(RuntimeError):
    """Another writer held the state folder's build lock for longer than the timeout."""


def holder(lock_file: Path) -> str:
    """Who holds (or last held) the lock, as the holder wrote it: pid, since, command."""
    try:
        return lock_file.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def acquire(state_dir: Path, command: str, timeout_s: float | None = None, say=print) -> bool:
    """Takes the build lock of `state_dir` for this process (a no-op when it holds it already);
    waits up to `timeout_s` for another holder, then raises BuildLockTimeout naming it.
    Returns True when this call took the lock."""
    with _taking:
        return _acquire(Path(state_dir) / LOCK_FILE, command, timeout_s, say)


def _acquire(lock_file: Path, command: str, timeout_s: float | None, say) -> bool:
    if lock_file in _held:
        return False
    if timeout_s is None:
        timeout_s = float(os.environ.get("LAKEHOUSE_BUILD_LOCK_TIMEOUT") or DEFAULT_TIMEOUT_S)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    deadline, said = time.monotonic() + timeout_s, False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise BuildLockTimeout(
                    f"Another build holds {lock_file} ({holder(lock_file)}); waited "
                    f"{timeout_s:.0f} s (LAKEHOUSE_BUILD_LOCK_TIMEOUT). Let it finish, or stop "
                    "that process, then run this one again."
                ) from None
            if not said:
                say(f"Waiting for {lock_file}, held by {holder(lock_file)} "
                    f"(up to {timeout_s:.0f} s) ...")  # fmt: skip
                said = True
            time.sleep(0.5)
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} since {since}: {command}\n".encode(), 0)
    _held[lock_file] = fd
    return True


def command_line() -> str:
    """This process's command line, shortened to what names it (dbt build --vars ...)."""
    args = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else ["?"]
    return " ".join(args)[:300]


__all__ = ["BuildLockTimeout", "WRITING_COMMANDS", "acquire", "command_line", "holder"]
