"""The data dir of a control plane: one plane at a time, private to its owner.

Two planes on one data dir corrupt each other (both number revisions from the same SQLite
file, and stopping one kills the other's pods), so a plane holds an exclusive `flock` on
`controlplane.lock` for its whole life; a second one refuses at once, naming the holder's
pid. The lock goes with the process (kill -9 included), so a stale lock file never blocks.

The dir holds every Secret in clear (state.db) and the admin token: it is 0700 and what the
plane writes in it is 0600. Importable without loading the server (the CLI and the user
layer ask `holder()` before starting anything).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

LOCK_NAME = "controlplane.lock"
DIR_MODE = 0o700
FILE_MODE = 0o600


class DataDirInUse(RuntimeError):
    """Another control plane (a live process) holds the data dir."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        who = "another process" if not pid else f"pid {pid}" + (
            " (this process)" if pid == os.getpid() else "")
        super().__init__(
            f"the data dir {data_dir} is in use by the control plane of {who}: stop it first "
            f"('daskhub-lite down --data-dir {data_dir}') or use another data dir")
        self.data_dir = data_dir
        self.pid = pid


def prepare(data_dir: Path) -> None:
    """Create the data dir if needed and make it private (0700)."""
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if (os.stat(data_dir).st_mode & 0o777) != DIR_MODE:
        os.chmod(data_dir, DIR_MODE)


def private_file(path: Path) -> None:
    """Create `path` empty as 0600 if missing, else narrow its mode to 0600 (SQLite gives
    the -wal and -shm files the mode of the database file, so this covers them too)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        if (os.fstat(fd).st_mode & 0o777) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class DataDirLock:
    """The exclusive lock on one data dir; `acquire` raises DataDirInUse when held."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        prepare(self.data_dir)
        # O_CLOEXEC (Python's default): container shims, which outlive the plane, never
        # inherit the lock.
        fd = os.open(self.data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            pid = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DataDirInUse(self.data_dir, pid) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            # The file stays (removing it would let a third plane lock a fresh inode while
            # a second one still waits on the old); its content is cleared.
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def holder(data_dir: Path) -> int | None:
    """The pid of the control plane holding `data_dir` (0 when held by a pid that is not
    known yet), or None when no live process holds it."""
    try:
        fd = os.open(data_dir / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return _read_pid(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
