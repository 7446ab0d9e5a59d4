"""A full disk under the data dir: told as such (507) and recovered from.

SQLite reports a full disk as SQLITE_FULL ("database or disk is full") and rolls the
transaction back; nothing of it reached the file. The store then drops what it held in
memory ahead of the disk and reloads from the file (`Store._rolled_back`), so once space is
back the next write simply succeeds: a full disk is an outage of writes, not of the store.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from orchestrator.api import errors


class DiskFull(errors.APIError):
    """507 Insufficient Storage: the write was not made."""

    code, reason = 507, "InsufficientStorage"


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or \
            "database or disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full(path: Path | None, exc: BaseException) -> DiskFull:
    where = f"the data dir {path.parent}" if path is not None else "the store"
    return DiskFull(f"the disk holding {where} is full ({exc}): the write was not made; "
                    "free space there and retry")
