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
as etcd stops on a failed WAL write. A full disk is the exception (`diskfull`): SQLite rolls
the transaction back, so the store drops what memory held ahead of the disk, reloads from
the file, and answers 507 until space is back.

The watch history is bounded by count and by bytes (`history`, `history_bytes`: 20,000
changes or 64 MiB of JSON, whichever is reached first); a watch older than it gets 410 Gone.
At start-up the file is checked (`integrity`) and a damaged one is refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

from orchestrator.api import errors, jsonio
from orchestrator.store import integrity
from orchestrator.store.diskfull import disk_full, is_disk_full
from orchestrator.store.writer import Batch, Writer, write

log = logging.getLogger(__name__)

DEFAULT_HISTORY = 20_000
# Big objects (a 1 MiB ConfigMap PUT again and again) must not grow memory and the file
# without bound: the history also stops at this many bytes of JSON (object and previous).
DEFAULT_HISTORY_BYTES = 64 * 1024 * 1024


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

    @property
    def size(self) -> int:
        return len(self.data) + (len(self.prev) if self.prev else 0)

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

    def __init__(self, path: str | os.PathLike[str] | None, history: int = DEFAULT_HISTORY,
                 history_bytes: int = DEFAULT_HISTORY_BYTES) -> None:
        self.path = Path(path) if path is not None else None
        self._db = sqlite3.connect(
            ":memory:" if path is None else os.fspath(path), isolation_level=None,
            check_same_thread=False,  # the writer thread takes it over (`start_writer`)
        )
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            integrity.quick_check(self._db, self.path)
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:  # "file is not a database", malformed pages
            self._db.close()
            raise integrity.StoreCorrupt(self.path, str(exc)) from exc
        except integrity.StoreCorrupt:
            self._db.close()
            raise
        self._history_size = history
        self._history_bytes = history_bytes
        self._history_used = 0  # bytes of JSON in self._history
        # resource -> namespace -> name -> object: lists of one namespace stay cheap
        # however many objects other namespaces hold.
        self._objects: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self._history: deque[_Past] = deque()
        self._json: dict[tuple[str, str, str], str] = {}  # each current object, encoded
        self._listeners: list[Listener] = []
        # Bumped when memory is rolled back to the disk (a full disk): an answer prepared
        # across a rollback may show writes that are gone (`wait_durable(epoch)`).
        self.epoch = 0
        try:
            self.revision = self._meta("revision")
            self._load()
        except integrity.StoreCorrupt:
            self._db.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise integrity.StoreCorrupt(self.path, str(exc)) from exc
        self.durable_revision = self.revision
        self._writer: Writer | None = None
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
        batch = Batch(rows_put, rows_del, history, events, revision)
        if self._writer is None:
            try:
                write(self._db, [batch], None)  # raises before memory changes
            except Exception as exc:
                if is_disk_full(exc):
                    raise disk_full(self.path, exc) from exc
                raise
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

    def _durable(self, batches: list["Batch"]) -> None:
        """Batches are on disk: history and watchers see them now, in revision order."""
        for batch in batches:
            self._history.extend(batch.history)
            self._history_used += sum(p.size for p in batch.history)
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
        if is_disk_full(exc):
            self._rolled_back(exc)
            return
        log.critical("the store stopped: a disk write failed: %s", exc)
        self._failed = exc
        self._wake_waiters()

    def _rolled_back(self, exc: BaseException) -> None:
        """The disk is full: SQLite rolled the transaction back, and the writer dropped
        what was queued after it. Memory goes back to what the file holds; every answer
        still waiting for those writes gets 507; the next write tries the disk again."""
        error = disk_full(self.path, exc)
        log.error("%s", error.message)
        self.epoch += 1
        self._objects.clear()
        self._json.clear()
        self.revision = self._meta("revision")
        self._load_objects()
        self.durable_revision = self.revision
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(error)
        self._waiters = []
        if self._writer is not None:
            self._writer.resume()

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

    async def wait_durable(self, epoch: int | None = None) -> None:
        """Return once every commit made so far is on disk (at once without a writer).
        With `epoch` (read before the work began): raise DiskFull if memory was rolled back
        since, as what the work saw or wrote may be gone."""
        if self._failed is not None:
            raise self._stopped()
        if self.durable_revision < self.revision:
            future = asyncio.get_running_loop().create_future()
            self._waiters.append((self.revision, future))
            await future
        if epoch is not None and epoch != self.epoch:
            raise disk_full(self.path, OSError("a write failed: no space left on device"))

    def start_writer(self, loop: asyncio.AbstractEventLoop) -> None:
        """Move disk writes to a writer thread (see the module's docstring)."""
        if self._writer is None:
            self._writer = Writer(self._db, loop, self._durable, self._write_failed)

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
        newest = self._load_objects()
        if newest > self.revision:
            raise integrity.StoreCorrupt(self.path, f"an object has revision {newest}, past "
                                         f"the store's revision {self.revision}")
        rows: list[_Past] = []
        used = 0
        for row in self._db.execute(
            "SELECT revision, type, resource, namespace, name, data, prev FROM events "
            "ORDER BY revision DESC"
        ):
            past = _Past(*row)
            if len(rows) >= self._history_size or (
                    rows and used + past.size > self._history_bytes):
                break
            integrity.check_event(self.path, past.revision, past.data, past.prev)
            rows.append(past)
            used += past.size
        self._history.extend(reversed(rows))
        self._history_used = used

    def _load_objects(self) -> int:
        """Current objects from the file, each checked; returns the newest revision."""
        newest = 0
        for resource, namespace, name, revision, data in self._db.execute(
            "SELECT resource, namespace, name, revision, data FROM objects"
        ):
            obj = integrity.decode_object(self.path, resource, namespace, name, data)
            self._cache(resource, namespace, name, obj)
            self._json[(resource, namespace, name)] = data
            newest = max(newest, int(revision))
        return newest

    def _compact(self) -> None:
        count_excess = len(self._history) - self._history_size
        bytes_excess = self._history_used - self._history_bytes
        if count_excess <= 0 and bytes_excess <= 0:
            return
        # Trim in chunks (a tenth of each bound) so the DELETE runs rarely.
        drop = max(count_excess, self._history_size // 10) if count_excess > 0 else 0
        goal = self._history_bytes - self._history_bytes // 10 if bytes_excess > 0 \
            else self._history_used
        dropped = 0
        while len(self._history) > 1 and (dropped < drop or self._history_used > goal):
            self._history_used -= self._history.popleft().size
            dropped += 1
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
