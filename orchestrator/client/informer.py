"""Informers: a list+watch mirror of one resource, with change handlers.

The mirror is level-based: after a 410 Gone or a broken stream it lists again and
replays the difference as events, so handlers never miss a change's final state.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from orchestrator.api import errors
from orchestrator.api.kinds import ResourceType
from orchestrator.client.api import Client

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
Handler = Callable[[str, dict[str, Any] | None, dict[str, Any] | None], None]


def object_key(obj: dict[str, Any]) -> Key:
    md = obj.get("metadata") or {}
    return (md.get("namespace", ""), md.get("name", ""))


class Informer:
    """Keeps `cache` equal to the server's objects of `rt`; calls handlers on changes.

    Handlers get (type, old, new): ADDED (None, new), MODIFIED (old, new), DELETED (old, None).
    They run in the event loop and must not block; controllers enqueue keys there.
    """

    def __init__(self, client: Client, rt: ResourceType, namespace: str | None = None, *,
                 label_selector: str = "", field_selector: str = "",
                 retry_delay: float = 0.5) -> None:
        self.client = client
        self.rt = rt
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.retry_delay = retry_delay
        self.cache: dict[Key, dict[str, Any]] = {}
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        self.resource_version = ""
        self._task: asyncio.Future[None] | None = None
        self._runners = 0

    @classmethod
    def shared(cls, client: Client, rt: ResourceType, namespace: str | None = None, *,
               label_selector: str = "", field_selector: str = "") -> "Informer":
        """One informer per (resource, scope, selectors) per client, as client-go's shared
        informer factory gives: every component watching pods shares one watch and one
        cache instead of each opening its own."""
        key = (rt.group, rt.version, rt.plural, namespace, label_selector, field_selector)
        informer = client.shared_informers.get(key)
        if not isinstance(informer, Informer):
            informer = cls(client, rt, namespace, label_selector=label_selector,
                           field_selector=field_selector)
            client.shared_informers[key] = informer
        return informer

    def add_handler(self, handler: Handler) -> None:
        """Handlers added after the first sync are told of what is already cached."""
        self._handlers.append(handler)
        if self.synced:
            for obj in list(self.cache.values()):
                handler("ADDED", None, obj)

    async def wait_synced(self) -> None:
        await self._synced.wait()

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.cache.get((namespace, name))

    def items(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return [o for (ns, _), o in self.cache.items() if namespace is None or ns == namespace]

    def _emit(self, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for handler in self._handlers:
            try:
                handler(etype, old, new)
            except Exception:
                log.exception("informer handler failed for %s", self.rt.plural)

    async def _relist(self) -> None:
        items, rv = await self.client.list(
            self.rt, self.namespace, label_selector=self.label_selector,
            field_selector=self.field_selector)
        fresh = {object_key(o): o for o in items}
        for key, old in list(self.cache.items()):
            if key not in fresh:
                del self.cache[key]
                self._emit("DELETED", old, None)
        for key, obj in fresh.items():
            previous = self.cache.get(key)
            self.cache[key] = obj
            if previous is None:
                self._emit("ADDED", None, obj)
            elif previous.get("metadata", {}).get("resourceVersion") != obj["metadata"].get(
                    "resourceVersion"):
                self._emit("MODIFIED", previous, obj)
        self.resource_version = rv
        self._synced.set()

    async def run(self) -> None:
        """Run the list+watch loop for as long as any caller of `run` is running: the
        loop is shared, and stops when the last of them is cancelled."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._loop())
        self._runners += 1
        try:
            await asyncio.shield(self._task)
        finally:
            self._runners -= 1
            if self._runners == 0 and not self._task.done():
                self._task.cancel()

    async def _loop(self) -> None:
        """List, then watch forever; relist whenever the watch cannot resume."""
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                async for ev in self.client.watch(
                    self.rt, self.namespace, resource_version=self.resource_version,
                    label_selector=self.label_selector, field_selector=self.field_selector,
                    timeout=300,
                ):
                    self._apply(ev.type, ev.object)
            except asyncio.CancelledError:
                raise
            except errors.Gone:
                need_list = True
            except Exception as exc:  # connection trouble: back off, then resume or relist
                log.debug("watch of %s interrupted: %s", self.rt.plural, exc)
                need_list = True
                await asyncio.sleep(self.retry_delay)

    def _apply(self, etype: str, obj: dict[str, Any]) -> None:
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.resource_version = rv
        if etype == "BOOKMARK":
            return
        key = object_key(obj)
        old = self.cache.get(key)
        if etype == "DELETED":
            self.cache.pop(key, None)
            self._emit("DELETED", old, None)
        else:
            self.cache[key] = obj
            self._emit("ADDED" if old is None else "MODIFIED", old, obj)
