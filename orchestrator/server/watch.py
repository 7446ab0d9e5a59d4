"""Watch streams: every committed change after a resourceVersion, in order, once.

A watcher subscribes to the store *before* reading the backlog, with no await in between,
so the backlog (history up to the current revision) and the live queue (changes after it)
meet exactly: no gap, no duplicate.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncGenerator, Callable

from orchestrator.api import errors, jsonio
from orchestrator.api.kinds import ResourceType
from orchestrator.api.selectors import parse_field_selector, parse_label_selector
from orchestrator.store import Event, Store

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    resource_version: str = ""
    label_selector: str = ""
    field_selector: str = ""
    name: str | None = None  # a watch on one object (fieldSelector metadata.name=...)
    allow_bookmarks: bool = False
    send_initial_events: bool = False
    timeout: float | None = None
    bookmark_interval: float = 10.0


@dataclass(frozen=True)
class WatchItem:
    """One event for one watcher; `data` is `obj` already encoded, when available."""

    type: str
    obj: dict[str, Any]
    data: str = ""

    def line(self) -> bytes:
        body = self.data or jsonio.dumps_text(self.obj)
        return f'{{"type":"{self.type}","object":{body}}}\n'.encode()


class _Filter:
    def __init__(self, req: WatchRequest) -> None:
        self.req = req
        self.labels = parse_label_selector(req.label_selector) if req.label_selector else None
        self.fields = (
            parse_field_selector(req.field_selector, req.rt.kind, group=req.rt.group,
                                 namespaced=req.rt.namespaced)
            if req.field_selector else None
        )

    def in_scope(self, ev: Event) -> bool:
        if ev.resource != self.req.rt.key:
            return False
        if self.req.namespace is not None and ev.namespace != self.req.namespace:
            return False
        return self.req.name is None or ev.name == self.req.name

    def matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        if self.labels is not None and not self.labels.matches(
            (obj.get("metadata") or {}).get("labels") or {}
        ):
            return False
        return self.fields is None or self.fields.matches(obj)

    def translate(self, ev: Event) -> str | None:
        """The event type this watcher sees: selectors turn edits into ADDED/DELETED."""
        now, before = self.matches(ev.obj), self.matches(ev.prev)
        if ev.type == "ADDED":
            return "ADDED" if now else None
        if ev.type == "DELETED":
            return "DELETED" if before else None
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        if before:
            return "DELETED"
        return None


_INITIAL_BATCH = 500  # initial ADDED events per write


class Watch:
    """One watch: `open()` checks the request and takes the backlog (it may raise 400 or
    410 before any response is sent); `events()` then streams until timeout or hang-up."""

    def __init__(
        self,
        store: Store,
        req: WatchRequest,
        serve: Callable[[dict[str, Any]], dict[str, Any]],
        list_current: Callable[[], list[dict[str, Any]]],
    ) -> None:
        self.store = store
        self.req = req
        self.serve = serve
        self.list_current = list_current
        self.filter = _Filter(req)
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.initial: list[dict[str, Any]] = []
        self.backlog: list[Event] = []
        self.start_rv = 0
        self._unsubscribe: Callable[[], None] | None = None

    def open(self) -> None:
        req, filt = self.req, self.filter
        rv = req.resource_version
        if req.send_initial_events or rv in ("", "0"):
            self.initial = [o for o in self.list_current() if filt.matches(o)]
            self.start_rv = self.store.revision
        else:
            try:
                self.start_rv = int(rv)
            except ValueError:
                raise errors.BadRequest(f'invalid resource version "{rv}"') from None
            self.backlog = [ev for ev in self.store.events_since(self.start_rv, req.rt.key)
                            if filt.in_scope(ev)]
        # Subscribing right after reading the backlog, with no await in between, makes
        # the two meet exactly at the current revision.
        self._unsubscribe = self.store.subscribe(self._on_event)

    def _on_event(self, ev: Event) -> None:
        # Events up to `start_rv` are in the initial list already: the store publishes
        # commits once durable, which may be after this watch read memory.
        if ev.revision > self.start_rv and self.filter.in_scope(ev):
            self.queue.put_nowait(ev)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def events(self) -> AsyncGenerator[list[WatchItem], None]:
        """Watch events until the timeout or the client leaves, in batches: whatever is
        queued when the watcher wakes goes out in one write (under load a watcher of all
        pods wakes to several events, and each write is a TLS record and a syscall)."""
        req, filt, serve = self.req, self.filter, self.serve
        try:
            last_rv = self.start_rv
            for start in range(0, len(self.initial), _INITIAL_BATCH):
                yield [WatchItem("ADDED", serve(obj))
                       for obj in self.initial[start:start + _INITIAL_BATCH]]
            if req.send_initial_events and req.allow_bookmarks:
                yield [_bookmark(req.rt, self.start_rv, initial_end=True)]
            backlog = [self._item(etype, ev) for ev in self.backlog
                       if (etype := filt.translate(ev))]
            if self.backlog:
                last_rv = self.backlog[-1].revision
            if backlog:
                yield backlog
            loop = asyncio.get_running_loop()
            deadline = loop.time() + req.timeout if req.timeout else None
            queue = self.queue
            while True:
                if queue.empty():
                    wait = req.bookmark_interval if req.allow_bookmarks else 3600.0
                    if deadline is not None:
                        wait = min(wait, deadline - loop.time())
                        if wait <= 0:
                            return
                    try:
                        ready = [await asyncio.wait_for(queue.get(), timeout=wait)]
                    except asyncio.TimeoutError:
                        if req.allow_bookmarks:
                            last_rv = max(last_rv, self.store.durable_revision)
                            yield [_bookmark(req.rt, last_rv)]
                        continue
                else:
                    ready = []
                while not queue.empty():
                    ready.append(queue.get_nowait())
                batch = []
                for ev in ready:
                    last_rv = ev.revision
                    etype = filt.translate(ev)
                    if etype:
                        batch.append(self._item(etype, ev))
                if batch:
                    yield batch
        finally:
            self.close()

    def _item(self, etype: str, ev: Event) -> WatchItem:
        served = self.serve(ev.obj)
        # The stored encoding can be sent as is when the watcher sees the stored form.
        data = ev.data if served is ev.obj else ""
        return WatchItem(etype, served, data)


def _bookmark(rt: ResourceType, revision: int, initial_end: bool = False) -> WatchItem:
    md: dict[str, Any] = {"resourceVersion": str(revision)}
    if initial_end:
        md["annotations"] = {INITIAL_EVENTS_END: "true"}
    return WatchItem("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version,
                                  "metadata": md})


def error_event(err: errors.APIError) -> WatchItem:
    return WatchItem("ERROR", err.status())
