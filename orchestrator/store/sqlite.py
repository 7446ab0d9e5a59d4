"""The object store: current objects plus a bounded history of changes, in SQLite.

One global, monotonic revision numbers every change, as etcd's revision does; it becomes the
object's `metadata.resourceVersion`. Each commit is one SQLite transaction in WAL mode, made
before the write is acknowledged, so a client's acknowledged write survives `kill -9` of the
server (WAL with synchronous=NORMAL loses nothing on a process crash; only an OS crash could
lose the last transactions, as documented by SQLite).

The store is used from one thread (the server's event loop): every method runs to completion
without yielding, which is what makes read-check-write sequences in the layer above atomic.
Current objects are cached in memory, so reads never touch the disk.

With `start_writer(loop)` (the control plane does this) the SQLite work moves to a writer
thread, which commits whatever is pending in one transaction (group commit) while the loop
goes on; sqlite releases the GIL while it writes, so a second core does it. Memory then runs
ahead of the disk for a moment, and three rules keep that invisible: a commit's events reach
watchers (`subscribe`) and the watch history only once durable; the API server answers no
request before `wait_durable()` (every write up to now is on disk); and a failed disk write
stops the store (`StoreFailed` on every later commit or wait) instead of diverging from it,
as etcd stops on a failed WAL write.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, NamedTuple

from orchestrator.api import errors, jsonio

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Event:
    """A committed change. `obj` is the new state (the last state for DELETED)."""

    revision: int
    type: str  # ADDED | MODIFIED | DELETED
    resource: str  # ResourceType.key, e.g. "apps/deployments"
    namespace: str
    name: str
    obj: dict[str, Any]
    prev: dict[str, Any] | None
    # `obj` as JSON, made once at commit: watches send it as is instead of re-encoding
    # the same object once per watcher.
    data: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Change:
    """One write to commit: `obj` None means delete."""

    resource: str
    namespace: str
    name: str
    obj: dict[str, Any] | None


Listener = Callable[[Event], None]


class StoreFailed(errors.InternalError):
    """The disk refused a write: memory may be ahead of it, so nothing more is accepted."""


class _Past(NamedTuple):
    """An event kept for watches that resume from an older revision, as JSON text only: a
    history of 20,000+ events held as dicts would be millions of objects for Python's
    cyclic garbage collector to walk again and again; text is not walked at all."""

    revision: int
    type: str
    resource: str
    namespace: str
    name: str
    data: str
    prev: str | None

    def event(self) -> Event:
        return Event(self.revision, self.type, self.resource, self.namespace, self.name,
                     json.loads(self.data), json.loads(self.prev) if self.prev else None,
                     self.data)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    revision INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
);
CREATE TABLE IF NOT EXISTS events (
    revision INTEGER PRIMARY KEY, type TEXT NOT NULL, resource TEXT NOT NULL,
    namespace TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL, prev TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Store:
    """Objects by resource and key, with a global revision and change history."""

    def __init__(self, path: str | os.PathLike[str] | None, history: int = 20_000) -> None:
        self._db = sqlite3.connect(
            ":memory:" if path is None else os.fspath(path), isolation_level=None,
            check_same_thread=False,  # the writer thread takes it over (`start_writer`)
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._history_size = history
        # resource -> namespace -> name -> object: lists of one namespace stay cheap
        # however many objects other namespaces hold.
        self._objects: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self._history: deque[_Past] = deque()
        self._json: dict[tuple[str, str, str], str] = {}  # each current object, encoded
        self._listeners: list[Listener] = []
        self.revision = self._meta("revision")
        self._load()
        self.durable_revision = self.revision
        self._writer: _Writer | None = None
        self._failed: BaseException | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    # -- reading -------------------------------------------------------------------------

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The current object, shared with the cache: callers must not mutate it."""
        return self._objects.get(resource, {}).get(namespace, {}).get(name)

    def objects(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Current objects ordered by (namespace, name); shared, never mutate them."""
        by_ns = self._objects.get(resource, {})
        spaces = [namespace] if namespace is not None else sorted(by_ns)
        out: list[dict[str, Any]] = []
        for ns in spaces:
            names = by_ns.get(ns, {})
            out.extend(names[n] for n in sorted(names))
        return out

    def count(self, resource: str) -> int:
        return sum(len(names) for names in self._objects.get(resource, {}).values())

    @property
    def oldest_revision(self) -> int:
        """Watches may resume from this revision or later; older ones are gone (410)."""
        if self._history:
            return self._history[0].revision - 1
        return self.revision

    def events_since(self, revision: int, resource: str | None = None) -> list[Event]:
        """Events after `revision` (of one `resource` if given), oldest first; Gone if the
        history no longer has them."""
        if revision < self.oldest_revision:
            raise errors.Gone(f"too old resource version: {revision} ({self.oldest_revision})")
        if revision >= self.revision:
            return []
        # The history is ordered by revision; walk back from the newest end.
        out: list[Event] = []
        for past in reversed(self._history):
            if past.revision <= revision:
                break
            if resource is None or past.resource == resource:
                out.append(past.event())
        out.reverse()
        return out

    # -- writing -------------------------------------------------------------------------

    def commit(self, changes: Iterable[Change]) -> list[Event]:
        """Write the changes in one transaction; each gets the next revision."""
        if self._failed is not None:
            raise self._stopped()
        events: list[Event] = []
        history: list[_Past] = []
        rows_put: list[tuple[str, str, str, int, str]] = []
        rows_del: list[tuple[str, str, str]] = []
        revision = self.revision
        for ch in changes:
            key = (ch.resource, ch.namespace, ch.name)
            prev = self.get(*key)
            prev_json = self._json.get(key) if prev is not None else None
            revision += 1
            if ch.obj is None:
                if prev is None:
                    continue
                obj = _with_revision(prev, revision)
                etype = "DELETED"
                data = jsonio.dumps_text(obj)
                rows_del.append(key)
            else:
                obj = _with_revision(ch.obj, revision)
                etype = "MODIFIED" if prev is not None else "ADDED"
                data = jsonio.dumps_text(obj)
                rows_put.append((ch.resource, ch.namespace, ch.name, revision, data))
            history.append(_Past(revision, etype, ch.resource, ch.namespace, ch.name, data,
                                 prev_json))
            events.append(Event(revision, etype, ch.resource, ch.namespace, ch.name, obj, prev,
                                data))
        if not events:
            return []
        batch = _Batch(rows_put, rows_del, history, events, revision)
        if self._writer is None:
            _write(self._db, [batch], None)  # raises before memory changes
        # Only after the commit succeeded (or, with a writer, was queued) does memory change.
        self.revision = revision
        for ev in events:
            deleted = ev.type == "DELETED"
            self._cache(ev.resource, ev.namespace, ev.name, None if deleted else ev.obj)
            if deleted:
                self._json.pop((ev.resource, ev.namespace, ev.name), None)
            else:
                self._json[(ev.resource, ev.namespace, ev.name)] = ev.data
        if self._writer is None:
            self._durable([batch])
        else:
            self._writer.submit(batch)
        return events

    def _durable(self, batches: list["_Batch"]) -> None:
        """Batches are on disk: history and watchers see them now, in revision order."""
        for batch in batches:
            self._history.extend(batch.history)
            self.durable_revision = batch.revision
        self._compact()
        for batch in batches:
            for ev in batch.events:
                for listener in list(self._listeners):
                    try:
                        listener(ev)
                    except Exception:  # a broken watcher must not break writers
                        log.exception("watch listener failed on %s %s", ev.type, ev.name)
        self._wake_waiters()

    def _write_failed(self, exc: BaseException) -> None:
        log.critical("the store stopped: a disk write failed: %s", exc)
        self._failed = exc
        self._wake_waiters()

    def _stopped(self) -> StoreFailed:
        return StoreFailed(f"the store stopped after a failed disk write: {self._failed}")

    def _wake_waiters(self) -> None:
        keep = []
        for revision, future in self._waiters:
            if future.done():
                continue
            if self._failed is not None:
                future.set_exception(self._stopped())
            elif revision <= self.durable_revision:
                future.set_result(None)
            else:
                keep.append((revision, future))
        self._waiters = keep

    async def wait_durable(self) -> None:
        """Return once every commit made so far is on disk (at once without a writer)."""
        if self._failed is not None:
            raise self._stopped()
        if self.durable_revision >= self.revision:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((self.revision, future))
        await future

    def start_writer(self, loop: asyncio.AbstractEventLoop) -> None:
        """Move disk writes to a writer thread (see the module's docstring)."""
        if self._writer is None:
            self._writer = _Writer(self._db, loop, self._durable, self._write_failed)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()  # writes everything pending first
            self._writer = None
        self._db.close()

    # -- internals -----------------------------------------------------------------------

    def _cache(self, resource: str, namespace: str, name: str,
               obj: dict[str, Any] | None) -> None:
        by_ns = self._objects.setdefault(resource, {})
        if obj is not None:
            by_ns.setdefault(namespace, {})[name] = obj
            return
        names = by_ns.get(namespace)
        if names is not None:
            names.pop(name, None)
            if not names:
                del by_ns[namespace]

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _load(self) -> None:
        for resource, namespace, name, data in self._db.execute(
            "SELECT resource, namespace, name, data FROM objects"
        ):
            self._cache(resource, namespace, name, json.loads(data))
            self._json[(resource, namespace, name)] = data
        rows = self._db.execute(
            "SELECT revision, type, resource, namespace, name, data, prev FROM events "
            "ORDER BY revision DESC LIMIT ?",
            (self._history_size,),
        ).fetchall()
        self._history.extend(_Past(*row) for row in reversed(rows))

    def _compact(self) -> None:
        excess = len(self._history) - self._history_size
        if excess <= 0:
            return
        # Trim in chunks so the DELETE runs rarely.
        drop = max(excess, self._history_size // 10)
        for _ in range(min(drop, len(self._history) - 1)):
            self._history.popleft()
        if self._writer is not None:
            self._writer.trim(self.oldest_revision)
        else:
            self._db.execute("DELETE FROM events WHERE revision <= ?", (self.oldest_revision,))


def _with_revision(obj: dict[str, Any], revision: int) -> dict[str, Any]:
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta["resourceVersion"] = str(revision)
    out["metadata"] = meta
    return out


@dataclass
class _Batch:
    """One commit's rows, and its events to publish once they are on disk."""

    rows_put: list[tuple[str, str, str, int, str]]
    rows_del: list[tuple[str, str, str]]
    history: list[_Past]
    events: list[Event]
    revision: int


def _write(db: sqlite3.Connection, batches: list[_Batch], trim_to: int | None) -> None:
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
        db.execute("ROLLBACK")
        raise


class _Writer:
    """The writer thread: takes every batch queued since its last transaction and commits
    them together, then hands them back to the event loop as durable."""

    def __init__(self, db: sqlite3.Connection, loop: asyncio.AbstractEventLoop,
                 on_durable: Callable[[list[_Batch]], None],
                 on_failure: Callable[[BaseException], None]) -> None:
        self._db = db
        self._loop = loop
        self._on_durable = on_durable
        self._on_failure = on_failure
        self._pending: list[_Batch] = []
        self._trim_to: int | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def submit(self, batch: _Batch) -> None:
        with self._cond:
            self._pending.append(batch)
            self._cond.notify()

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
                _write(self._db, batches, trim_to)
            except BaseException as exc:  # the disk refused: stop, never diverge silently
                self._call(self._on_failure, exc)
                return
            self._call(self._on_durable, batches)

    def _call(self, callback: Callable[[Any], None], arg: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, arg)
        except RuntimeError:  # the loop is closed: the control plane is going away
            pass
