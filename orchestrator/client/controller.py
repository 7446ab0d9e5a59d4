"""A controller declared as data: what it reconciles, what it owns, what else it watches,
how it observes and how it plans.

The builder owns the shell every controller used to repeat: the shared informers, the
handler that enqueues an owned object's controller (resolved through the primary's cache
and `is_controlled_by`, as kube's resolveControllerRef checks the uid), the opening of each
pass (get the object, nothing to do if it is gone or being deleted), the injected clock,
and the executor for the plan's actions (`orchestrator.client.actions`). A controller
writes `observe(client, obj)`, which only reads, and a pure `plan(obj, observed, now)`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Generic, Iterable, Protocol, TypeVar

from orchestrator.api import errors
from orchestrator.api.kinds import ResourceType
from orchestrator.api.selectors import format_label_selector
from orchestrator.api.workloads import controller_of, is_controlled_by
from orchestrator.client.actions import Action, Kind, execute
from orchestrator.client.api import Client
from orchestrator.client.events import EventRecorder
from orchestrator.client.informer import Informer, object_key
from orchestrator.client.reconcile import Result, run_controller
from orchestrator.client.workqueue import WorkQueue

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]
O = TypeVar("O")
# An extra watch's key mapping: (old, new, the primary informer) -> keys to reconcile.
KeyMap = Callable[[Obj | None, Obj | None, Informer], Iterable[Key]]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Watch:
    kind: Kind
    keys: KeyMap
    field_selector: str = ""  # watch only these (a ServiceAccount named `default`)


@dataclass(frozen=True)
class Declaration:
    """`name` for logs, `component` for Events; `owns`: kinds whose controller reference
    points at a primary (their changes enqueue it); `watches`: other kinds and how their
    changes map to primary keys."""

    name: str
    component: str
    primary: Kind
    owns: tuple[Kind, ...] = ()
    watches: tuple[Watch, ...] = ()
    # Most controllers leave a primary being deleted alone; a CronJob still keeps its
    # history and status then, so its plan sees the deletionTimestamp itself.
    skip_deleting: bool = True
    # Which primaries a primary's change concerns; by default its own key only (an
    # aggregating ClusterRole cares about every other role's change).
    primary_keys: KeyMap | None = None
    field_manager: str = ""


class Logic(Protocol[O]):
    def observe(self, client: Client, obj: Obj) -> Awaitable[O]: ...

    def plan(self, obj: Obj, observed: O, now: datetime) -> list[Action]: ...


def all_primaries(old: Obj | None, new: Obj | None, primaries: Informer) -> list[Key]:
    """A key mapping for a watch whose every change may concern every primary."""
    return list(primaries.cache)


async def list_owned(client: Client, kind: Kind, owner: Obj,
                     selector: Any = None) -> list[Obj]:
    """The objects of `kind` in the owner's namespace that it controls (by uid), narrowed by
    a label selector (a LabelSelector dict) first when one is given."""
    rt = client.resource(kind.api_version, kind.kind)
    label_selector = format_label_selector(selector) if selector is not None else ""
    items, _ = await client.list(rt, owner["metadata"].get("namespace"),
                                 label_selector=label_selector)
    uid = owner["metadata"]["uid"]
    return [o for o in items if is_controlled_by(o, uid)]


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


class Controller(Generic[O]):
    """The reconcile loop of one declared controller (a `Reconciler` for run_controller)."""

    def __init__(self, client: Client, declaration: Declaration, logic: Logic[O], *,
                 now: Callable[[], datetime] = utc_now, workers: int = 2) -> None:
        self.client = client
        self.declaration = declaration
        self.logic = logic
        self.now = now
        self.workers = workers
        self.rt: ResourceType = client.resource(declaration.primary.api_version,
                                                declaration.primary.kind)
        self.queue: WorkQueue[Key] = WorkQueue()
        self.recorder = EventRecorder(client, declaration.component)
        self.primaries = Informer.shared(client, self.rt)
        self.primaries.add_handler(self._on_primary)
        self.informers = [self.primaries]
        for kind in declaration.owns:
            informer = self._informer(kind)
            informer.add_handler(self._on_owned)
        for watch in declaration.watches:
            informer = self._informer(watch.kind, watch.field_selector)
            informer.add_handler(self._mapped(watch.keys))

    def _informer(self, kind: Kind, field_selector: str = "") -> Informer:
        informer = Informer.shared(self.client,
                                   self.client.resource(kind.api_version, kind.kind),
                                   field_selector=field_selector)
        if informer not in self.informers:
            self.informers.append(informer)
        return informer

    def _on_primary(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        if self.declaration.primary_keys is not None:
            for key in self.declaration.primary_keys(old, new, self.primaries):
                self.queue.add(key)
            return
        obj = new or old
        if obj is not None:
            self.queue.add(object_key(obj))

    def _on_owned(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        primary = self.declaration.primary
        for obj in (old, new):
            ref = controller_of(obj) if obj is not None else None
            if obj is None or ref is None or ref.get("kind") != primary.kind or \
                    _group(str(ref.get("apiVersion", ""))) != _group(primary.api_version):
                continue
            key = (obj["metadata"].get("namespace", ""), str(ref.get("name", "")))
            owner = self.primaries.cache.get(key)
            # An owner not (or no longer) cached is still looked at: the pass's opening
            # decides, and a gone owner may have pods to let go (`on_gone`). One of that
            # name with another uid is someone else's.
            if owner is None or is_controlled_by(obj, owner["metadata"].get("uid", "")):
                self.queue.add(key)

    def _mapped(self, keys: KeyMap) -> Callable[[str, Obj | None, Obj | None], None]:
        def handler(etype: str, old: Obj | None, new: Obj | None) -> None:
            for key in keys(old, new, self.primaries):
                self.queue.add(key)
        return handler

    async def on_gone(self, key: Key) -> None:
        """The primary of `key` no longer exists: nothing to do unless a controller holds
        something on its behalf (a finalizer on its pods)."""

    async def on_deleting(self, obj: Obj) -> None:
        """The primary is being deleted: nothing to do unless a controller must let go."""

    async def wait_ready(self) -> None:
        await asyncio.gather(*(i.wait_synced() for i in self.informers))

    async def run(self) -> None:
        await run_controller(self.declaration.name, self, self.queue, self.informers,
                             self.workers)

    async def reconcile(self, key: Key) -> Result | None:
        namespace, name = key
        try:
            obj = await self.client.get(self.rt, name, namespace)
        except errors.NotFound:
            await self.on_gone(key)
            return None
        if self.declaration.skip_deleting and obj["metadata"].get("deletionTimestamp"):
            await self.on_deleting(obj)
            return None
        observed = await self.logic.observe(self.client, obj)
        actions = self.logic.plan(obj, observed, self.now())
        return await execute(self.client, self.recorder, obj, self.declaration.primary,
                             actions, field_manager=self.declaration.field_manager)
