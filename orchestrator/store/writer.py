"""The store's disk side: one batch of rows per commit, written in one transaction, and the
writer thread that commits whatever is queued together (group commit)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any, Callable

from orchestrator.store.diskfull import is_disk_full


@dataclass
class Batch:
    """One commit's rows, and its events to publish once they are on disk."""

    rows_put: list[tuple[str, str, str, int, str]]
    rows_del: list[tuple[str, str, str]]
    history: list[Any]  # sqlite._Past rows for the events table
    events: list[Any]  # sqlite.Event, published once on disk
    revision: int


def write(db: sqlite3.Connection, batches: list[Batch], trim_to: int | None) -> None:
    """All `batches` in one transaction, or none of them."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for b in batches:
            db.executemany("INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?)", b.rows_put)
            db.executemany(
                "DELETE FROM objects WHERE resource=? AND namespace=? AND name=?", b.rows_del
            )
            db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?)", b.history)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('revision', ?)", (batches[-1].revision,))
        if trim_to is not None:
            db.execute("DELETE FROM events WHERE revision <= ?", (trim_to,))
        db.execute("COMMIT")
    except BaseException:
        # SQLite may already have rolled back (a full disk does): a second ROLLBACK would
        # raise "cannot rollback - no transaction is active" and hide the real error.
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


class Writer:
    """The writer thread: takes every batch queued since its last transaction and commits
    them together, then hands them back to the event loop as durable."""

    def __init__(self, db: sqlite3.Connection, loop: asyncio.AbstractEventLoop,
                 on_durable: Callable[[list[Batch]], None],
                 on_failure: Callable[[BaseException], None]) -> None:
        self._db = db
        self._loop = loop
        self._on_durable = on_durable
        self._on_failure = on_failure
        self._pending: list[Batch] = []
        self._trim_to: int | None = None
        self._cond = threading.Condition()
        self._stopping = False
        # After a full disk, until the loop has rolled memory back (`resume`): batches
        # built on the lost writes are dropped, never written.
        self._discarding = False
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def submit(self, batch: Batch) -> None:
        with self._cond:
            if self._discarding:
                return
            self._pending.append(batch)
            self._cond.notify()

    def resume(self) -> None:
        with self._cond:
            self._discarding = False
            self._pending = []

    def trim(self, revision: int) -> None:
        with self._cond:
            self._trim_to = revision

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                batches, self._pending = self._pending, []
                trim_to, self._trim_to = self._trim_to, None
                if not batches and self._stopping:
                    return
            try:
                write(self._db, batches, trim_to)
            except BaseException as exc:
                if not is_disk_full(exc):  # the disk refused: stop, never diverge silently
                    self._call(self._on_failure, exc)
                    return
                with self._cond:
                    self._discarding = True
                    self._pending = []
                    self._trim_to = self._trim_to or trim_to
                self._call(self._on_failure, exc)
                continue
            self._call(self._on_durable, batches)

    def _call(self, callback: Callable[[Any], None], arg: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, arg)
        except RuntimeError:  # the loop is closed: the control plane is going away
            pass
